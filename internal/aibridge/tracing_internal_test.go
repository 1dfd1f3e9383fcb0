package aibridge

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// TestTracingOffAllocatesNothing: with no provider or a no-op one the
// gateway keeps no tracer, and the span helpers on the request path neither
// build attributes nor allocate. Not parallel: AllocsPerRun forbids it.
func TestTracingOffAllocatesNothing(t *testing.T) {
	for _, tp := range []trace.TracerProvider{nil, noop.NewTracerProvider()} {
		require.Nil(t, newTracer(tp))
	}
	g := &Gateway{}
	p := &provider{Provider: Provider{Name: "anthropic"}}
	ix := &interception{g: g, p: p, span: noSpan}
	r := httptest.NewRequestWithContext(t.Context(), http.MethodPost, "/api/v2/aibridge/anthropic/v1/messages", nil)
	u, err := url.Parse("https://api.anthropic.com/v1/messages?x=1")
	require.NoError(t, err)
	f := &finalRecords{}
	rec := &recorder{}
	fail := errors.New("boom")
	allocs := testing.AllocsPerRun(200, func() {
		ctx, span := g.traceIntercept(r, p)
		ix.tctx, ix.span = ctx, span
		ix.traceDetails()
		_, rs := ix.traceChild(ctx, "Intercept.RecordInterception")
		rs.End()
		_, us := ix.traceUpstream(ctx, u)
		traceEnd(us, http.StatusBadGateway, true, fail)
		us.End()
		ix.traceFinal(f).End()
		_, ps := g.tracePassthrough(r, p, u)
		ps.End()
		_, bs := rec.traceBatch(ctx, nil, 1)
		bs.End()
		traceEnd(span, http.StatusOK, false, nil)
		span.End()
	})
	require.Zero(t, allocs)
}
