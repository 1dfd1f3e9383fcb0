package aibridge_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/store"
)

// blockingWriter stalls every write until released, like a database that
// stopped answering.
type blockingWriter struct {
	release chan struct{}
	rows    atomic.Int64
	fail    bool
}

func (w *blockingWriter) InsertAIBridgeBatch(ctx context.Context, b store.AIBridgeBatch) error {
	if w.fail {
		return errors.New("database is down")
	}
	select {
	case <-w.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	w.rows.Add(int64(b.Len()))
	return nil
}

func newRecorderGateway(t *testing.T, w aibridge.BatchWriter) (*aibridge.Gateway, string) {
	t.Helper()
	return newRecorderGatewayWith(t, w, aibridge.RecorderConfig{QueueSize: 4, EnqueueTimeout: 50 * time.Millisecond, WriteTimeout: 2 * time.Second})
}

func newRecorderGatewayWith(t *testing.T, w aibridge.BatchWriter, rc aibridge.RecorderConfig) (*aibridge.Gateway, string) {
	t.Helper()
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 1, ChunkBytes: 4, BodyBytes: 64, Status: http.StatusOK}})
	base := m.Start()
	t.Cleanup(m.Close)
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{
			Providers: []aibridge.Provider{{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k", BaseURL: base}},
			Recorder:  rc,
		},
		Auth:   staticAuth,
		Store:  w,
		Logger: slog.New(slog.DiscardHandler),
	})
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return gw, srv.URL
}

func sendMessages(t *testing.T, client *http.Client, url string, n int) {
	t.Helper()
	for range n {
		req, _ := http.NewRequestWithContext(t.Context(), http.MethodPost, url+"/api/v2/aibridge/anthropic/v1/messages",
			strings.NewReader(fmt.Sprintf(messagesBody, false)))
		req.Header.Set("X-Api-Key", tokenAlice)
		resp, err := client.Do(req)
		require.NoError(t, err)
		_ = readAll(t, resp.Body)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
}

// TestRecorderOverflow: a stalled database holds a request at most
// EnqueueTimeout per record; past that the bounded queue overflows by
// dropping (and counting) records, and what was queued is written once the
// database recovers.
func TestRecorderOverflow(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	gw, url := newRecorderGateway(t, w)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	// The writer lingers a few milliseconds to batch, so the first requests
	// may all fit into the batch it then blocks on; keep sending until the
	// queue overflows (bounded: 100 requests).
	sent := 0
	for sent < 100 && gw.RecorderStats().Dropped == 0 {
		start := time.Now()
		sendMessages(t, client, url, 1)
		sent++
		// Each of the request's two records waits at most 50 ms for room.
		require.Less(t, time.Since(start), 2*50*time.Millisecond+time.Second)
	}
	st := gw.RecorderStats()
	require.Positive(t, st.Dropped, "the queue never overflowed in %d requests", sent)
	require.LessOrEqual(t, st.Queued, 4)
	close(w.release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, gw.Close(ctx))
	st = gw.RecorderStats()
	require.Equal(t, st.WrittenRows, w.rows.Load())
	require.Positive(t, st.WrittenRows)
	require.EqualValues(t, 2*sent, st.Enqueued+st.Dropped, "every start and final was either queued or dropped")
}

// TestRecorderStoreDown: failing writes are retried, then dropped and
// counted; requests keep being served.
func TestRecorderStoreDown(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{fail: true}
	gw, url := newRecorderGateway(t, w)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	sendMessages(t, &http.Client{Transport: tr}, url, 3)
	require.Eventually(t, func() bool { return gw.RecorderStats().FailedBatches > 0 }, 10*time.Second, 20*time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, gw.Close(ctx))
	require.Zero(t, gw.RecorderStats().WrittenRows)
}

// slowWriter is a working database slower than the request rate.
type slowWriter struct {
	delay        time.Duration
	rows, starts atomic.Int64
}

func (w *slowWriter) InsertAIBridgeBatch(ctx context.Context, b store.AIBridgeBatch) error {
	select {
	case <-time.After(w.delay):
	case <-ctx.Done():
		return ctx.Err()
	}
	w.rows.Add(int64(b.Len()))
	w.starts.Add(int64(len(b.Interceptions)))
	return nil
}

// TestRecorderBackpressure: while the database is up, a full queue makes
// requests wait for room instead of dropping records; every request is
// recorded and memory stays within the queue bound.
func TestRecorderBackpressure(t *testing.T) {
	t.Parallel()
	w := &slowWriter{delay: 250 * time.Millisecond} // longer than the old 200 ms drop deadline
	gw, url := newRecorderGatewayWith(t, w, aibridge.RecorderConfig{QueueSize: 2, MaxBatch: 8, WriteTimeout: 2 * time.Second})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	const workers, each = 6, 4
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	errs := make(chan error, workers)
	for range workers {
		go func() {
			var err error
			for range each {
				if err = postMessages(t.Context(), client, url); err != nil {
					break
				}
			}
			errs <- err
		}()
	}
	for range workers {
		select {
		case err := <-errs:
			require.NoError(t, err)
		case <-time.After(30 * time.Second):
			t.Fatal("requests did not finish")
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.NoError(t, gw.Close(ctx))
	st := gw.RecorderStats()
	require.Zero(t, st.Dropped)
	require.EqualValues(t, 2*workers*each, st.Enqueued)
	require.EqualValues(t, workers*each, w.starts.Load(), "every request recorded")
	require.Equal(t, st.WrittenRows, w.rows.Load())
}

// postMessages sends one Messages request; safe outside the test goroutine.
func postMessages(ctx context.Context, client *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/api/v2/aibridge/anthropic/v1/messages",
		strings.NewReader(fmt.Sprintf(messagesBody, false)))
	if err != nil {
		return err
	}
	req.Header.Set("X-Api-Key", tokenAlice)
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}
