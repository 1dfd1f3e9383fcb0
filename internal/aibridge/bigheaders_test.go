package aibridge_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
)

// The upstream connection buffers are small (2 KiB) to keep open streams
// cheap; response header lines and SSE events longer than that still pass
// through whole.
func TestLongUpstreamHeadersAndEvents(t *testing.T) {
	t.Parallel()
	longHeader := strings.Repeat("h", 6000)
	longDelta := strings.Repeat("d", 9000)
	events := "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n" +
		"event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"" + longDelta + "\"}}\n\n" +
		"event: message_delta\ndata: {\"type\":\"message_delta\",\"usage\":{\"output_tokens\":7}}\n\n" +
		"event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("X-Long", longHeader)
		for i := range 8 {
			w.Header().Add("X-Many", strings.Repeat(string(rune('a'+i)), 500))
		}
		_, _ = io.WriteString(w, events)
	}))
	t.Cleanup(up.Close)
	h := newHarness(t, []aibridge.Provider{{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k", BaseURL: up.URL}}, nil)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, h.url("/api/v2/aibridge/anthropic/v1/messages"),
		strings.NewReader(`{"model":"m","max_tokens":8,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", tokenAlice)
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", body)
	require.Equal(t, longHeader, resp.Header.Get("X-Long"))
	require.Len(t, resp.Header.Values("X-Many"), 8)
	require.Equal(t, events, string(body), "every event relayed byte for byte")

	recs := h.waitEnded(t, 1)
	require.Len(t, recs, 1)
	require.Len(t, recs[0].usages, 1)
	require.EqualValues(t, 7, recs[0].usages[0].OutputTokens)
}
