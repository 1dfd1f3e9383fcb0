package floor_test

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/floor"
)

func TestFloorSwapsTokenAndStreams(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Seen-Auth", r.Header.Get("Authorization"))
		w.Header().Set("X-Seen-Path", r.URL.RequestURI())
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = fmt.Fprint(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		// The second event waits until the client has seen the first: a
		// buffering proxy would deadlock here (bounded by the timeout).
		select {
		case <-release:
		case <-time.After(5 * time.Second):
		}
		_, _ = fmt.Fprint(w, "data: two\n\n")
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL + "/base")
	require.NoError(t, err)
	px := httptest.NewServer(floor.New(u, "sk-upstream", 8))
	t.Cleanup(px.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, px.URL+"/v1/chat?x=1", strings.NewReader("{}"))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer user-token")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, "Bearer sk-upstream", resp.Header.Get("X-Seen-Auth"))
	require.Equal(t, "/base/v1/chat?x=1", resp.Header.Get("X-Seen-Path"))

	br := bufio.NewReader(resp.Body)
	line, err := br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: one\n", line)
	close(release)
	_, _ = br.ReadString('\n')
	line, err = br.ReadString('\n')
	require.NoError(t, err)
	require.Equal(t, "data: two\n", line)
}

// A keep-alive client streaming through the floor must get every SSE
// response whole (regression: see the comment in New).
func TestFloorKeepAliveStreamsComplete(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for _, ev := range []string{"data: zero\n\n", "data: one\n\n"} {
			_, _ = fmt.Fprint(w, ev)
			w.(http.Flusher).Flush()
		}
		select {
		case <-time.After(10 * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		_, _ = fmt.Fprint(w, "data: [DONE]\n\n")
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	px := httptest.NewServer(floor.New(u, "k", 8))
	t.Cleanup(px.Close)
	c := px.Client()
	failed := 0
	for range 100 {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, px.URL+"/v1/chat/completions", strings.NewReader(`{"stream":true}`))
		require.NoError(t, err)
		resp, err := c.Do(req)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil || !strings.Contains(string(b), "[DONE]") {
			failed++
		}
	}
	require.Zero(t, failed, "streams cut short")
}

// The floor reports its own pre-upstream time like gantry does, for the
// self-reported vs black-box comparison.
func TestFloorServerTiming(t *testing.T) {
	t.Parallel()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		_, _ = fmt.Fprint(w, "{}")
	}))
	t.Cleanup(up.Close)
	u, err := url.Parse(up.URL)
	require.NoError(t, err)
	px := httptest.NewServer(floor.New(u, "k", 8))
	t.Cleanup(px.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, px.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m"}`))
	require.NoError(t, err)
	resp, err := px.Client().Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	st := resp.Header.Get("Server-Timing")
	require.True(t, strings.HasPrefix(st, floor.ServerTimingName+";dur="), st)
	ms, err := strconv.ParseFloat(strings.TrimPrefix(st, floor.ServerTimingName+";dur="), 64)
	require.NoError(t, err)
	require.GreaterOrEqual(t, ms, 0.0)
	require.Less(t, ms, 5000.0)
}
