package authn

import (
	"strings"
	"sync"
	"time"
)

// ThrottleOptions configure LoginThrottle. Zero fields take the defaults
// documented on each.
type ThrottleOptions struct {
	// Window is how long failures are remembered. Default 15m.
	Window time.Duration
	// AccountLimit is the number of failures for one account (email) within
	// Window after which that account's logins are refused. Default 5.
	AccountLimit int
	// AddressLimit is the same for one client address, across accounts.
	// Default 30.
	AddressLimit int
	// Lockout is the first refusal period; each further failure while at or
	// over a limit doubles it, up to MaxLockout. Defaults 1m and 15m.
	Lockout    time.Duration
	MaxLockout time.Duration
	// MaxEntries bounds memory per kind (accounts, addresses). Default 100000.
	MaxEntries int
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// LoginThrottle slows password guessing: it counts failed logins per account
// and per client address and refuses further attempts for a growing lockout
// once a limit is reached. A successful login clears the account's record
// (not the address's, so one valid account cannot be used to reset a
// spraying address). State is in memory per replica, so with N replicas an
// attacker spreading requests gets at most N times the limits.
type LoginThrottle struct {
	opts      ThrottleOptions
	mu        sync.Mutex
	accounts  map[string]*failures
	addresses map[string]*failures
}

type failures struct {
	count       int
	windowStart time.Time
	lockedUntil time.Time
}

// NewLoginThrottle returns a throttle with opts.
func NewLoginThrottle(opts ThrottleOptions) *LoginThrottle {
	if opts.Window <= 0 {
		opts.Window = 15 * time.Minute
	}
	if opts.AccountLimit <= 0 {
		opts.AccountLimit = 5
	}
	if opts.AddressLimit <= 0 {
		opts.AddressLimit = 30
	}
	if opts.Lockout <= 0 {
		opts.Lockout = time.Minute
	}
	if opts.MaxLockout < opts.Lockout {
		opts.MaxLockout = max(15*time.Minute, opts.Lockout)
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = 100000
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &LoginThrottle{
		opts:      opts,
		accounts:  make(map[string]*failures),
		addresses: make(map[string]*failures),
	}
}

// Allow reports whether a login for account from address may proceed, and
// if not, how long until it may.
func (t *LoginThrottle) Allow(account, address string) (retryAfter time.Duration, ok bool) {
	now := t.opts.Now()
	account = strings.ToLower(account)
	t.mu.Lock()
	defer t.mu.Unlock()
	var wait time.Duration
	if f := t.accounts[account]; f != nil && now.Before(f.lockedUntil) {
		wait = f.lockedUntil.Sub(now)
	}
	if f := t.addresses[address]; f != nil && now.Before(f.lockedUntil) {
		wait = max(wait, f.lockedUntil.Sub(now))
	}
	return wait, wait == 0
}

// Failure records a failed login.
func (t *LoginThrottle) Failure(account, address string) {
	now := t.opts.Now()
	account = strings.ToLower(account)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.fail(t.accounts, account, t.opts.AccountLimit, now)
	t.fail(t.addresses, address, t.opts.AddressLimit, now)
}

// Success clears the account's failures.
func (t *LoginThrottle) Success(account string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.accounts, strings.ToLower(account))
}

func (t *LoginThrottle) fail(m map[string]*failures, key string, limit int, now time.Time) {
	f := m[key]
	if f == nil {
		if len(m) >= t.opts.MaxEntries {
			t.prune(m, now)
		}
		f = &failures{windowStart: now}
		m[key] = f
	}
	if now.Sub(f.windowStart) > t.opts.Window && !now.Before(f.lockedUntil) {
		f.count, f.windowStart = 0, now
	}
	f.count++
	if f.count >= limit {
		lock := t.opts.Lockout
		for i := limit; i < f.count && lock < t.opts.MaxLockout; i++ {
			lock *= 2
		}
		lock = min(lock, t.opts.MaxLockout)
		f.lockedUntil = now.Add(lock)
		// Keep the record alive as long as the lockout lasts.
		f.windowStart = now
	}
}

// Entries is the number of tracked accounts and addresses.
func (t *LoginThrottle) Entries() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.accounts) + len(t.addresses)
}

// prune drops records that no longer matter, and if the map is still full,
// arbitrary ones: under a flood of distinct keys the throttle degrades to
// forgetting, never to unbounded memory.
func (t *LoginThrottle) prune(m map[string]*failures, now time.Time) {
	for k, f := range m {
		if now.Sub(f.windowStart) > t.opts.Window && !now.Before(f.lockedUntil) {
			delete(m, k)
		}
	}
	for k := range m {
		if len(m) < t.opts.MaxEntries*7/8 {
			break
		}
		delete(m, k)
	}
}
