package aibridge_test

import (
	"context"
	"errors"
	"fmt"
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
	m := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{Chunks: 1, ChunkBytes: 4, BodyBytes: 64, Status: http.StatusOK}})
	base := m.Start()
	t.Cleanup(m.Close)
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{
			Providers: []aibridge.Provider{{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k", BaseURL: base}},
			Recorder:  aibridge.RecorderConfig{QueueSize: 4, EnqueueTimeout: 50 * time.Millisecond, WriteTimeout: 2 * time.Second},
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

// TestRecorderOverflow: a stalled database never holds requests for long;
// the bounded queue overflows by dropping (and counting) records, and what
// was queued is written once the database recovers.
func TestRecorderOverflow(t *testing.T) {
	t.Parallel()
	w := &blockingWriter{release: make(chan struct{})}
	gw, url := newRecorderGateway(t, w)
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	start := time.Now()
	sendMessages(t, &http.Client{Transport: tr}, url, 10)
	// 10 requests, each waiting at most 50 ms per record for queue room.
	require.Less(t, time.Since(start), 10*2*50*time.Millisecond+2*time.Second)
	st := gw.RecorderStats()
	require.Positive(t, st.Dropped)
	require.LessOrEqual(t, st.Queued, 4)
	close(w.release)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	require.NoError(t, gw.Close(ctx))
	st = gw.RecorderStats()
	require.Equal(t, st.WrittenRows, w.rows.Load())
	require.Positive(t, st.WrittenRows)
	require.EqualValues(t, 20, st.Enqueued+st.Dropped, "every start and final was either queued or dropped")
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
