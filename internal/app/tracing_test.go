package app_test

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

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
			require.Equal(t, callerTrace, post.Parent.TraceID().String())
			attrs := map[string]string{}
			for _, kv := range intercept.Attributes {
				attrs[string(kv.Key)] = kv.Value.Emit()
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
