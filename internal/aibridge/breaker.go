package aibridge

import (
	"log/slog"
	"net/http"
	"sync"
	"time"
)

// Circuit breaker (spec §7): one per provider instance and (route, model).
// It trips after FailureThreshold consecutive failures, where a failure is a
// status written to the client of 429, 503 or 504 (and 529 for Anthropic);
// open, it rejects without calling the upstream until Timeout has passed;
// half-open, it lets MaxRequests requests through and closes after as many
// consecutive successes, or opens again on the first failure. In the closed
// state the failure count is reset every Interval.

type breakerState int

const (
	stateClosed breakerState = iota
	stateHalfOpen
	stateOpen
)

func (s breakerState) String() string {
	switch s {
	case stateHalfOpen:
		return "half-open"
	case stateOpen:
		return "open"
	}
	return "closed"
}

// gauge is the exported value of the state.
func (s breakerState) gauge() float64 {
	switch s {
	case stateHalfOpen:
		return 0.5
	case stateOpen:
		return 1
	}
	return 0
}

// maxBreakers bounds the breakers kept per gateway.
const maxBreakers = 10000

type breakerKey struct {
	provider, endpoint, model string
}

type breaker struct {
	state       breakerState
	failures    int // consecutive, closed state
	windowStart time.Time
	openedAt    time.Time
	halfInFlight,
	halfSuccesses int
}

type breakers struct {
	cfg CircuitBreaker
	m   *metrics
	log *slog.Logger
	now func() time.Time

	mu  sync.Mutex
	set map[breakerKey]*breaker
}

// newBreakers takes cfg with its defaults set (Config.setDefaults).
func newBreakers(cfg CircuitBreaker, m *metrics, log *slog.Logger) *breakers {
	return &breakers{cfg: cfg, m: m, log: log, now: time.Now, set: map[breakerKey]*breaker{}}
}

// retryAfter is the Retry-After value of a rejection, in whole seconds.
func (bs *breakers) retryAfter() int { return max(1, int(bs.cfg.Timeout/time.Second)) }

func (bs *breakers) transition(k breakerKey, b *breaker, to breakerState, now time.Time) {
	from := b.state
	b.state = to
	b.failures, b.halfInFlight, b.halfSuccesses = 0, 0, 0
	b.windowStart = now
	if to == stateOpen {
		b.openedAt = now
		bs.m.breakerTrips.WithLabelValues(k.provider, k.endpoint, k.model).Inc()
	}
	bs.m.breakerState.WithLabelValues(k.provider, k.endpoint, k.model).Set(to.gauge())
	bs.log.Warn("aibridge: circuit breaker state change", "provider", k.provider, "endpoint", k.endpoint,
		"model", k.model, "from", from.String(), "to", to.String())
}

// allow reports whether a request may go upstream. When it may, the caller
// must report the outcome with done(status written to the client).
func (bs *breakers) allow(k breakerKey) bool {
	now := bs.now()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.set[k]
	if b == nil {
		// Model names come from clients; bound the set so they cannot
		// grow it without limit (a key past the bound is not protected).
		if len(bs.set) >= maxBreakers {
			return true
		}
		b = &breaker{windowStart: now}
		bs.set[k] = b
	}
	switch b.state {
	case stateOpen:
		if now.Sub(b.openedAt) < bs.cfg.Timeout {
			bs.m.breakerRejects.WithLabelValues(k.provider, k.endpoint, k.model).Inc()
			return false
		}
		bs.transition(k, b, stateHalfOpen, now)
		fallthrough
	case stateHalfOpen:
		if b.halfInFlight+b.halfSuccesses >= bs.cfg.MaxRequests {
			bs.m.breakerRejects.WithLabelValues(k.provider, k.endpoint, k.model).Inc()
			return false
		}
		b.halfInFlight++
	default:
		if now.Sub(b.windowStart) >= bs.cfg.Interval {
			b.failures, b.windowStart = 0, now
		}
	}
	return true
}

// done records the outcome of an allowed request.
func (bs *breakers) done(k breakerKey, failure bool) {
	now := bs.now()
	bs.mu.Lock()
	defer bs.mu.Unlock()
	b := bs.set[k]
	if b == nil {
		return
	}
	switch b.state {
	case stateHalfOpen:
		b.halfInFlight = max(0, b.halfInFlight-1)
		if failure {
			bs.transition(k, b, stateOpen, now)
			return
		}
		b.halfSuccesses++
		if b.halfSuccesses >= bs.cfg.MaxRequests {
			bs.transition(k, b, stateClosed, now)
		}
	case stateClosed:
		if !failure {
			b.failures = 0
			return
		}
		b.failures++
		if b.failures >= bs.cfg.FailureThreshold {
			bs.transition(k, b, stateOpen, now)
		}
	}
}

// isBreakerFailure: the statuses that mean "back off" for a provider type.
func isBreakerFailure(t ProviderType, status int) bool {
	switch status {
	case http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 529:
		return t == TypeAnthropic
	}
	return false
}
