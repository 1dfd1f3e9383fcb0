package aibridge_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
)

// TestGracefulShutdown: Close during 20 open streams lets the streams that
// finish within the grace period complete intact, ends the rest cleanly, and
// leaves all 20 interceptions ended with their usage recorded.
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	type result struct {
		long     bool
		complete bool
		body     string
	}
	results := make(chan result, 20)
	var wg sync.WaitGroup
	for i := range 20 {
		long := i%2 == 1
		wg.Go(func() {
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.url("/api/v2/aibridge/anthropic/v1/messages"),
				strings.NewReader(fmt.Sprintf(messagesBody, true)))
			req.Header.Set("X-Api-Key", tokenAlice)
			req.Header.Set("X-Mock-Chunk-Interval-Ms", "20")
			if long {
				req.Header.Set("X-Mock-Chunks", "500") // ~10 s: cut by the shutdown
			} else {
				req.Header.Set("X-Mock-Chunks", "10") // ~200 ms: finishes in the grace period
			}
			resp, err := h.client.Do(req)
			if err != nil {
				results <- result{long: long}
				return
			}
			b, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			results <- result{long: long, complete: strings.Contains(string(b), "event: message_stop"), body: string(b)}
		})
	}
	require.Eventually(t, func() bool { return h.gw.Active() == 20 }, 10*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), time.Second)
	defer cancel()
	start := time.Now()
	require.NoError(t, h.gw.Close(ctx))
	require.Less(t, time.Since(start), 8*time.Second)
	wg.Wait()
	close(results)
	for r := range results {
		if !r.long {
			require.True(t, r.complete, "a short stream was cut: %s", r.body)
			continue
		}
		require.False(t, r.complete)
		// The cut stream ends with a provider-shaped error event.
		require.Contains(t, r.body, "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"server closed\"}}")
	}
	// Close flushed everything: no waiting needed.
	all := h.rec.all()
	require.Len(t, all, 20)
	for _, r := range all {
		require.NotNil(t, r.ended)
		require.Len(t, r.usages, 1, "every stream reported message_start usage")
	}
	require.Zero(t, h.gw.RecorderStats().Dropped)
	// New requests are refused after Close.
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false), map[string]string{"X-Api-Key": tokenAlice})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode)
}

func TestCopilotUsesCallersToken(t *testing.T) {
	t.Parallel()
	h := newHarness(t, []aibridge.Provider{{Name: "copilot", Type: aibridge.TypeCopilot, Key: "never-sent"}}, nil)
	body := `{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}`
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/copilot/chat/completions", body, map[string]string{
		aibridge.GovernanceTokenHeader: tokenAlice, "Authorization": "Bearer ghu_users_copilot_token",
		"Editor-Version": "vscode/1.99", "Copilot-Integration-Id": "vscode-chat",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp.Body))
	up := lastRequest(t, h.mocks["copilot"])
	require.Equal(t, "/chat/completions", up.Path)
	require.Equal(t, "Bearer ghu_users_copilot_token", up.Header.Get("Authorization"))
	require.Equal(t, "vscode/1.99", up.Header.Get("Editor-Version"))
	require.Equal(t, "vscode-chat", up.Header.Get("Copilot-Integration-Id"))
	require.Empty(t, up.Header.Get(aibridge.GovernanceTokenHeader))
	// Without its own token, a Copilot call cannot go anywhere.
	resp = h.do(t, http.MethodPost, "/api/v2/aibridge/copilot/chat/completions", body, map[string]string{"Authorization": "Bearer " + tokenAlice})
	require.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	require.Len(t, h.mocks["copilot"].Requests(), 1)
	h.waitEnded(t, 1)
}

func TestResponsesBackgroundRejected(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/responses", `{"model":"gpt-mock","input":"hi","background":true}`,
		map[string]string{"Authorization": "Bearer " + tokenAlice})
	require.Equal(t, http.StatusNotImplemented, resp.StatusCode)
	require.Empty(t, h.mocks["openai"].Requests())
}

func TestBlockingTimeout(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *aibridge.Config) { c.BlockingTimeout = 300 * time.Millisecond })
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions", `{"model":"gpt-mock","messages":[]}`,
		map[string]string{"Authorization": "Bearer " + tokenAlice, "X-Mock-Scenario": "hang_before"})
	out := readAll(t, resp.Body)
	require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode, out)
	recs := h.waitEnded(t, 1)
	require.Len(t, recs, 1)
	require.Empty(t, recs[0].usages)
}
