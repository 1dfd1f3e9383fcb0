package aibridge_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
)

// traced is a gateway whose spans go to an in-memory recorder, served
// behind a handler that opens a server span the way the HTTP middleware
// does, so the gateway's spans must hang below it.
type traced struct {
	gw    *aibridge.Gateway
	url   string
	mock  *mockupstream.Server
	spans *tracetest.SpanRecorder
	rec   *memWriter
}

func newTraced(t *testing.T) *traced {
	t.Helper()
	mock := mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{
		Chunks: 4, ChunkInterval: time.Millisecond, ChunkBytes: 16, BodyBytes: 256, Status: http.StatusOK,
	}})
	base := mock.Start()
	t.Cleanup(mock.Close)
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	rec := newMemWriter()
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{Providers: []aibridge.Provider{
			{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "sk-ant-central", BaseURL: base},
			{Name: "openai", Type: aibridge.TypeOpenAI, Key: "sk-openai-central", BaseURL: base + "/v1"},
		}},
		Auth:           staticAuth,
		Store:          rec,
		TracerProvider: tp,
	})
	require.NoError(t, err)
	tracer := tp.Tracer("test-server")
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		ctx, span := tracer.Start(r.Context(), "server", trace.WithSpanKind(trace.SpanKindServer))
		defer span.End()
		gw.ServeHTTP(rw, r.WithContext(ctx))
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, gw.Close(ctx))
		require.NoError(t, tp.Shutdown(ctx))
	})
	return &traced{gw: gw, url: srv.URL, mock: mock, spans: spans, rec: rec}
}

// call sends one request and returns the interception id header, after the
// interception has been ended and its records written.
func (tr *traced) call(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, tr.url+path, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	out := readAll(t, resp.Body)
	require.NoError(t, resp.Body.Close())
	// The handler ends its spans after the response is complete; wait for
	// the server span, which ends last.
	require.Eventually(t, func() bool { return len(spansNamed(tr.spans.Ended(), "server")) == 1 }, 10*time.Second, 5*time.Millisecond)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, tr.gw.Flush(ctx))
	return resp, out
}

func spansNamed(spans []sdktrace.ReadOnlySpan, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// one returns the single ended span called name.
func one(t *testing.T, spans []sdktrace.ReadOnlySpan, name string) sdktrace.ReadOnlySpan {
	t.Helper()
	got := spansNamed(spans, name)
	require.Len(t, got, 1, "spans called %q", name)
	return got[0]
}

func attrs(s sdktrace.ReadOnlySpan) map[attribute.Key]attribute.Value {
	m := map[attribute.Key]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[kv.Key] = kv.Value
	}
	return m
}

func requireChild(t *testing.T, parent, child sdktrace.ReadOnlySpan) {
	t.Helper()
	require.Equal(t, parent.SpanContext().TraceID(), child.SpanContext().TraceID(), child.Name())
	require.Equal(t, parent.SpanContext().SpanID(), child.Parent().SpanID(), "%s is a child of %s", child.Name(), parent.Name())
}

// interceptTree checks the span tree of one interception and returns its
// Intercept and Upstream spans.
func interceptTree(t *testing.T, spans []sdktrace.ReadOnlySpan) (intercept, upstream sdktrace.ReadOnlySpan) {
	t.Helper()
	server := one(t, spans, "server")
	intercept = one(t, spans, "Intercept")
	process := one(t, spans, "Intercept.ProcessRequest")
	upstream = one(t, spans, "Intercept.ProcessRequest.Upstream")
	requireChild(t, server, intercept)
	requireChild(t, intercept, one(t, spans, "Intercept.RecordInterception"))
	requireChild(t, intercept, process)
	requireChild(t, process, upstream)
	requireChild(t, intercept, one(t, spans, "Intercept.RecordInterceptionEnded"))
	require.Equal(t, trace.SpanKindClient, upstream.SpanKind())
	// Children end within their parent.
	require.False(t, upstream.EndTime().After(process.EndTime()))
	require.False(t, process.EndTime().After(intercept.EndTime()))
	return intercept, upstream
}

func TestTracingStreamedCall(t *testing.T) {
	t.Parallel()
	tr := newTraced(t)
	resp, out := tr.call(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true),
		map[string]string{"X-Api-Key": tokenAlice})
	require.Equal(t, http.StatusOK, resp.StatusCode, out)
	require.Contains(t, out, "event: message_stop")

	spans := tr.spans.Ended()
	intercept, upstream := interceptTree(t, spans)
	a := attrs(intercept)
	require.Equal(t, "/api/v2/aibridge/anthropic/v1/messages", a["request_path"].AsString())
	require.Equal(t, resp.Header.Get(aibridge.InterceptionIDHeader), a["interception_id"].AsString())
	require.NotEmpty(t, a["interception_id"].AsString())
	require.Equal(t, aliceID.String(), a["user_id"].AsString())
	require.Equal(t, "alice0000", a["api_key_id"].AsString())
	require.Equal(t, "anthropic", a["provider"].AsString())
	require.Equal(t, "claude-mock-1", a["model"].AsString())
	require.True(t, a["streaming"].AsBool())
	require.Equal(t, codes.Unset, intercept.Status().Code)

	u := attrs(upstream)
	require.Equal(t, tr.mock.URL()+"/v1/messages", u["upstream_url"].AsString())
	require.EqualValues(t, http.StatusOK, u["http.response.status_code"].AsInt64())
	require.Equal(t, codes.Unset, upstream.Status().Code)
	// The upstream span covers the whole stream: it ends after the last
	// event was read, not when the headers arrived.
	require.Greater(t, upstream.EndTime().Sub(upstream.StartTime()), 3*time.Millisecond)

	ended := attrs(one(t, spans, "Intercept.RecordInterceptionEnded"))
	want := lastRequest(t, tr.mock).Usage
	require.Equal(t, want.Input, ended["input_tokens"].AsInt64())
	require.Equal(t, want.Output, ended["output_tokens"].AsInt64())
	require.EqualValues(t, 1, ended["prompts"].AsInt64())

	// The batch write is traced too (a root span: one batch serves many
	// requests).
	var rows, started, endedRows int64
	for _, b := range spansNamed(spans, "RecordBatch") {
		require.False(t, b.Parent().IsValid())
		require.Equal(t, codes.Unset, b.Status().Code)
		rows += attrs(b)["rows"].AsInt64()
		started += attrs(b)["interceptions_started"].AsInt64()
		endedRows += attrs(b)["interceptions_ended"].AsInt64()
	}
	require.EqualValues(t, 1, started)
	require.EqualValues(t, 1, endedRows)
	// Interception, usage and prompt rows, plus an end row unless the end
	// landed in the start's batch and was folded into it.
	require.Contains(t, []int64{3, 4}, rows)
}

func TestTracingBlockingCall(t *testing.T) {
	t.Parallel()
	tr := newTraced(t)
	resp, out := tr.call(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions",
		`{"model":"gpt-mock","messages":[{"role":"user","content":"hi"}]}`,
		map[string]string{"Authorization": "Bearer " + tokenBob})
	require.Equal(t, http.StatusOK, resp.StatusCode, out)

	spans := tr.spans.Ended()
	intercept, upstream := interceptTree(t, spans)
	a := attrs(intercept)
	require.False(t, a["streaming"].AsBool())
	require.Equal(t, "gpt-mock", a["model"].AsString())
	require.Equal(t, "openai", a["provider"].AsString())
	require.Equal(t, bobID.String(), a["user_id"].AsString())
	require.Equal(t, tr.mock.URL()+"/v1/chat/completions", attrs(upstream)["upstream_url"].AsString())
	require.Equal(t, codes.Unset, intercept.Status().Code)
	require.Empty(t, spansNamed(spans, "Passthrough"))
}

func TestTracingUpstreamFailure(t *testing.T) {
	t.Parallel()
	tr := newTraced(t)
	resp, out := tr.call(t, http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", fmt.Sprintf(messagesBody, true),
		map[string]string{"X-Api-Key": tokenAlice, "X-Mock-Status": "503"})
	require.Equal(t, http.StatusServiceUnavailable, resp.StatusCode, out)

	spans := tr.spans.Ended()
	intercept, upstream := interceptTree(t, spans)
	require.Equal(t, codes.Error, upstream.Status().Code)
	require.EqualValues(t, http.StatusServiceUnavailable, attrs(upstream)["http.response.status_code"].AsInt64())
	require.Equal(t, codes.Error, intercept.Status().Code)
	require.EqualValues(t, http.StatusServiceUnavailable, attrs(intercept)["http.response.status_code"].AsInt64())
}

func TestTracingUnreachableUpstream(t *testing.T) {
	t.Parallel()
	tr := newTraced(t)
	tr.mock.Close() // nothing listens on the provider's address any more
	resp, out := tr.call(t, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions",
		`{"model":"gpt-mock","messages":[]}`, map[string]string{"Authorization": "Bearer " + tokenAlice})
	require.Equal(t, http.StatusBadGateway, resp.StatusCode, out)

	intercept, upstream := interceptTree(t, tr.spans.Ended())
	require.Equal(t, codes.Error, upstream.Status().Code)
	require.NotEmpty(t, upstream.Events(), "the transport error is recorded on the span")
	require.Equal(t, "exception", upstream.Events()[0].Name)
	require.Equal(t, codes.Error, intercept.Status().Code)
}

func TestTracingPassthrough(t *testing.T) {
	t.Parallel()
	tr := newTraced(t)
	resp, out := tr.call(t, http.MethodGet, "/api/v2/aibridge/anthropic/v1/models?limit=5", "", map[string]string{"X-Api-Key": tokenAlice})
	require.Equal(t, http.StatusOK, resp.StatusCode, out)

	spans := tr.spans.Ended()
	pt := one(t, spans, "Passthrough")
	requireChild(t, one(t, spans, "server"), pt)
	a := attrs(pt)
	require.Equal(t, tr.mock.URL()+"/v1/models", a["passthrough_url"].AsString(), "no query string in the span")
	require.Equal(t, http.MethodGet, a["method"].AsString())
	require.Equal(t, "anthropic", a["provider"].AsString())
	require.EqualValues(t, http.StatusOK, a["http.response.status_code"].AsInt64())
	require.Equal(t, codes.Unset, pt.Status().Code)
	require.Empty(t, spansNamed(spans, "Intercept"))
}
