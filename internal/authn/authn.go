// Package authn validates API tokens. It is the one place that decides
// whether "<id>-<secret>" names a live session, for the HTTP middleware and
// for the AI Bridge gateway alike.
//
// Hot path: a validated key is cached in memory (bounded size, short TTL).
// A cache hit costs one SHA-256 of the 22-byte secret, a constant-time
// compare and an expiry check; no database query. Writes that Coder makes on
// authenticated requests (last_used, the sliding expiry, the user's
// last_seen_at) happen at most once per UsageInterval per key, in a
// background goroutine, never on the request path.
//
// Consistency across replicas: this replica drops cached entries at once
// when it deletes a key or suspends, deletes or re-roles a user (the API
// calls InvalidateKey/InvalidateUser). Changes made by another replica are
// seen when the entry's TTL runs out, so they take effect within CacheTTL
// (default 5s) everywhere.
package authn

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"golang.org/x/sync/singleflight"

	"gantry/internal/apikey"
	"gantry/internal/authz"
	"gantry/internal/store"
)

// Messages and details of authentication failures; clients (the dashboard,
// the CLI) match on these, so they are Coder's exact strings.
const (
	MsgSignedOut      = "You are signed out or your session has expired. Please sign in again to continue."
	MsgInternal       = "An internal error occurred. Please try again or contact the system administrator."
	DetailNoToken     = `Cookie "coder_session_token" or query parameter must be provided.`
	DetailInvalidKey  = "API key is invalid."
	DetailWrongSecret = "API key secret is invalid."
	detailFormat      = "Invalid API key format: "
)

// Kind classifies an authentication failure.
type Kind int

const (
	// KindMissing: no token was presented.
	KindMissing Kind = iota + 1
	// KindMalformed: the token does not have Coder's shape.
	KindMalformed
	// KindInvalid: unknown key id, wrong secret, or the user is gone.
	KindInvalid
	// KindExpired: the key's expiry has passed.
	KindExpired
	// KindInactive: the user is suspended.
	KindInactive
	// KindInternal: the store failed; the cause is in Err, never shown.
	KindInternal
)

// Error is an authentication failure. Message and Detail are safe to show to
// the client; Err (for KindInternal) is not.
type Error struct {
	Kind    Kind
	Message string
	Detail  string
	Err     error
}

func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Message + " " + e.Detail
	}
	return e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// ErrUnauthenticated matches (with errors.Is) every failure that is the
// caller's fault: everything but KindInternal. Adapters such as the AI
// Bridge gateway map it to their own 401.
var ErrUnauthenticated = errors.New("unauthenticated")

// Is makes errors.Is(err, ErrUnauthenticated) hold for client failures.
func (e *Error) Is(target error) bool {
	return target == ErrUnauthenticated && e.Kind != KindInternal
}

// Identity is an authenticated caller.
type Identity struct {
	UserID   uuid.UUID
	Username string
	APIKeyID string
	// Roles are the user's stored site roles (the implicit member role is not
	// listed). The slice is shared with the cache: never modify it.
	Roles     []string
	LoginType store.LoginType
	ExpiresAt time.Time

	// user is the caller's record as read with the key (shared with the
	// cache, HashedPassword dropped).
	user *store.User
}

// User returns the caller's user record as read when the key was validated,
// without a query: it is as fresh as the validation itself (at most CacheTTL
// old, and dropped at once when this replica suspends, deletes or re-roles
// the user). HashedPassword is never set, and Roles is shared: do not modify
// it. ok is false for an Identity not made by an Authenticator.
func (i Identity) User() (u store.User, ok bool) {
	if i.user == nil {
		return store.User{}, false
	}
	return *i.user, true
}

// Subject returns the authorization subject of the identity.
func (i Identity) Subject() authz.Subject {
	return authz.Subject{UserID: i.UserID, Username: i.Username, Roles: i.Roles}
}

// Options configure an Authenticator.
type Options struct {
	Store  store.Store
	Logger *slog.Logger
	// Now is the clock for expiry decisions; default time.Now.
	Now func() time.Time
	// CacheTTL bounds how long a validated key is trusted without looking at
	// the database again; it is the cross-replica staleness bound. Default
	// 5s; negative disables the cache.
	CacheTTL time.Duration
	// CacheSize bounds the number of cached keys. Default 10000.
	CacheSize int
	// UsageInterval is how stale last_used may get before it is written.
	// Default 1h (Coder's value).
	UsageInterval time.Duration
	// DisableExpiryRefresh turns off the sliding expiry.
	DisableExpiryRefresh bool
	// MaxPendingWrites bounds concurrent background usage writes; extra ones
	// are skipped and retried after the next cache refresh. Default 16.
	MaxPendingWrites int
}

// Authenticator validates tokens. It is safe for concurrent use. Close it to
// wait for background writes.
type Authenticator struct {
	opts  Options
	log   *slog.Logger
	cache *cache
	loads singleflight.Group

	writeSem chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex               // guards inflight, closed
	inflight map[string]chan struct{} // closed when the key's write ends
	closed   bool
	// writing counts inflight entries, so requests skip mu when it is 0.
	writing atomic.Int32
}

// New returns an Authenticator over opts.Store.
func New(opts Options) *Authenticator {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.CacheTTL == 0 {
		opts.CacheTTL = 5 * time.Second
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = 10000
	}
	if opts.UsageInterval <= 0 {
		opts.UsageInterval = time.Hour
	}
	if opts.MaxPendingWrites <= 0 {
		opts.MaxPendingWrites = 16
	}
	return &Authenticator{
		opts:     opts,
		log:      opts.Logger,
		cache:    newCache(opts.CacheSize, opts.CacheTTL),
		writeSem: make(chan struct{}, opts.MaxPendingWrites),
		inflight: make(map[string]chan struct{}),
	}
}

// CacheTTL is the effective cache lifetime: the bound on how long a change
// made by another replica can go unnoticed here.
func (a *Authenticator) CacheTTL() time.Duration { return a.opts.CacheTTL }

// Authenticate validates token and returns who it belongs to. Failures are
// *Error.
func (a *Authenticator) Authenticate(ctx context.Context, token string) (Identity, error) {
	return a.AuthenticateFrom(ctx, token, "")
}

// AuthenticateFrom is Authenticate that also records the caller's address
// with the (hourly) usage write.
func (a *Authenticator) AuthenticateFrom(ctx context.Context, token, remoteIP string) (Identity, error) {
	if token == "" {
		return Identity{}, &Error{Kind: KindMissing, Message: MsgSignedOut, Detail: DetailNoToken}
	}
	id, secret, err := apikey.Split(token)
	if err != nil {
		return Identity{}, &Error{Kind: KindMalformed, Message: MsgSignedOut, Detail: detailFormat + err.Error()}
	}
	e, ok := a.cache.get(id)
	if !ok {
		if e, err = a.loadShared(ctx, id); err != nil {
			return Identity{}, err
		}
	}
	if !apikey.CompareSecret(e.hashedSecret, secret) {
		return Identity{}, &Error{Kind: KindInvalid, Message: MsgSignedOut, Detail: DetailWrongSecret}
	}
	if e.deleted {
		return Identity{}, &Error{Kind: KindInvalid, Message: MsgSignedOut, Detail: DetailInvalidKey}
	}
	now := a.opts.Now()
	if !now.Before(e.expiresAt) {
		return Identity{}, &Error{
			Kind: KindExpired, Message: MsgSignedOut,
			Detail: fmt.Sprintf("API key expired at %q.", e.expiresAt.String()),
		}
	}
	if e.status != store.UserStatusActive && e.status != store.UserStatusDormant {
		return Identity{}, &Error{
			Kind:    KindInactive,
			Message: fmt.Sprintf("User is not active (status = %q). Contact an admin to reactivate your account.", e.status),
		}
	}
	// A request that comes after one which started the (hourly) usage write
	// waits for it, so what it then reads (the key's last_used, the user's
	// last_seen_at) includes it. Rare; otherwise one atomic load.
	if a.writing.Load() > 0 {
		a.awaitWrite(ctx, id)
	}
	// The identity keeps the expiry it was validated against; its user
	// record shows the last_seen_at being written.
	cur := a.maybeRecordUsage(id, e, now, remoteIP)
	return Identity{
		UserID:    e.userID,
		Username:  e.username,
		APIKeyID:  id,
		Roles:     e.roles,
		LoginType: e.loginType,
		ExpiresAt: e.expiresAt,
		user:      cur.user,
	}, nil
}

// loadShared loads a key once for all concurrent requests that missed the
// cache for it: when a hot key's entry expires, a burst of requests costs
// one query, not one each. The load does not inherit the first caller's
// cancellation, since others may be waiting on it.
func (a *Authenticator) loadShared(ctx context.Context, id string) (*entry, error) {
	v, err, _ := a.loads.Do(id, func() (any, error) {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		gen := a.cache.generation()
		e, err := a.load(ctx, id)
		if err != nil {
			return nil, err
		}
		a.cache.put(id, e, gen)
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	e, ok := v.(*entry)
	if !ok {
		return nil, fmt.Errorf("load api key: shared load returned %T", v)
	}
	return e, nil
}

// load reads a key and its user from the store.
func (a *Authenticator) load(ctx context.Context, id string) (*entry, error) {
	k, err := a.opts.Store.GetAPIKeyByID(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Kind: KindInvalid, Message: MsgSignedOut, Detail: DetailInvalidKey}
	}
	if err != nil {
		return nil, &Error{Kind: KindInternal, Message: MsgInternal, Err: fmt.Errorf("get api key: %w", err)}
	}
	u, err := a.opts.Store.GetUserByID(ctx, k.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Kind: KindInvalid, Message: MsgSignedOut, Detail: DetailInvalidKey}
	}
	if err != nil {
		return nil, &Error{Kind: KindInternal, Message: MsgInternal, Err: fmt.Errorf("get user of api key: %w", err)}
	}
	u.HashedPassword = nil // never needed from here; keep it out of memory
	u.Roles = append([]string(nil), u.Roles...)
	return &entry{
		user:         &u,
		hashedSecret: k.HashedSecret,
		userID:       u.ID,
		username:     u.Username,
		roles:        u.Roles,
		status:       u.Status,
		deleted:      u.Deleted,
		loginType:    k.LoginType,
		expiresAt:    k.ExpiresAt.UTC(),
		lastUsed:     k.LastUsed.UTC(),
		lastSeen:     u.LastSeenAt.UTC(),
		lifetime:     time.Duration(k.LifetimeSeconds) * time.Second,
		ip:           k.IPAddress,
	}, nil
}

// CachedKeys is the number of keys in the cache (for metrics and tests).
func (a *Authenticator) CachedKeys() int { return a.cache.size() }

// InvalidateKey drops a key from the cache (call after deleting it).
func (a *Authenticator) InvalidateKey(id string) { a.cache.deleteKey(id) }

// ForgetKey drops a key from the cache and waits (bounded by ctx) until
// any background usage write for it has finished. Call it before changing a
// key's expiry, so a usage write that was already under way cannot land
// after the change and slide the expiry back.
func (a *Authenticator) ForgetKey(ctx context.Context, id string) error {
	a.cache.deleteKey(id)
	a.mu.Lock()
	done := a.inflight[id]
	a.mu.Unlock()
	if done == nil {
		return nil
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// awaitWrite waits, briefly, for a usage write of key id under way.
func (a *Authenticator) awaitWrite(ctx context.Context, id string) {
	a.mu.Lock()
	done := a.inflight[id]
	a.mu.Unlock()
	if done == nil {
		return
	}
	t := time.NewTimer(time.Second)
	defer t.Stop()
	select {
	case <-done:
	case <-ctx.Done():
	case <-t.C:
	}
}

// InvalidateUser drops every cached key of a user (call after suspending,
// deleting or re-roling them).
func (a *Authenticator) InvalidateUser(userID uuid.UUID) { a.cache.deleteUser(userID) }

// maybeRecordUsage schedules the hourly usage write when one is due and
// returns the entry the request should use. The cached entry is updated
// first, so concurrent requests do not schedule it again; if the write
// fails, the next cache refresh brings back the stored values and the write
// is retried.
func (a *Authenticator) maybeRecordUsage(id string, e *entry, now time.Time, ip string) *entry {
	interval := a.opts.UsageInterval
	keyDue := now.Sub(e.lastUsed) > interval
	newExpiry := e.expiresAt
	if !a.opts.DisableExpiryRefresh && e.lifetime > 0 && e.expiresAt.Sub(now) <= e.lifetime-interval {
		// Sliding expiry: at most one refresh per interval of use.
		newExpiry = truncate(now.Add(e.lifetime))
		keyDue = true
	}
	userDue := now.Sub(e.lastSeen) > interval
	if !keyDue && !userDue {
		return e
	}
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return e
	}
	if _, busy := a.inflight[id]; busy {
		a.mu.Unlock()
		return e
	}
	select {
	case a.writeSem <- struct{}{}:
	default:
		a.mu.Unlock()
		return e // saturated: skip; retried after the next cache refresh
	}
	done := make(chan struct{})
	a.inflight[id] = done
	a.writing.Add(1)
	a.wg.Add(1)
	a.mu.Unlock()

	stamp := truncate(now)
	if ip == "" {
		ip = e.ip
	}
	updated := *e
	if keyDue {
		updated.lastUsed = stamp
		updated.expiresAt = newExpiry
		updated.ip = ip
	}
	if userDue {
		updated.lastSeen = stamp
		u := *e.user
		u.LastSeenAt = stamp
		updated.user = &u
	}
	a.cache.replace(id, e, &updated)

	go func() {
		defer func() {
			a.mu.Lock()
			delete(a.inflight, id)
			a.writing.Add(-1)
			a.mu.Unlock()
			close(done)
			<-a.writeSem
			a.wg.Done()
		}()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if keyDue {
			err := a.opts.Store.UpdateAPIKeyUsage(ctx, id, store.APIKeyUsage{
				LastUsed: stamp, ExpiresAt: newExpiry, IPAddress: ip,
			})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				a.log.Warn("record api key usage", "api_key_id", id, "error", err)
			}
		}
		if userDue {
			_, err := a.opts.Store.UpdateUser(ctx, e.userID, store.UserUpdate{LastSeenAt: &stamp})
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				a.log.Warn("record user last seen", "user_id", e.userID, "error", err)
			}
		}
	}()
	return &updated
}

// Close stops scheduling background writes and waits for pending ones.
func (a *Authenticator) Close() {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	a.wg.Wait()
}

// truncate drops the monotonic clock reading and sub-microsecond digits, so
// a time computed here prints and compares like one read back from the
// database.
func truncate(t time.Time) time.Time { return t.UTC().Round(0).Truncate(time.Microsecond) }
