package aibridge

import (
	"context"
	"net/http"
	"net/url"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"gantry/internal/store"
)

// OpenTelemetry spans (names and attribute keys follow spec §11):
//
//	Intercept                              one intercepted request
//	  Intercept.RecordInterception         the start record is queued
//	  Intercept.ProcessRequest             breaker, upstream call and relay
//	    Intercept.ProcessRequest.Upstream  round trip until the upstream body ends
//	  Intercept.RecordInterceptionEnded    usage, prompt, tools and the end are queued
//	Passthrough                            one passthrough request
//	RecordBatch                            one batch write (root span; the writer
//	                                       serves many requests at once)
//
// Tracing is off when Options.TracerProvider is nil or a no-op provider:
// the gateway then keeps a nil tracer and every helper below returns before
// building attributes, so the hot path does not allocate for tracing.

const tracerName = "gantry/internal/aibridge"

// noSpan is the span used when tracing is off. Ending it costs nothing.
var noSpan = trace.SpanFromContext(context.Background())

func newTracer(tp trace.TracerProvider) trace.Tracer {
	switch tp.(type) {
	case nil, noop.TracerProvider, *noop.TracerProvider:
		return nil
	}
	return tp.Tracer(tracerName)
}

// traceIntercept starts the Intercept span; the other attributes are added
// by traceDetails once the request has been parsed.
func (g *Gateway) traceIntercept(r *http.Request, p *provider) (context.Context, trace.Span) {
	if g.tracer == nil {
		return r.Context(), noSpan
	}
	return g.tracer.Start(r.Context(), "Intercept", trace.WithAttributes(
		attribute.String("request_path", r.URL.Path),
		attribute.String("provider", p.Name),
	))
}

func (ix *interception) traceDetails() {
	if ix.g.tracer == nil {
		return
	}
	ix.span.SetAttributes(
		attribute.String("interception_id", ix.id.String()),
		attribute.String("user_id", ix.actor.UserID.String()),
		attribute.String("api_key_id", ix.actor.APIKeyID),
		attribute.String("model", ix.model),
		attribute.Bool("streaming", ix.stream),
	)
}

// traceChild starts a child span of the interception without attributes.
func (ix *interception) traceChild(ctx context.Context, name string) (context.Context, trace.Span) {
	if ix.g.tracer == nil {
		return ctx, noSpan
	}
	return ix.g.tracer.Start(ctx, name)
}

// traceUpstream starts Intercept.ProcessRequest.Upstream.
func (ix *interception) traceUpstream(ctx context.Context, u *url.URL) (context.Context, trace.Span) {
	if ix.g.tracer == nil {
		return ctx, noSpan
	}
	return ix.g.tracer.Start(ctx, "Intercept.ProcessRequest.Upstream", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("upstream_url", redactedURL(u))))
}

// traceEnd records how an upstream call or an interception ended: the
// status answered and, when it failed, an error status with the reason.
func traceEnd(span trace.Span, status int, failed bool, err error) {
	if !span.IsRecording() {
		return
	}
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		span.RecordError(err)
	}
	if failed || err != nil {
		desc := "failed"
		if err != nil {
			desc = err.Error()
		} else if status != 0 {
			desc = http.StatusText(status)
		}
		span.SetStatus(codes.Error, desc)
	}
}

// traceFinal starts Intercept.RecordInterceptionEnded with what is recorded.
func (ix *interception) traceFinal(f *finalRecords) trace.Span {
	if ix.g.tracer == nil {
		return noSpan
	}
	attrs := []attribute.KeyValue{
		attribute.String("interception_id", ix.id.String()),
		attribute.Int("prompts", len(f.prompts)),
		attribute.Int("tool_usages", len(f.tools)),
		attribute.Int("model_thoughts", len(f.thoughts)),
	}
	if len(f.usages) > 0 {
		u := f.usages[0]
		attrs = append(attrs, attribute.Int64("input_tokens", u.InputTokens), attribute.Int64("output_tokens", u.OutputTokens))
	}
	_, span := ix.g.tracer.Start(ix.tctx, "Intercept.RecordInterceptionEnded", trace.WithAttributes(attrs...))
	return span
}

// tracePassthrough starts the Passthrough span.
func (g *Gateway) tracePassthrough(r *http.Request, p *provider, u *url.URL) (context.Context, trace.Span) {
	if g.tracer == nil {
		return r.Context(), noSpan
	}
	return g.tracer.Start(r.Context(), "Passthrough", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("request_path", r.URL.Path),
		attribute.String("provider", p.Name),
		attribute.String("passthrough_url", redactedURL(u)),
		attribute.String("method", r.Method),
	))
}

// redactedURL is the upstream URL without its query string, which is the
// client's and may carry anything.
func redactedURL(u *url.URL) string {
	c := *u
	c.RawQuery, c.Fragment, c.User = "", "", nil
	return c.String()
}

// traceBatch starts a RecordBatch span for one write attempt.
func (r *recorder) traceBatch(ctx context.Context, b *store.AIBridgeBatch, attempt int) (context.Context, trace.Span) {
	if r.tracer == nil {
		return ctx, noSpan
	}
	// Ends folded into their start row count as ended too.
	ended := len(b.Ends)
	for i := range b.Interceptions {
		if b.Interceptions[i].EndedAt != nil {
			ended++
		}
	}
	return r.tracer.Start(ctx, "RecordBatch", trace.WithAttributes(
		attribute.Int("rows", b.Len()),
		attribute.Int("interceptions_started", len(b.Interceptions)),
		attribute.Int("interceptions_ended", ended),
		attribute.Int("attempt", attempt),
	))
}
