package aibridge_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
)

const messagesBody = `{"model":"claude-mock-1","max_tokens":64,"stream":%t,"messages":[{"role":"user","content":"hi"}]}`

// do sends a raw request through the gateway.
func (h *harness) do(t *testing.T, method, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, h.url(path), strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := h.client.Do(req)
	require.NoError(t, err)
	t.Cleanup(func() { _ = resp.Body.Close() })
	return resp
}

func readAll(t *testing.T, r io.Reader) string {
	t.Helper()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return string(b)
}

func TestRouting(t *testing.T) {
	t.Parallel()
	h := newHarness(t, []aibridge.Provider{
		{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k1"},
		{Name: "openai", Type: aibridge.TypeOpenAI, Key: "k2"},
	}, nil)
	auth := map[string]string{"X-Api-Key": tokenAlice}
	cases := []struct {
		name, method, path string
		status             int
		upstreamPath       string // "" = must not reach the upstream
		mock               string
	}{
		{"AnthropicModels", http.MethodGet, "/api/v2/aibridge/anthropic/v1/models", 200, "/v1/models", "anthropic"},
		{"AnthropicModel", http.MethodGet, "/api/v2/aibridge/anthropic/v1/models/claude-x", 200, "/v1/models/claude-x", "anthropic"},
		{"AnthropicCountTokens", http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages/count_tokens", 200, "/v1/messages/count_tokens", "anthropic"},
		{"OpenAIModels", http.MethodGet, "/api/v2/aibridge/openai/v1/models", 200, "/v1/models", "openai"},
		{"OpenAIResponseGet", http.MethodGet, "/api/v2/aibridge/openai/v1/responses/resp_1", 200, "/v1/responses/resp_1", "openai"},
		{"AnthropicGetMessages", http.MethodGet, "/api/v2/aibridge/anthropic/v1/messages", 404, "", ""},
		{"OpenAILegacyCompletions", http.MethodPost, "/api/v2/aibridge/openai/v1/completions", 404, "", ""},
		{"OpenAIWithoutV1", http.MethodPost, "/api/v2/aibridge/openai/chat/completions", 404, "", ""},
		{"UnknownProvider", http.MethodPost, "/api/v2/aibridge/nope/v1/messages", 404, "", ""},
		{"AnthropicOther", http.MethodPost, "/api/v2/aibridge/anthropic/v1/complete", 404, "", ""},
		{"ResponsesGet", http.MethodGet, "/api/v2/aibridge/openai/v1/responses", 404, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := h.do(t, tc.method, tc.path+"?beta=true", `{"model":"m","messages":[]}`, auth)
			body := readAll(t, resp.Body)
			require.Equal(t, tc.status, resp.StatusCode, body)
			if tc.status == http.StatusNotFound {
				want := "route not supported: " + tc.method + " " + tc.path
				require.Contains(t, []string{gjson.Get(body, "error.message").Str}, want, body)
				return
			}
			up := lastRequest(t, h.mocks[tc.mock])
			require.Equal(t, tc.upstreamPath, up.Path)
			require.Equal(t, "beta=true", up.RawQuery)
		})
	}
}

// TestResponsesWebSocket: Codex's WebSocket attempt gets 426 so it falls
// back to HTTP at once.
func TestResponsesWebSocket(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	resp := h.do(t, http.MethodGet, "/api/v2/aibridge/openai/v1/responses", "", map[string]string{
		"Authorization": "Bearer " + tokenAlice, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
	})
	out := readAll(t, resp.Body)
	require.Equal(t, http.StatusUpgradeRequired, resp.StatusCode, out)
	require.Equal(t, "websocket_not_supported", gjson.Get(out, "error.code").Str)
	require.Empty(t, h.mocks["openai"].Requests())
}

func TestAuthentication(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	body := fmt.Sprintf(messagesBody, false)
	t.Run("Missing", func(t *testing.T) {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", body, nil)
		out := readAll(t, resp.Body)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode)
		require.Equal(t, "error", gjson.Get(out, "type").Str)
		require.Equal(t, "no authentication key provided", gjson.Get(out, "error.message").Str)
	})
	t.Run("Invalid", func(t *testing.T) {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions", `{"model":"m"}`, map[string]string{"Authorization": "Bearer nope"})
		out := readAll(t, resp.Body)
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
		require.Equal(t, "unauthorized", gjson.Get(out, "error.message").Str, out)
	})
	t.Run("BYOKDisabled", func(t *testing.T) {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", body, map[string]string{
			aibridge.GovernanceTokenHeader: tokenAlice, "X-Api-Key": "sk-users-own",
		})
		require.Equal(t, http.StatusForbidden, resp.StatusCode)
	})
	require.Empty(t, h.mocks["anthropic"].Requests())
	require.Empty(t, h.mocks["openai"].Requests())
}

func TestBYOK(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *aibridge.Config) { c.AllowBYOK = true })
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false), map[string]string{
		aibridge.GovernanceTokenHeader: tokenAlice, "X-Api-Key": "sk-users-own",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp.Body))
	up := lastRequest(t, h.mocks["anthropic"])
	require.Equal(t, "sk-users-own", up.Header.Get("X-Api-Key"))
	require.Empty(t, up.Header.Get(aibridge.GovernanceTokenHeader))
	recs := h.waitEnded(t, 1)
	require.Equal(t, "byok", gjson.GetBytes(recs[0].ic.Metadata, "credential_kind").Str)
}

func TestMalformedJSON(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	for _, body := range []string{"", "{", "[1,2]", `"x"`, `{"model":`} {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", body, map[string]string{"X-Api-Key": tokenAlice})
		out := readAll(t, resp.Body)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		require.Equal(t, "invalid_request_error", gjson.Get(out, "error.type").Str)
		resp = h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions", body, map[string]string{"Authorization": "Bearer " + tokenAlice})
		out = readAll(t, resp.Body)
		require.Equal(t, http.StatusBadRequest, resp.StatusCode, body)
		require.NotEmpty(t, gjson.Get(out, "error.message").Str)
	}
	h.flush(t)
	require.Empty(t, h.rec.all(), "a rejected body is not an interception")
	require.Empty(t, h.mocks["anthropic"].Requests())
}

// TestHeaderForwarding: end-to-end headers reach the upstream byte for byte;
// gantry credentials, cookies and hop-by-hop headers do not.
func TestHeaderForwarding(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, func(c *aibridge.Config) { c.SendActorHeaders = true })
	beta := "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages?beta=true", fmt.Sprintf(messagesBody, true), map[string]string{
		"Authorization":            "Bearer " + tokenAlice,
		"Anthropic-Beta":           beta,
		"Anthropic-Version":        "2023-06-01",
		"User-Agent":               "claude-cli/2.0.1 (external, cli)",
		"X-Claude-Code-Session-Id": " session-42 ",
		"Coder-Session-Token":      tokenAlice,
		"Cookie":                   "coder_session_token=" + tokenAlice,
		"Connection":               "X-Drop-Me",
		"X-Drop-Me":                "1",
		"X-Custom":                 "kept",
	})
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	require.NotEmpty(t, resp.Header.Get(aibridge.InterceptionIDHeader))
	_ = readAll(t, resp.Body)
	up := lastRequest(t, h.mocks["anthropic"])
	require.Equal(t, "beta=true", up.RawQuery)
	require.Equal(t, []string{beta}, up.Header.Values("Anthropic-Beta"))
	require.Equal(t, "2023-06-01", up.Header.Get("Anthropic-Version"))
	require.Equal(t, "kept", up.Header.Get("X-Custom"))
	require.Equal(t, "sk-ant-central", up.Header.Get("X-Api-Key"))
	require.Equal(t, aliceID.String(), up.Header.Get("X-AI-Bridge-Actor-ID"))
	require.Equal(t, "alice", up.Header.Get("X-AI-Bridge-Actor-Metadata-Username"))
	for k, vv := range up.Header {
		for _, v := range vv {
			require.NotContains(t, v, tokenAlice, "header %s leaks the gantry token", k)
		}
	}
	require.Empty(t, up.Header.Get("Cookie"))
	require.Empty(t, up.Header.Get("X-Drop-Me"))
	recs := h.waitEnded(t, 1)
	require.Equal(t, aibridge.ClientClaudeCode, recs[0].ic.Client)
	require.Equal(t, "session-42", recs[0].ic.ClientSessionID)
	require.Equal(t, "claude-cli/2.0.1 (external, cli)", recs[0].ic.UserAgent)
}

// TestThreeProvidersOfOneType: instances are routed by name; each upstream
// sees only its own key and never a gantry token.
func TestThreeProvidersOfOneType(t *testing.T) {
	t.Parallel()
	names := []string{"openai", "azure-east", "local-llm"}
	var provs []aibridge.Provider
	for _, n := range names {
		provs = append(provs, aibridge.Provider{Name: n, Type: aibridge.TypeOpenAI, Key: "key-for-" + n})
	}
	h := newHarness(t, provs, nil)
	for i := range 2 {
		for _, n := range names {
			resp := h.do(t, http.MethodPost, "/api/v2/aibridge/"+n+"/v1/chat/completions",
				`{"model":"gpt-`+n+`","messages":[{"role":"user","content":"hi"}]}`,
				map[string]string{"Authorization": "Bearer " + tokenBob})
			require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp.Body))
			_ = i
		}
	}
	for _, n := range names {
		reqs := h.mocks[n].Requests()
		require.Len(t, reqs, 2, n)
		for _, r := range reqs {
			require.Equal(t, "Bearer key-for-"+n, r.Header.Get("Authorization"))
			require.Equal(t, "gpt-"+n, r.Model)
			for _, vv := range r.Header {
				for _, v := range vv {
					require.NotContains(t, v, tokenBob)
				}
			}
		}
	}
	recs := h.waitEnded(t, 6)
	byName := map[string]int{}
	for _, r := range recs {
		byName[r.ic.ProviderName]++
		require.Equal(t, "openai", r.ic.Provider)
		require.Equal(t, bobID, r.ic.InitiatorID)
		require.Equal(t, "gpt-"+r.ic.ProviderName, r.ic.Model)
	}
	require.Equal(t, map[string]int{"openai": 2, "azure-east": 2, "local-llm": 2}, byName)
}

// readEvents reads SSE events until n were read or the stream ends.
func readEvents(t *testing.T, r io.Reader, n int) []string {
	t.Helper()
	sc := bufio.NewScanner(r)
	var evs []string
	var cur strings.Builder
	for sc.Scan() && len(evs) < n {
		line := sc.Text()
		if line == "" {
			evs = append(evs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	return evs
}

// TestStreamFailures: a client that leaves mid-stream, an upstream that
// resets and an upstream that hangs each leave an ended interception with
// the usage seen so far, and the gateway serves the next request.
func TestStreamFailures(t *testing.T) {
	t.Parallel()
	type tc struct {
		name     string
		scenario string
		idle     time.Duration
	}
	for _, c := range []tc{
		{"ClientDisconnect", "", 0},
		{"UpstreamReset", "reset", 0},
		{"UpstreamHang", "hang", 300 * time.Millisecond},
		{"UpstreamHangBeforeHeaders", "hang_before", 300 * time.Millisecond},
		{"UpstreamErrorEvent", "stream_error", 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, nil, func(cfg *aibridge.Config) {
				if c.idle > 0 {
					cfg.StreamIdleTimeout = c.idle
				}
			})
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url("/api/v2/aibridge/anthropic/v1/messages"), strings.NewReader(fmt.Sprintf(messagesBody, true)))
			require.NoError(t, err)
			req.Header.Set("X-Api-Key", tokenAlice)
			req.Header.Set("X-Mock-Chunks", "20")
			req.Header.Set("X-Mock-Fail-After", "3")
			req.Header.Set("X-Mock-Chunk-Interval-Ms", "20")
			if c.scenario != "" {
				req.Header.Set("X-Mock-Scenario", c.scenario)
			}
			resp, err := h.client.Do(req)
			require.NoError(t, err)
			switch c.scenario {
			case "":
				evs := readEvents(t, resp.Body, 4)
				require.Len(t, evs, 4)
				cancel() // leave mid-stream
			case "hang_before":
				// Nothing was relayed, so the client gets a real error status.
				require.Equal(t, http.StatusGatewayTimeout, resp.StatusCode)
				out := readAll(t, resp.Body)
				require.Equal(t, "timeout_error", gjson.Get(out, "error.type").Str, out)
			default:
				require.Equal(t, http.StatusOK, resp.StatusCode)
				out := readAll(t, resp.Body)
				// The stream ends with a provider-shaped error event.
				last := out[strings.LastIndex(strings.TrimSpace(out), "event: "):]
				require.True(t, strings.HasPrefix(last, "event: error"), out)
				require.Equal(t, "error", gjson.Get(strings.TrimPrefix(strings.SplitN(last, "\n", 3)[1], "data: "), "type").Str)
			}
			_ = resp.Body.Close()

			recs := h.waitEnded(t, 1)
			require.Len(t, recs, 1)
			up := lastRequest(t, h.mocks["anthropic"])
			if c.scenario == "hang_before" {
				require.Empty(t, recs[0].usages)
			} else {
				// message_start carried input and cache counts; that is
				// what was seen before the stream broke.
				require.Len(t, recs[0].usages, 1)
				u := recs[0].usages[0]
				require.Equal(t, up.ResponseID, u.ProviderResponseID)
				require.Equal(t, up.Usage.Input, u.InputTokens)
				require.Equal(t, up.Usage.CacheRead, u.CacheReadInputTokens)
				require.Equal(t, up.Usage.CacheWrite, u.CacheWriteInputTokens)
				require.Equal(t, int64(1), u.OutputTokens)
			}
			// The gateway serves the next request.
			next := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false), map[string]string{"X-Api-Key": tokenAlice})
			require.Equal(t, http.StatusOK, next.StatusCode, readAll(t, next.Body))
			h.waitEnded(t, 2)
			require.Eventually(t, func() bool { return h.gw.Active() == 0 }, 5*time.Second, 10*time.Millisecond)
		})
	}
}

func TestUpstreamUnreachable(t *testing.T) {
	t.Parallel()
	// A port that was just closed refuses connections.
	m := mockupstream.New(mockupstream.Options{})
	base := m.Start()
	m.Close()
	h := newHarness(t, []aibridge.Provider{{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "k", BaseURL: base}}, nil)
	resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true), map[string]string{"X-Api-Key": tokenAlice})
	out := readAll(t, resp.Body)
	require.Equal(t, http.StatusBadGateway, resp.StatusCode)
	require.Equal(t, "error", gjson.Get(out, "type").Str)
	require.Equal(t, "api_error", gjson.Get(out, "error.type").Str)
	recs := h.waitEnded(t, 1)
	require.Len(t, recs, 1)
}

func TestCloseRefusesAndFlushes(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	// A slow stream is in flight while Close runs; it may finish.
	done := make(chan int, 1)
	go func() {
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, h.url("/api/v2/aibridge/anthropic/v1/messages"), strings.NewReader(fmt.Sprintf(messagesBody, true)))
		req.Header.Set("X-Api-Key", tokenAlice)
		req.Header.Set("X-Mock-Chunks", "10")
		req.Header.Set("X-Mock-Chunk-Interval-Ms", "20")
		resp, err := h.client.Do(req)
		if err != nil {
			done <- -1
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	require.Eventually(t, func() bool { return h.gw.Active() == 1 }, 5*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	closed := make(chan error, 1)
	go func() { closed <- h.gw.Close(ctx) }()
	require.Eventually(t, func() bool {
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, false), map[string]string{"X-Api-Key": tokenAlice})
		return resp.StatusCode == http.StatusServiceUnavailable
	}, 5*time.Second, 5*time.Millisecond)
	require.NoError(t, <-closed)
	require.Equal(t, http.StatusOK, <-done)
	all := h.rec.all()
	require.Len(t, all, 1)
	require.NotNil(t, all[0].ended)
	require.Len(t, all[0].usages, 1)
	require.Equal(t, lastRequest(t, h.mocks["anthropic"]).Usage.Output, all[0].usages[0].OutputTokens)
}

// TestWarmUpstreamConnections: the gateway reuses upstream connections
// instead of dialing per request, and keeps a burst's connections warm (Go's
// default pool keeps only 2 idle per host).
func TestWarmUpstreamConnections(t *testing.T) {
	t.Parallel()
	h := newHarness(t, nil, nil)
	send := func(stream bool) {
		hdr := map[string]string{"Authorization": "Bearer " + tokenAlice}
		if stream {
			// Long enough that the whole burst is open at once.
			hdr["X-Mock-Chunks"] = "10"
			hdr["X-Mock-Chunk-Interval-Ms"] = "20"
		}
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions",
			fmt.Sprintf(`{"model":"gpt-mock","stream":%t,"messages":[]}`, stream), hdr)
		_ = readAll(t, resp.Body)
		require.Equal(t, http.StatusOK, resp.StatusCode)
	}
	conns := func() int {
		seen := map[string]bool{}
		for _, r := range h.mocks["openai"].Requests() {
			seen[r.RemoteAddr] = true
		}
		return len(seen)
	}
	for range 20 {
		send(false)
	}
	require.Equal(t, 1, conns(), "sequential requests share one upstream connection")
	burst := func() {
		var wg sync.WaitGroup
		for range 16 {
			wg.Go(func() { send(true) })
		}
		wg.Wait()
		// A connection returns to the pool just after its response ends.
		require.Eventually(t, func() bool { return h.gw.Active() == 0 }, 5*time.Second, 5*time.Millisecond)
		time.Sleep(100 * time.Millisecond)
	}
	burst()
	afterBurst := conns()
	require.GreaterOrEqual(t, afterBurst, 16)
	require.LessOrEqual(t, afterBurst, 17)
	burst()
	require.Equal(t, afterBurst, conns(), "a second burst reuses the pooled connections")
}
