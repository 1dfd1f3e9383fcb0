package httpmw

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics records Prometheus request metrics. The metric names match Coder's
// (coderd_api_*), so existing dashboards keep working against gantry.
type Metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	inflight prometheus.Gauge
}

// NewMetrics registers the request metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "coderd", Subsystem: "api", Name: "requests_processed_total",
			Help: "The total number of processed API requests.",
		}, []string{"code", "method", "path"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: "coderd", Subsystem: "api", Name: "request_latencies_seconds",
			Help:    "Latency distribution of requests in seconds.",
			Buckets: []float64{0.001, 0.005, 0.010, 0.025, 0.050, 0.100, 0.500, 1, 5, 10, 30},
		}, []string{"method", "path"}),
		inflight: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: "coderd", Subsystem: "api", Name: "concurrent_requests",
			Help: "The number of concurrent API requests.",
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.inflight)
	return m
}

// Middleware observes each request. It installs the chi routing context
// itself so that, after the router has run, the matched route pattern (not
// the raw path) labels the metrics: label cardinality stays bounded by the
// route table. Unmatched paths are labelled "unknown".
func (m *Metrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inflight.Inc()
		defer m.inflight.Dec()

		rctx := chi.RouteContext(r.Context())
		if rctx == nil {
			rctx = chi.NewRouteContext()
			r = r.WithContext(context.WithValue(r.Context(), chi.RouteCtxKey, rctx))
		}
		next.ServeHTTP(rw, r)

		path := rctx.RoutePattern()
		if path == "" || path == "/*" {
			path = "unknown"
		}
		status := http.StatusOK
		if st := stateFrom(r.Context()); st != nil && st.status != 0 {
			status = st.status
		}
		method := metricMethod(r.Method)
		m.requests.WithLabelValues(strconv.Itoa(status), method, path).Inc()
		m.latency.WithLabelValues(method, path).Observe(time.Since(start).Seconds())
	})
}

// metricMethod maps arbitrary client-chosen methods to a fixed label set.
func metricMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return m
	}
	return "OTHER"
}
