package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/apitest"
)

// keptSpans is an in-memory exporter that keeps its spans when the tracer
// provider shuts down (tracetest's own exporter forgets them then), so the
// test reads what the deployment flushed on its way out.
type keptSpans struct{ *tracetest.InMemoryExporter }

func (keptSpans) Shutdown(context.Context) error { return nil }

// TestTraceFlag: with --trace, API requests and AI Bridge interceptions
// produce spans (server spans continuing the caller's W3C trace, gateway
// spans below them), all flushed by the time the server has stopped;
// without it, none.
func TestTraceFlag(t *testing.T) {
	t.Parallel()
	for _, on := range []bool{true, false} {
		t.Run("trace="+strconv.FormatBool(on), func(t *testing.T) {
			t.Parallel()
			mock := mockupstream.New(mockupstream.Options{})
			base := mock.Start()
			t.Cleanup(mock.Close)
			exp := keptSpans{tracetest.NewInMemoryExporter()}
			d := deploy(t, withTraceExporter(exp), withFlags(
				"trace", strconv.FormatBool(on),
				"trace-logs", "true", // no effect without --trace
				"aibridge-enabled", "true",
				"aibridge-anthropic-base-url", base,
				"aibridge-anthropic-key", "sk-ant-central",
			))
			first := apitest.CreateFirstUser(t, d.client)
			status, _, body := get(t, d.client, http.MethodGet, "/api/v2/users/me", nil)
			require.Equal(t, http.StatusOK, status, string(body))

			// The caller sends its own trace context; the gateway's spans
			// join that trace.
			const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
			req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.url.String()+"/api/v2/aibridge/anthropic/v1/messages",
				strings.NewReader(`{"model":"claude-mock-1","max_tokens":16,"stream":true,"messages":[{"role":"user","content":"hi"}]}`))
			require.NoError(t, err)
			req.Header.Set("X-Api-Key", first.SessionToken)
			req.Header.Set("Traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
			resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
			require.NoError(t, err)
			out := readBody(t, resp)
			require.Equal(t, http.StatusOK, resp.StatusCode, out)
			require.Contains(t, out, "event: message_stop")

			d.stop(t) // the tracer provider is flushed on shutdown
			spans := exp.GetSpans()
			if !on {
				require.Empty(t, spans)
				return
			}
			byName := map[string][]tracetest.SpanStub{}
			for _, s := range spans {
				byName[s.Name] = append(byName[s.Name], s)
				if s.Resource != nil {
					v, ok := s.Resource.Set().Value("service.name")
					require.True(t, ok)
					require.Equal(t, "gantry", v.AsString())
				}
			}
			require.NotEmpty(t, byName["GET"], "server spans for the API requests")
			for _, s := range byName["GET"] {
				require.Equal(t, trace.SpanKindServer, s.SpanKind)
			}
			require.Len(t, byName["Intercept"], 1)
			intercept := byName["Intercept"][0]
			require.Equal(t, callerTrace, intercept.SpanContext.TraceID().String(), "the gateway continues the caller's trace")
			var post *tracetest.SpanStub
			for i, s := range byName["POST"] {
				if s.SpanContext.SpanID() == intercept.Parent.SpanID() {
					post = &byName["POST"][i]
				}
			}
			require.NotNil(t, post, "Intercept is a child of the server span of its request")
			require.Equal(t, trace.SpanKindServer, post.SpanKind)
			// --trace-logs: the request log line is an event of its span.
			var logged bool
			for _, ev := range post.Events {
				if ev.Name == "http request" {
					logged = true
					evAttrs := map[string]string{}
					for _, kv := range ev.Attributes {
						evAttrs[string(kv.Key)] = kv.Value.String()
					}
					require.Equal(t, "DEBUG", evAttrs["level"], "access lines are debug, like Coder's")
					require.Equal(t, "/api/v2/aibridge/anthropic/v1/messages", evAttrs["path"])
					require.Equal(t, "200", evAttrs["status"])
				}
			}
			require.True(t, logged, "the request log line is attached to the server span")
			require.Equal(t, callerTrace, post.Parent.TraceID().String())
			attrs := map[string]string{}
			for _, kv := range intercept.Attributes {
				attrs[string(kv.Key)] = kv.Value.String()
			}
			require.Equal(t, "/api/v2/aibridge/anthropic/v1/messages", attrs["request_path"])
			require.Equal(t, first.UserID, attrs["user_id"])
			require.Equal(t, "true", attrs["streaming"])
			require.Equal(t, resp.Header.Get(aibridge.InterceptionIDHeader), attrs["interception_id"])
			for _, name := range []string{"Intercept.RecordInterception", "Intercept.ProcessRequest",
				"Intercept.ProcessRequest.Upstream", "Intercept.RecordInterceptionEnded", "RecordBatch"} {
				require.NotEmpty(t, byName[name], name)
			}
		})
	}
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// otlpCollector is a minimal OTLP/HTTP trace receiver: it decodes every
// export request and keeps the span names and resource service names.
type otlpCollector struct {
	mu       sync.Mutex
	spans    []string
	services map[string]bool
	requests int
}

func (c *otlpCollector) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(r.Body)
	if err != nil || r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(rw, "unexpected export", http.StatusBadRequest)
		return
	}
	var req coltracepb.ExportTraceServiceRequest
	if err := proto.Unmarshal(body, &req); err != nil {
		http.Error(rw, err.Error(), http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.requests++
	for _, rs := range req.GetResourceSpans() {
		for _, kv := range rs.GetResource().GetAttributes() {
			if kv.GetKey() == "service.name" {
				c.services[kv.GetValue().GetStringValue()] = true
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, s.GetName())
			}
		}
	}
	rw.Header().Set("Content-Type", "application/x-protobuf")
	rw.WriteHeader(http.StatusOK)
}

// TestTraceOTLPExportFromProcess: a `gantry server --trace` process
// configured only by OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME sends
// its spans, the gateway's included, to that collector over OTLP/HTTP, and
// the last ones are flushed when it stops on SIGTERM.
func TestTraceOTLPExportFromProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a server process")
	}
	t.Parallel()
	col := &otlpCollector{services: map[string]bool{}}
	colSrv := httptest.NewServer(col)
	t.Cleanup(colSrv.Close)
	mock := mockupstream.New(mockupstream.Options{})
	base := mock.Start()
	t.Cleanup(mock.Close)

	p := startServerProcessEnv(t,
		[]string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + colSrv.URL, "OTEL_SERVICE_NAME=gantry-test"},
		"--trace", "--cache-dir", t.TempDir(),
		"--aibridge-enabled", "--aibridge-anthropic-base-url", base, "--aibridge-anthropic-key", "sk-ant-central")
	p.waitHealthy(t)
	first := apitest.CreateFirstUser(t, p.client(""))
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, p.url+"/api/v2/aibridge/anthropic/v1/messages",
		strings.NewReader(`{"model":"claude-mock-1","max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Header.Set("X-Api-Key", first.SessionToken)
	resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	require.NoError(t, err)
	out := readBody(t, resp)
	require.Equal(t, http.StatusOK, resp.StatusCode, out)

	p.stop(t) // the batch processor's default delay is 5s: the rest comes with the shutdown flush
	col.mu.Lock()
	defer col.mu.Unlock()
	require.Positive(t, col.requests)
	require.Equal(t, map[string]bool{"gantry-test": true}, col.services, "OTEL_SERVICE_NAME overrides gantry's default")
	for _, name := range []string{"GET", "POST", "Intercept", "Intercept.ProcessRequest.Upstream", "Intercept.RecordInterceptionEnded", "RecordBatch"} {
		require.Contains(t, col.spans, name)
	}
}
