package httpmw

import (
	"fmt"
	"hash/maphash"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"

	"gantry/internal/httpapi"
	"gantry/sdk"
)

// BypassRateLimitHeader lets an owner skip the API rate limit (load tests,
// automation). Anyone else sending it gets 428.
const BypassRateLimitHeader = "X-Coder-Bypass-Ratelimit"

// Actor is the authenticated caller as the rate limiter sees it.
type Actor struct {
	UserID   uuid.UUID
	Username string
	// Owner reports whether the user may bypass the limit (the site-wide
	// owner role).
	Owner bool
}

// RateLimitOptions configure NewRateLimiter.
type RateLimitOptions struct {
	// Limit is the number of requests allowed per Window for one caller on one
	// endpoint. Zero or negative disables the limiter.
	Limit int64
	// Window defaults to one minute.
	Window time.Duration
	// Actor resolves the caller from the request's credentials. It must be
	// cheap (the authentication cache, never a database query per request).
	// Without it, or when it reports false, the caller is keyed by address.
	Actor func(r *http.Request) (Actor, bool)
	// ClientIP returns the caller's address; the default is the host part of
	// RemoteAddr.
	ClientIP func(r *http.Request) string
	// MaxKeys bounds the number of tracked (caller, endpoint) pairs; callers
	// beyond it share one bucket per caller. Default 1<<18.
	MaxKeys int
	// Now defaults to time.Now.
	Now func() time.Time
}

// RateLimiter limits requests per caller (user id when authenticated, else
// address) and per endpoint (the request path), like Coder's API limiter. It
// counts with a sliding window (the previous window's count weighted by how
// much of it still overlaps), which avoids the double burst a fixed window
// allows at its boundary.
type RateLimiter struct {
	limit   int64
	window  time.Duration
	actor   func(r *http.Request) (Actor, bool)
	ip      func(r *http.Request) string
	now     func() time.Time
	message string
	// limitHeader is X-Ratelimit-Limit's value, formatted once.
	limitHeader string
	seed        maphash.Seed
	shards      [rlShards]rlShard
	perCap      int
}

const rlShards = 32

type rlShard struct {
	mu        sync.Mutex
	buckets   map[string]*rlBucket
	lastSweep time.Time
}

type rlBucket struct {
	start time.Time // start of the current window
	curr  int64     // requests counted in the current window
	prev  int64     // requests counted in the previous window
}

// NewRateLimiter builds a limiter; a nil result means limiting is disabled
// and Middleware passes requests through.
func NewRateLimiter(o RateLimitOptions) *RateLimiter {
	if o.Limit <= 0 {
		return nil
	}
	if o.Window <= 0 {
		o.Window = time.Minute
	}
	if o.MaxKeys <= 0 {
		o.MaxKeys = 1 << 18
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.ClientIP == nil {
		o.ClientIP = RemoteIP
	}
	l := &RateLimiter{
		limit:       o.Limit,
		window:      o.Window,
		actor:       o.Actor,
		ip:          o.ClientIP,
		now:         o.Now,
		message:     fmt.Sprintf("You've been rate limited for sending more than %d requests in %v.", o.Limit, o.Window),
		limitHeader: strconv.FormatInt(o.Limit, 10),
		seed:        maphash.MakeSeed(),
		perCap:      max(o.MaxKeys/rlShards, 1),
	}
	for i := range l.shards {
		l.shards[i].buckets = make(map[string]*rlBucket)
	}
	return l
}

// RemoteIP returns the host part of r.RemoteAddr.
func RemoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// Middleware enforces the limit and sets X-Ratelimit-Limit, -Remaining and
// -Reset (Unix seconds at which the current window ends). A nil limiter
// passes every request through without headers.
func (l *RateLimiter) Middleware(next http.Handler) http.Handler {
	if l == nil {
		return next
	}
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		var identity string
		if l.actor != nil {
			if a, ok := l.actor(r); ok {
				SetUser(r.Context(), a.UserID, a.Username)
				if bypass, _ := strconv.ParseBool(r.Header.Get(BypassRateLimitHeader)); bypass {
					if !a.Owner {
						httpapi.Write(r.Context(), rw, http.StatusPreconditionRequired, sdk.Response{
							Message: fmt.Sprintf("%q provided but user is not owner", BypassRateLimitHeader),
						})
						return
					}
					next.ServeHTTP(rw, r)
					return
				}
				identity = "user:" + a.UserID.String()
			}
		}
		if identity == "" {
			identity = "ip:" + l.ip(r)
		}
		allowed, remaining, reset := l.take(identity, r.URL.Path)
		h := rw.Header()
		h.Set("X-Ratelimit-Limit", l.limitHeader)
		h.Set("X-Ratelimit-Remaining", strconv.FormatInt(remaining, 10))
		h.Set("X-Ratelimit-Reset", strconv.FormatInt(reset.Unix(), 10))
		if !allowed {
			retry := int64(math.Ceil(reset.Sub(l.now()).Seconds()))
			h.Set("Retry-After", strconv.FormatInt(max(retry, 1), 10))
			httpapi.Write(r.Context(), rw, http.StatusTooManyRequests, sdk.Response{Message: l.message})
			return
		}
		next.ServeHTTP(rw, r)
	})
}

// take counts one request for (identity, path) and reports whether it is
// allowed, how many remain and when the current window ends.
func (l *RateLimiter) take(identity, path string) (allowed bool, remaining int64, reset time.Time) {
	key := identity + " " + path
	sh := &l.shards[maphash.String(l.seed, identity)%rlShards]
	now := l.now()

	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.lastSweep) > l.window {
		sh.sweep(now, l.window)
	}
	b := sh.buckets[key]
	if b == nil {
		if len(sh.buckets) >= l.perCap {
			sh.sweep(now, l.window)
		}
		if len(sh.buckets) >= l.perCap {
			// Too many distinct endpoints (or callers): fold this caller's
			// remaining traffic into one bucket so memory stays bounded while
			// the caller is still limited.
			key = identity + " *"
			b = sh.buckets[key]
		}
		if b == nil {
			b = &rlBucket{start: now}
			sh.buckets[key] = b
		}
	}
	switch elapsed := now.Sub(b.start); {
	case elapsed >= 2*l.window:
		b.start, b.prev, b.curr = now, 0, 0
	case elapsed >= l.window:
		b.start, b.prev, b.curr = b.start.Add(l.window), b.curr, 0
	}
	overlap := 1 - float64(now.Sub(b.start))/float64(l.window)
	weighted := float64(b.prev) * overlap
	reset = b.start.Add(l.window)
	if weighted+float64(b.curr)+1 > float64(l.limit) {
		return false, 0, reset
	}
	b.curr++
	remaining = l.limit - int64(math.Ceil(weighted+float64(b.curr)))
	return true, max(remaining, 0), reset
}

// sweep drops buckets that can no longer influence a decision.
func (sh *rlShard) sweep(now time.Time, window time.Duration) {
	for k, b := range sh.buckets {
		if now.Sub(b.start) >= 2*window {
			delete(sh.buckets, k)
		}
	}
	sh.lastSweep = now
}
