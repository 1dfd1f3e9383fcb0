package aibridge

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// MetricsPrefix starts every gateway metric name.
const MetricsPrefix = "gantry_aibridge_"

// metrics are the gateway's Prometheus collectors (spec §11 names and
// labels, plus gateway overhead and time to first byte). They are
// registered on the Registerer the composition root passes in; with none,
// they still count but nobody scrapes them.
type metrics struct {
	interceptions     *prometheus.CounterVec
	inflight          *prometheus.GaugeVec
	duration          *prometheus.HistogramVec
	passthrough       *prometheus.CounterVec
	prompts           *prometheus.CounterVec
	tokens            *prometheus.CounterVec
	injectedTools     *prometheus.CounterVec
	nonInjectedTools  *prometheus.CounterVec
	breakerState      *prometheus.GaugeVec
	breakerTrips      *prometheus.CounterVec
	breakerRejects    *prometheus.CounterVec
	overhead          *prometheus.HistogramVec
	ttfb              *prometheus.HistogramVec
	rejections        *prometheus.CounterVec
	recordsDropped    prometheus.CounterFunc
	recordQueueLength prometheus.GaugeFunc
	models            modelLabels
}

// maxModelLabels bounds the distinct model label values: model names come
// from clients, and every new one would create new series.
const maxModelLabels = 500

// modelLabels maps a requested model name to its label value: the name
// itself for the first maxModelLabels names seen, "other" after that.
type modelLabels struct {
	mu   sync.RWMutex
	seen map[string]struct{}
}

func (l *modelLabels) label(model string) string {
	l.mu.RLock()
	_, ok := l.seen[model]
	n := len(l.seen)
	l.mu.RUnlock()
	if ok {
		return model
	}
	if n >= maxModelLabels {
		return "other"
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string]struct{}{}
	}
	if len(l.seen) >= maxModelLabels {
		return "other"
	}
	l.seen[model] = struct{}{}
	return model
}

// Buckets for gateway overhead: tens of microseconds to tens of
// milliseconds.
var overheadBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1}

func newMetrics(reg prometheus.Registerer, rec *recorder) (*metrics, error) {
	m := &metrics{
		interceptions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "interceptions_total",
			Help: "Intercepted requests by outcome (completed or failed).",
		}, []string{"provider", "model", "status", "route", "method", "initiator_id", "client"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricsPrefix + "interceptions_inflight",
			Help: "Intercepted requests in progress.",
		}, []string{"provider", "model", "route"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricsPrefix + "interceptions_duration_seconds",
			Help:    "Duration of intercepted requests, upstream included.",
			Buckets: []float64{0.5, 2, 5, 15, 30, 60, 120},
		}, []string{"provider", "model"}),
		passthrough: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "passthrough_total",
			Help: "Requests relayed on passthrough routes.",
		}, []string{"provider", "route", "method"}),
		prompts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "prompts_total",
			Help: "User prompts recorded.",
		}, []string{"provider", "model", "initiator_id", "client"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "tokens_total",
			Help: "Tokens reported by the upstream, by type.",
		}, []string{"provider", "model", "type", "initiator_id", "client"}),
		injectedTools: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "injected_tool_invocations_total",
			Help: "Gateway-injected (MCP) tool calls; gantry injects none yet.",
		}, []string{"provider", "model", "server", "name"}),
		nonInjectedTools: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "non_injected_tool_selections_total",
			Help: "Client-defined tools the model chose to call.",
		}, []string{"provider", "model", "name"}),
		breakerState: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: MetricsPrefix + "circuit_breaker_state",
			Help: "Circuit breaker state: 0 closed, 0.5 half-open, 1 open.",
		}, []string{"provider", "endpoint", "model"}),
		breakerTrips: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "circuit_breaker_trips_total",
			Help: "Times a circuit breaker opened.",
		}, []string{"provider", "endpoint", "model"}),
		breakerRejects: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "circuit_breaker_rejects_total",
			Help: "Requests rejected by an open (or full half-open) breaker.",
		}, []string{"provider", "endpoint", "model"}),
		overhead: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricsPrefix + "gateway_overhead_seconds",
			Help:    "Time spent in gantry for a request, excluding the wait for the upstream and the streaming of its response.",
			Buckets: overheadBuckets,
		}, []string{"provider", "route"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    MetricsPrefix + "time_to_first_byte_seconds",
			Help:    "Time from the request's arrival to the first response byte relayed to the client.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2.5, 12),
		}, []string{"provider", "route"}),
		rejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: MetricsPrefix + "rejections_total",
			Help: "Requests the gateway answered itself, by reason.",
		}, []string{"provider", "reason"}),
		recordsDropped: prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: MetricsPrefix + "records_dropped_total",
			Help: "Interception records dropped (queue full, store failing, shutdown deadline).",
		}, func() float64 { return float64(rec.dropped.Load()) }),
		recordQueueLength: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: MetricsPrefix + "record_queue_length",
			Help: "Interception records waiting to be written.",
		}, func() float64 { return float64(len(rec.q)) }),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{
			m.interceptions, m.inflight, m.duration, m.passthrough, m.prompts, m.tokens,
			m.injectedTools, m.nonInjectedTools, m.breakerState, m.breakerTrips, m.breakerRejects,
			m.overhead, m.ttfb, m.rejections, m.recordsDropped, m.recordQueueLength,
		} {
			if err := reg.Register(c); err != nil {
				return nil, err
			}
		}
	}
	return m, nil
}
