package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/buildinfo"
)

// Tracing (--trace). Spans are exported over OTLP/HTTP, configured by the
// standard OTEL_EXPORTER_OTLP_* variables (endpoint default
// http://localhost:4318; OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
// OTEL_EXPORTER_OTLP_HEADERS, ..._TIMEOUT, ..._COMPRESSION,
// ..._INSECURE and the certificate variables) and sampled by
// OTEL_TRACES_SAMPLER (default: parent-based, always on). Resource
// attributes come from OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES over
// gantry's own service.name and service.version. With
// --trace-honeycomb-api-key the spans go to Honeycomb's OTLP endpoint
// instead. The batch processor keeps spans off the request path; the
// provider is flushed and shut down after the listeners and the gateway
// have stopped. With --trace-logs, log lines written in a request's context
// are attached to its span as events.

// honeycombEndpoint is Honeycomb's OTLP/HTTP host.
const honeycombEndpoint = "api.honeycomb.io"

// traceShutdownTimeout bounds the final span export on shutdown, so an
// unreachable collector cannot hold the exit.
const traceShutdownTimeout = 5 * time.Second

// newTracerProvider returns the tracer provider --trace selects, or nil
// when tracing is off.
func (s *Server) newTracerProvider(ctx context.Context) (trace.TracerProvider, error) {
	tc := s.vals.Trace
	if !tc.Enable.Value() {
		return nil, nil
	}
	exp := s.cfg.TraceExporter
	if exp == nil {
		var opts []otlptracehttp.Option
		if key := tc.HoneycombAPIKey.Value(); key != "" {
			opts = append(opts, otlptracehttp.WithEndpoint(honeycombEndpoint),
				otlptracehttp.WithHeaders(map[string]string{"x-honeycomb-team": key}))
		}
		var err error
		// No connection is made here: the exporter dials on its first
		// batch, so a collector that is down does not stop the start.
		if exp, err = otlptracehttp.New(ctx, opts...); err != nil {
			return nil, fmt.Errorf("trace exporter: %w", err)
		}
	}
	if tc.DataDog.Value() {
		s.logger.Warn("--trace-datadog is not supported: point OTEL_EXPORTER_OTLP_ENDPOINT at the Datadog agent's OTLP receiver instead")
	}
	res, err := resource.New(ctx,
		resource.WithAttributes(
			attribute.String("service.name", "gantry"),
			attribute.String("service.version", buildinfo.Version()),
		),
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
	)
	if err != nil {
		return nil, fmt.Errorf("trace resource: %w", err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	s.closers = append(s.closers, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), traceShutdownTimeout)
		defer cancel()
		if err := tp.Shutdown(ctx); err != nil {
			// Lost spans are not a reason to fail the shutdown.
			s.logger.Warn("flush trace spans", "error", err)
		}
		return nil
	})
	if tc.CaptureLogs.Value() {
		s.logger = slog.New(spanEventHandler{s.logger.Handler()})
	}
	s.logger.Info("tracing enabled: OpenTelemetry spans are exported over OTLP/HTTP")
	return tp, nil
}

// spanEventHandler implements --trace-logs: a line logged with a context
// that carries a recording span (the request log, request errors, the
// gateway's context-aware lines) is also added to that span as an event
// named after the message, with the line's level and attributes. Lines
// still go to the configured sinks unchanged.
type spanEventHandler struct{ slog.Handler }

func (h spanEventHandler) Handle(ctx context.Context, r slog.Record) error {
	if span := trace.SpanFromContext(ctx); span.IsRecording() {
		attrs := make([]attribute.KeyValue, 0, r.NumAttrs()+1)
		attrs = append(attrs, attribute.String("level", r.Level.String()))
		r.Attrs(func(a slog.Attr) bool {
			attrs = append(attrs, attribute.String(a.Key, a.Value.String()))
			return true
		})
		span.AddEvent(r.Message, trace.WithTimestamp(r.Time), trace.WithAttributes(attrs...))
	}
	return h.Handler.Handle(ctx, r)
}

func (h spanEventHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return spanEventHandler{h.Handler.WithAttrs(attrs)}
}

func (h spanEventHandler) WithGroup(name string) slog.Handler {
	return spanEventHandler{h.Handler.WithGroup(name)}
}

// traceHTTP wraps h in a server span per request (W3C trace context in the
// request headers continues the caller's trace). The span is named after
// the method only: routes are chosen below this middleware, and raw paths
// would make span names unbounded.
func traceHTTP(h http.Handler, tp trace.TracerProvider) http.Handler {
	return otelhttp.NewHandler(h, "http",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method }),
	)
}
