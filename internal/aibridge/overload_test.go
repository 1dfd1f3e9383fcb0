package aibridge_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"gantry/internal/aibridge"
)

func TestCircuitBreaker(t *testing.T) {
	t.Parallel()
	const timeout = 400 * time.Millisecond
	h := newHarness(t, nil, func(c *aibridge.Config) {
		c.CircuitBreaker = aibridge.CircuitBreaker{Enabled: true, FailureThreshold: 2, Interval: time.Minute, Timeout: timeout, MaxRequests: 2}
	})
	mock := h.mocks["anthropic"]
	send := func(model string, upstreamStatus int) *http.Response {
		hdr := map[string]string{"X-Api-Key": tokenAlice}
		if upstreamStatus != 0 {
			hdr["X-Mock-Status"] = fmt.Sprint(upstreamStatus)
		}
		body := `{"model":"` + model + `","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", body, hdr)
		_ = readAll(t, resp.Body)
		return resp
	}
	requireRejected := func(model string) {
		t.Helper()
		before := len(mock.Requests())
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", `{"model":"`+model+`","max_tokens":8,"messages":[]}`, map[string]string{"X-Api-Key": tokenAlice})
		out := readAll(t, resp.Body)
		require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, out)
		require.Equal(t, "1", resp.Header.Get("Retry-After")) // whole seconds, at least 1
		require.Equal(t, "overloaded_error", gjson.Get(out, "error.type").Str)
		require.Equal(t, "circuit breaker is open", gjson.Get(out, "error.message").Str)
		require.Len(t, mock.Requests(), before, "an open breaker must not call the upstream")
	}

	// closed -> open after two consecutive 429/529.
	require.Equal(t, http.StatusTooManyRequests, send("model-a", 429).StatusCode)
	require.Equal(t, 529, send("model-a", 529).StatusCode)
	requireRejected("model-a")
	// Another model on the same route is unaffected.
	require.Equal(t, http.StatusOK, send("model-b", 0).StatusCode)
	// A 500 is not a breaker failure.
	require.Equal(t, http.StatusInternalServerError, send("model-b", 500).StatusCode)
	require.Equal(t, http.StatusInternalServerError, send("model-b", 500).StatusCode)
	require.Equal(t, http.StatusOK, send("model-b", 0).StatusCode)

	// open -> half-open after the timeout; two successes close it.
	time.Sleep(timeout + 50*time.Millisecond)
	require.Equal(t, http.StatusOK, send("model-a", 0).StatusCode)
	require.Equal(t, http.StatusOK, send("model-a", 0).StatusCode)
	require.Equal(t, http.StatusOK, send("model-a", 0).StatusCode) // closed

	// Trip again; half-open -> open on a failure.
	require.Equal(t, http.StatusServiceUnavailable, send("model-a", 503).StatusCode)
	require.Equal(t, http.StatusGatewayTimeout, send("model-a", 504).StatusCode)
	requireRejected("model-a")
	time.Sleep(timeout + 50*time.Millisecond)
	require.Equal(t, http.StatusTooManyRequests, send("model-a", 429).StatusCode)
	requireRejected("model-a")

	// Every request, rejected or not, is an ended interception.
	recs := h.waitEnded(t, 15)
	require.Len(t, recs, 15)
	trips, _ := metricValue(t, h, "gantry_aibridge_circuit_breaker_trips_total", map[string]string{"model": "model-a"})
	require.EqualValues(t, 3, trips)
	rejects, _ := metricValue(t, h, "gantry_aibridge_circuit_breaker_rejects_total", map[string]string{"model": "model-a"})
	require.EqualValues(t, 3, rejects)
	state, _ := metricValue(t, h, "gantry_aibridge_circuit_breaker_state", map[string]string{"model": "model-a", "endpoint": "/v1/messages"})
	require.EqualValues(t, 1, state)
}

func TestMaxConcurrency(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *aibridge.Config) { c.MaxConcurrency = 2 })
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	// Two slow streams hold both slots until the test ends.
	var held []io.Closer
	defer func() {
		for _, body := range held {
			_ = body.Close()
		}
	}()
	for range 2 {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url("/api/v2/aibridge/anthropic/v1/messages"), strings.NewReader(fmt.Sprintf(messagesBody, true)))
		require.NoError(t, err)
		req.Header.Set("X-Api-Key", tokenAlice)
		req.Header.Set("X-Mock-Chunks", "100")
		req.Header.Set("X-Mock-Chunk-Interval-Ms", "50")
		resp, err := h.client.Do(req)
		require.NoError(t, err)
		held = append(held, resp.Body)
		_, err = bufio.NewReader(resp.Body).ReadString('\n')
		require.NoError(t, err)
	}
	// The third gets a 503 the SDK understands as Anthropic's own.
	_, err := h.anthropicClient().Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "claude-mock-1", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("third"))},
	})
	var apiErr *anthropic.Error
	require.ErrorAs(t, err, &apiErr)
	require.Equal(t, http.StatusServiceUnavailable, apiErr.StatusCode)
	require.Equal(t, "overloaded_error", gjson.Get(apiErr.RawJSON(), "error.type").Str)
	// Passthrough routes are not counted.
	resp := h.do(t, http.MethodGet, "/api/v2/aibridge/anthropic/v1/models", "", map[string]string{"X-Api-Key": tokenAlice})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	cancel()
	require.Eventually(t, func() bool { return h.gw.Active() == 0 }, 5*time.Second, 10*time.Millisecond)
	_, err = h.anthropicClient(aoption.WithHeader("X-Mock-Scenario", "")).Messages.New(t.Context(), anthropic.MessageNewParams{
		Model: "claude-mock-1", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("after"))},
	})
	require.NoError(t, err)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *aibridge.Config) { c.RateLimit = 2 })
	client := h.openaiClient()
	params := openai.ChatCompletionNewParams{Model: "gpt-mock", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi")}}
	var ok, limited int
	start := time.Now()
	for range 8 {
		_, err := client.Chat.Completions.New(t.Context(), params)
		if err == nil {
			ok++
			continue
		}
		var apiErr *openai.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusTooManyRequests, apiErr.StatusCode)
		require.Equal(t, "rate_limit_exceeded", apiErr.Code)
		require.Equal(t, "1", apiErr.Response.Header.Get("Retry-After"))
		limited++
	}
	seconds := int(time.Since(start)/time.Second) + 1
	require.LessOrEqual(t, ok, 2*(seconds+1), "at most 2 requests per started second")
	require.Positive(t, limited)
	// Passthrough and other tokens are not limited.
	resp := h.do(t, http.MethodGet, "/api/v2/aibridge/openai/v1/models", "", map[string]string{"Authorization": "Bearer " + tokenAlice})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	resp = h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions", `{"model":"gpt-mock","messages":[]}`, map[string]string{"Authorization": "Bearer " + tokenBob})
	require.Equal(t, http.StatusOK, resp.StatusCode)
}
