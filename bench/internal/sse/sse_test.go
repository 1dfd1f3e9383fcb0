package sse_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/sse"
	"gantry/internal/aibridge/mockupstream"
)

func TestIsContent(t *testing.T) {
	t.Parallel()
	require.True(t, sse.IsContent("content_block_delta", []byte(`{}`)))
	require.True(t, sse.IsContent("response.output_text.delta", []byte(`{}`)))
	require.False(t, sse.IsContent("message_start", []byte(`{"content":"x"}`)))
	require.False(t, sse.IsContent("response.completed", nil))
	require.True(t, sse.IsContent("", []byte(`{"choices":[{"delta":{"content":"hi"}}]}`)))
	require.False(t, sse.IsContent("", []byte(`{"choices":[{"delta":{"role":"assistant","content":""}}]}`)))
	require.True(t, sse.IsContent("", []byte(`{"choices":[{"delta":{"tool_calls":[{"function":{"arguments":"{\""}}]}}]}`)))
	require.False(t, sse.IsContent("", []byte(`[DONE]`)))
}

func TestDoTimesPacedStream(t *testing.T) {
	t.Parallel()
	const gap = 15 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		_, _ = fmt.Fprint(w, "event: message_start\ndata: {\"type\":\"message_start\"}\n\n")
		f.Flush()
		for i := range 4 {
			time.Sleep(gap)
			// Split data across two lines once, and use CRLF once.
			if i == 1 {
				_, _ = fmt.Fprint(w, "event: content_block_delta\r\ndata: {\"a\":\r\ndata: 1}\r\n\r\n")
			} else {
				_, _ = fmt.Fprintf(w, "event: content_block_delta\ndata: {\"i\":%d}\n\n", i)
			}
			f.Flush()
		}
		_, _ = fmt.Fprint(w, "event: message_delta\ndata: {\"usage\":{\"output_tokens\":4}}\n\n")
	}))
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
	require.NoError(t, err)
	firsts := 0
	tr, err := sse.Do(t.Context(), srv.Client(), req, func() { firsts++ })
	require.NoError(t, err)
	require.Equal(t, 1, firsts)
	require.Equal(t, 200, tr.Status)
	require.Len(t, tr.Events, 6)
	require.Len(t, tr.Content, 4)
	require.GreaterOrEqual(t, tr.FirstContent, gap)
	require.Greater(t, tr.FirstContent, tr.Headers)
	require.GreaterOrEqual(t, tr.End, tr.Content[3])
	require.JSONEq(t, `{"usage":{"output_tokens":4}}`, string(tr.Usage))
	gaps := tr.Gaps()
	require.Len(t, gaps, 3)
	for _, g := range gaps {
		// Paced by the server, so never collapsed to ~0 (no buffering).
		require.Greater(t, g, gap/2)
	}
}

func TestDoNonStreamError(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusTooManyRequests)
		_, _ = fmt.Fprint(w, `{"error":{"type":"rate_limit_error"}}`)
	}))
	t.Cleanup(srv.Close)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
	require.NoError(t, err)
	tr, err := sse.Do(t.Context(), srv.Client(), req, nil)
	require.NoError(t, err)
	require.Equal(t, http.StatusTooManyRequests, tr.Status)
	require.Contains(t, string(tr.Body), "rate_limit_error")
	require.Empty(t, tr.Events)
	require.Nil(t, tr.Gaps())
}

// TestDoTransit: each stamped content event's transit is its arrival minus
// the stamp; an event held 20 ms after it was stamped shows it, unstamped
// events are not counted.
func TestDoTransit(t *testing.T) {
	t.Parallel()
	const held = 20 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for i := range 3 {
			stamp := string(mockupstream.AppendStamp(nil, time.Now()))
			if i == 1 {
				time.Sleep(held) // stamped, then held back
			}
			_, _ = fmt.Fprintf(w, "event: content_block_delta\ndata: {\"delta\":{\"text\":\"%slorem\"}}\n\n", stamp)
			f.Flush()
		}
		_, _ = fmt.Fprint(w, "event: content_block_delta\ndata: {\"delta\":{\"text\":\"no stamp\"}}\n\n")
	}))
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, srv.URL, nil)
	require.NoError(t, err)
	tr, err := sse.Do(t.Context(), srv.Client(), req, nil)
	require.NoError(t, err)
	require.Len(t, tr.Content, 4)
	require.Len(t, tr.Transit, 3, "only stamped events have a transit time")
	require.GreaterOrEqual(t, tr.Transit[1], held)
	for _, i := range []int{0, 2} {
		require.GreaterOrEqual(t, tr.Transit[i], time.Duration(0))
		require.Less(t, tr.Transit[i], held, "event %d was sent at once", i)
	}
}
