package aibridge

import (
	"net/http"
	"sync"
	"time"
)

// Overload limits apply to intercepted routes only: passthrough calls (model
// lists, token counts) are cheap and must keep working for a client that is
// being throttled. Rejections are in the provider's own error shape, so the
// official SDKs back off exactly as they would against the provider.

func errAtCapacity() *gwError {
	return errUnavailable("AI Bridge is currently at capacity. Please try again later.", 1)
}

func errRateLimited(retryAfter int) *gwError {
	return &gwError{status: http.StatusTooManyRequests, anthropicType: "rate_limit_error", openAIType: "rate_limit_error",
		openAICode: "rate_limit_exceeded", message: "AI Bridge rate limit exceeded. Please try again later.", retryAfter: retryAfter}
}

// rateLimiter allows RateLimit intercepted requests per API key per second
// (a fixed one-second window). Keys are API key ids, never tokens.
type rateLimiter struct {
	limit int
	now   func() time.Time

	mu      sync.Mutex
	windows map[string]*rateWindow
}

type rateWindow struct {
	sec int64
	n   int
}

func newRateLimiter(limit int) *rateLimiter {
	return &rateLimiter{limit: limit, now: time.Now, windows: map[string]*rateWindow{}}
}

// allow counts one request for key and reports whether it is within the
// limit.
func (rl *rateLimiter) allow(key string) bool {
	sec := rl.now().Unix()
	rl.mu.Lock()
	defer rl.mu.Unlock()
	w := rl.windows[key]
	if w == nil {
		// Bound memory: drop windows of keys idle since an earlier second.
		if len(rl.windows) >= 4096 {
			for k, old := range rl.windows {
				if old.sec < sec {
					delete(rl.windows, k)
				}
			}
		}
		w = &rateWindow{sec: sec}
		rl.windows[key] = w
	}
	if w.sec != sec {
		w.sec, w.n = sec, 0
	}
	if w.n >= rl.limit {
		return false
	}
	w.n++
	return true
}
