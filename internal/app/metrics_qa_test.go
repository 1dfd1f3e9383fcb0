package app_test

import (
	"bufio"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/apitest"
)

// TestAIBridgeMetricsOnPrometheusListener is the observability acceptance
// test: a served gantry with AI Bridge (an Anthropic and an OpenAI provider
// on the mock upstream) and a circuit breaker takes known traffic, then
// /metrics on the real Prometheus listener is parsed and every metric the
// guide documents must be there, with counts that follow exactly from the
// traffic and from the usage the mock reported.
func TestAIBridgeMetricsOnPrometheusListener(t *testing.T) {
	t.Parallel()
	mock := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{
		Chunks: 4, ChunkInterval: time.Millisecond, ChunkBytes: 16, BodyBytes: 256, Status: http.StatusOK,
	}})
	mockURL := mock.Start()
	t.Cleanup(mock.Close)

	const threshold = 2
	d := deploy(t, withFlags(
		"prometheus-enable", "true",
		"prometheus-address", "127.0.0.1:0",
		"aibridge-enabled", "true",
		"aibridge-anthropic-base-url", mockURL,
		"aibridge-anthropic-key", "sk-ant-central",
		"aibridge-openai-base-url", mockURL+"/v1",
		"aibridge-openai-key", "sk-openai-central",
		"aibridge-circuit-breaker-enabled", "true",
		"aibridge-circuit-breaker-failure-threshold", "2",
		"aibridge-circuit-breaker-interval", "1m",
		"aibridge-circuit-breaker-timeout", "1m",
		"aibridge-circuit-breaker-max-requests", "1",
	))
	promAddr := d.srv.Addr("prometheus")
	require.NotEmpty(t, promAddr)

	owner := d.client
	apitest.CreateFirstUser(t, owner)
	member, user := apitest.CreateUser(t, owner)
	token := apitest.CreateToken(t, member, "me", "ai", 24*time.Hour)
	initiator := user.ID.String()

	base := d.url.String() + "/api/v2/aibridge"
	client := &http.Client{Timeout: 30 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	// call sends one request and returns its status after reading the
	// whole body (a stream is read to its end).
	call := func(method, path, key string, hdr map[string]string, body string) int {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), method, base+path, strings.NewReader(body))
		require.NoError(t, err)
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		if strings.HasPrefix(path, "/anthropic/") {
			req.Header.Set("Anthropic-Version", "2023-06-01")
			if key != "" {
				req.Header.Set("X-Api-Key", key)
			}
		} else if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
		}
		require.NoError(t, sc.Err())
		return resp.StatusCode
	}
	anthropicBody := func(model string, stream bool) string {
		s := "false"
		if stream {
			s = "true"
		}
		return `{"model":"` + model + `","max_tokens":64,"stream":` + s + `,"messages":[{"role":"user","content":"what is the weather?"}]}`
	}
	chatBody := func(model string, stream bool) string {
		s := "false"
		if stream {
			s = "true"
		}
		return `{"model":"` + model + `","stream":` + s + `,"messages":[{"role":"user","content":"what is the weather?"}]}`
	}
	tool := map[string]string{"X-Mock-Scenario": "tool"}

	// Intercepted, successful: Anthropic 3 streamed (1 with a tool call) +
	// 2 blocking (1 with a tool call); OpenAI chat 2 streamed (1 tool) + 2
	// blocking. Every one carries a user prompt.
	const claude, gpt = "claude-mock-1", "gpt-mock-1"
	for i := range 3 {
		h := map[string]string(nil)
		if i == 0 {
			h = tool
		}
		require.Equal(t, http.StatusOK, call(http.MethodPost, "/anthropic/v1/messages", token, h, anthropicBody(claude, true)))
	}
	for i := range 2 {
		h := map[string]string(nil)
		if i == 0 {
			h = tool
		}
		require.Equal(t, http.StatusOK, call(http.MethodPost, "/anthropic/v1/messages", token, h, anthropicBody(claude, false)))
	}
	for i := range 2 {
		h := map[string]string(nil)
		if i == 0 {
			h = tool
		}
		require.Equal(t, http.StatusOK, call(http.MethodPost, "/openai/v1/chat/completions", token, h, chatBody(gpt, true)))
	}
	for range 2 {
		require.Equal(t, http.StatusOK, call(http.MethodPost, "/openai/v1/chat/completions", token, nil, chatBody(gpt, false)))
	}
	// Passthrough.
	require.Equal(t, http.StatusOK, call(http.MethodGet, "/openai/v1/models", token, nil, ""))
	// The breaker of one model trips after `threshold` upstream 429s; the
	// next call is answered by gantry without reaching the upstream.
	const failing = "claude-mock-overloaded"
	for range threshold {
		require.Equal(t, http.StatusTooManyRequests, call(http.MethodPost, "/anthropic/v1/messages", token,
			map[string]string{"X-Mock-Status": "429"}, anthropicBody(failing, false)))
	}
	upstreamCalls := len(mock.Requests())
	require.Equal(t, http.StatusServiceUnavailable, call(http.MethodPost, "/anthropic/v1/messages", token, nil, anthropicBody(failing, false)))
	require.Len(t, mock.Requests(), upstreamCalls, "an open breaker does not call the upstream")
	// Rejected by the gateway itself.
	// (400 without a key and 403 with a bad one are Coder's statuses.)
	require.Equal(t, http.StatusForbidden, call(http.MethodPost, "/anthropic/v1/messages", "not-a-gantry-token", nil, anthropicBody(claude, false)))
	require.Equal(t, http.StatusBadRequest, call(http.MethodPost, "/anthropic/v1/messages", "", nil, anthropicBody(claude, false)))
	require.Equal(t, http.StatusNotFound, call(http.MethodPost, "/nosuch/v1/messages", token, nil, anthropicBody(claude, false)))
	// One API request for the HTTP metrics.
	status, _, _ := get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Equal(t, http.StatusOK, status)

	// What the mock reported, by provider and model.
	type tokens struct{ input, output, cacheRead, cacheWrite float64 }
	var wantClaude, wantGPT tokens
	var claudeTools, gptTools float64
	for _, r := range mock.Requests() {
		if r.Outcome != mockupstream.OutcomeOK || !r.UsageSent {
			continue
		}
		u := r.Usage
		switch {
		case strings.HasSuffix(r.Path, "/messages") && r.Model == claude:
			wantClaude.input += float64(u.Input)
			wantClaude.output += float64(u.Output)
			wantClaude.cacheRead += float64(u.CacheRead)
			wantClaude.cacheWrite += float64(u.CacheWrite)
			if r.ToolCallID != "" {
				claudeTools++
			}
		case strings.HasSuffix(r.Path, "/chat/completions") && r.Model == gpt:
			// Chat reports prompt tokens including the cached ones; the
			// gateway counts input as the uncached part.
			wantGPT.input += float64(u.Input - u.CacheRead)
			wantGPT.output += float64(u.Output)
			wantGPT.cacheRead += float64(u.CacheRead)
			if r.ToolCallID != "" {
				gptTools++
			}
		}
	}
	require.Equal(t, 2.0, claudeTools)
	require.Equal(t, 1.0, gptTools)
	require.Positive(t, wantClaude.cacheRead)
	require.Positive(t, wantClaude.cacheWrite)
	require.Positive(t, wantGPT.cacheRead)

	// Interceptions are counted when their handler finishes, which may be
	// just after the client read the last byte: wait for the last one
	// (5 Anthropic, 4 OpenAI, 3 for the failing model).
	var mf map[string]*dto.MetricFamily
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		mf = scrapeFamilies(t, promAddr)
		ended := sumOf(mf, aibridge.MetricsPrefix+"interceptions_total", nil)
		inflight := sumOf(mf, aibridge.MetricsPrefix+"interceptions_inflight", nil)
		if ended == 12 && inflight == 0 {
			// The gauge drops after an interception's metrics are all
			// updated, but families are collected concurrently: scrape
			// once more for a consistent picture.
			mf = scrapeFamilies(t, promAddr)
			break
		}
		require.True(t, time.Now().Before(deadline), "interceptions_total %v (want 12), inflight %v (want 0)", ended, inflight)
	}

	// Every documented gateway metric is exported, and every exported one
	// is documented.
	documented := documentedAIBridgeMetrics(t)
	require.Len(t, documented, 15)
	// gantry injects no MCP tools, so Coder's injected-tool counter is
	// documented as not exported, and it is not.
	require.NotContains(t, documented, aibridge.MetricsPrefix+"injected_tool_invocations_total")
	require.Empty(t, mf[aibridge.MetricsPrefix+"injected_tool_invocations_total"].GetMetric())
	for name, labels := range documented {
		require.Contains(t, mf, name, "documented metric %s is not exported", name)
		// The documented labels, no more, no fewer.
		for _, m := range mf[name].GetMetric() {
			var got []string
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName())
			}
			require.ElementsMatch(t, labels, got, "labels of %s", name)
		}
	}
	for name := range mf {
		if strings.HasPrefix(name, aibridge.MetricsPrefix) {
			require.Contains(t, documented, name, "exported metric %s is not documented", name)
		}
	}

	p := aibridge.MetricsPrefix
	lbl := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	eq := func(want float64, name string, labels map[string]string) {
		t.Helper()
		require.Equal(t, want, sumOf(mf, name, labels), "%s%v", name, labels)
	}

	// Outcomes: 9 completed; the two 429s and the breaker rejection failed.
	eq(5, p+"interceptions_total", lbl("provider", "anthropic", "model", claude, "status", "completed", "initiator_id", initiator, "method", "POST"))
	eq(4, p+"interceptions_total", lbl("provider", "openai", "model", gpt, "status", "completed", "initiator_id", initiator))
	eq(3, p+"interceptions_total", lbl("provider", "anthropic", "model", failing, "status", "failed"))
	eq(0, p+"interceptions_total", lbl("model", claude, "status", "failed"))
	eq(0, p+"interceptions_total", lbl("model", gpt, "status", "failed"))
	eq(0, p+"interceptions_inflight", nil)
	require.NotEmpty(t, mf[p+"interceptions_inflight"].GetMetric(), "the gauge has the series of the traffic")

	eq(1, p+"passthrough_total", lbl("provider", "openai", "method", "GET"))
	eq(1, p+"passthrough_total", nil)
	require.Contains(t, labelOf(mf[p+"passthrough_total"].GetMetric()[0], "route"), "models")

	eq(5, p+"prompts_total", lbl("provider", "anthropic", "model", claude, "initiator_id", initiator))
	eq(4, p+"prompts_total", lbl("provider", "openai", "model", gpt, "initiator_id", initiator))
	eq(threshold+1, p+"prompts_total", lbl("model", failing))

	for typ, want := range map[string]float64{
		"input": wantClaude.input, "output": wantClaude.output,
		"cache_read_input_tokens": wantClaude.cacheRead, "cache_write_input_tokens": wantClaude.cacheWrite,
	} {
		eq(want, p+"tokens_total", lbl("provider", "anthropic", "model", claude, "type", typ, "initiator_id", initiator))
	}
	for typ, want := range map[string]float64{
		"input": wantGPT.input, "output": wantGPT.output, "cache_read_input_tokens": wantGPT.cacheRead,
	} {
		eq(want, p+"tokens_total", lbl("provider", "openai", "model", gpt, "type", typ, "initiator_id", initiator))
	}
	eq(0, p+"tokens_total", lbl("model", failing))

	eq(claudeTools, p+"non_injected_tool_selections_total", lbl("provider", "anthropic", "model", claude, "name", "get_weather"))
	eq(gptTools, p+"non_injected_tool_selections_total", lbl("provider", "openai", "model", gpt, "name", "get_weather"))
	eq(0, p+"injected_tool_invocations_total", nil)

	eq(1, p+"circuit_breaker_trips_total", lbl("provider", "anthropic", "model", failing))
	eq(1, p+"circuit_breaker_trips_total", nil)
	eq(1, p+"circuit_breaker_rejects_total", lbl("provider", "anthropic", "model", failing))
	eq(1, p+"circuit_breaker_rejects_total", nil)
	eq(1, p+"circuit_breaker_state", lbl("provider", "anthropic", "model", failing))
	eq(0, p+"circuit_breaker_state", lbl("model", claude))

	eq(1, p+"rejections_total", lbl("provider", "anthropic", "reason", "unauthorized"))
	eq(1, p+"rejections_total", lbl("provider", "anthropic", "reason", "unauthenticated"))
	eq(1, p+"rejections_total", lbl("provider", "unknown", "reason", "not_found"))
	eq(3, p+"rejections_total", nil)

	// Histograms: every interception has a duration; every one that
	// reached the upstream (all but the breaker rejection) an overhead and
	// a first byte.
	hist := func(name string, labels map[string]string) uint64 {
		var n uint64
		for _, m := range mf[name].GetMetric() {
			if matches(m, labels) {
				n += m.GetHistogram().GetSampleCount()
			}
		}
		return n
	}
	require.EqualValues(t, 5, hist(p+"interceptions_duration_seconds", lbl("provider", "anthropic", "model", claude)))
	require.EqualValues(t, 4, hist(p+"interceptions_duration_seconds", lbl("provider", "openai", "model", gpt)))
	require.EqualValues(t, threshold+1, hist(p+"interceptions_duration_seconds", lbl("model", failing)))
	require.EqualValues(t, 5+threshold, hist(p+"gateway_overhead_seconds", lbl("provider", "anthropic")))
	require.EqualValues(t, 4, hist(p+"gateway_overhead_seconds", lbl("provider", "openai")))
	require.EqualValues(t, 5+threshold, hist(p+"time_to_first_byte_seconds", lbl("provider", "anthropic")))
	require.EqualValues(t, 4, hist(p+"time_to_first_byte_seconds", lbl("provider", "openai")))

	eq(0, p+"records_dropped_total", nil)
	require.Eventually(t, func() bool {
		return sumOf(scrapeFamilies(t, promAddr), p+"record_queue_length", nil) == 0
	}, 10*time.Second, 20*time.Millisecond)

	// The rest of the listener: HTTP API, Go runtime, process, DB pools.
	for _, name := range []string{
		"coderd_api_requests_processed_total", "coderd_api_request_latencies_seconds", "coderd_api_concurrent_requests",
		"go_goroutines", "go_memstats_alloc_bytes", "process_cpu_seconds_total", "process_resident_memory_bytes",
		"go_sql_open_connections", "go_sql_idle_connections", "go_sql_in_use_connections", "go_sql_wait_count_total",
	} {
		require.Contains(t, mf, name)
	}
	eq(1, "coderd_api_requests_processed_total", lbl("code", "200", "method", "GET", "path", "/api/v2/buildinfo"))
}

// scrapeFamilies GETs /metrics from the Prometheus listener and parses it.
func scrapeFamilies(t *testing.T, addr string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := httpGet(t, http.DefaultClient, "http://"+addr+"/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	parser := expfmt.NewTextParser(model.UTF8Validation)
	mf, err := parser.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return mf
}

func labelOf(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

func matches(m *dto.Metric, labels map[string]string) bool {
	for k, v := range labels {
		if labelOf(m, k) != v {
			return false
		}
	}
	return true
}

// sumOf adds the values of the counter or gauge series of name whose
// labels include labels.
func sumOf(mf map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	var sum float64
	for _, m := range mf[name].GetMetric() {
		if !matches(m, labels) {
			continue
		}
		switch {
		case m.Counter != nil:
			sum += m.GetCounter().GetValue()
		case m.Gauge != nil:
			sum += m.GetGauge().GetValue()
		}
	}
	return sum
}

// documentedAIBridgeMetrics reads the metric names and their label names
// from the table of the guide's AI Bridge "Metrics" section, so the docs
// and this test cannot drift apart.
func documentedAIBridgeMetrics(t *testing.T) map[string][]string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "docs", "guide.md"))
	require.NoError(t, err)
	guide := string(raw)
	start := strings.Index(guide, "On the Prometheus listener, prefix `"+aibridge.MetricsPrefix+"`:")
	require.GreaterOrEqual(t, start, 0, "the guide's AI Bridge metrics section")
	section := guide[start:]
	if end := strings.Index(section, "\n#"); end >= 0 {
		section = section[:end]
	}
	name := regexp.MustCompile("`([a-z_]+)`")
	aside := regexp.MustCompile(`\([^)]*\)`)
	out := map[string][]string{}
	for line := range strings.SplitSeq(section, "\n") {
		if !strings.HasPrefix(line, "| `") {
			continue
		}
		cols := strings.Split(line, "|") // "", Metric, Type, Labels, ""
		require.Len(t, cols, 5, "table row %q", line)
		// Labels: a comma-separated list; asides in parentheses and a
		// description after a colon are not label names.
		var labels []string
		desc := aside.ReplaceAllString(cols[3], "")
		desc, _, _ = strings.Cut(desc, ":")
		for l := range strings.SplitSeq(desc, ",") {
			if l = strings.TrimSpace(l); l != "" && l != "—" {
				labels = append(labels, l)
			}
		}
		for _, m := range name.FindAllStringSubmatch(cols[1], -1) {
			out[aibridge.MetricsPrefix+m[1]] = labels
		}
	}
	return out
}
