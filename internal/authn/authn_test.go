package authn_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/apikey"
	"gantry/internal/authn"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// usageStore counts usage writes and key lookups.
type usageStore struct {
	store.Store
	lookups atomic.Int64
	usage   atomic.Int64
	lastSet atomic.Int64
	block   chan struct{} // if set, usage writes wait on it
}

func (s *usageStore) GetAPIKeyByID(ctx context.Context, id string) (store.APIKey, error) {
	s.lookups.Add(1)
	return s.Store.GetAPIKeyByID(ctx, id)
}

func (s *usageStore) UpdateAPIKeyUsage(ctx context.Context, id string, u store.APIKeyUsage) error {
	if s.block != nil {
		<-s.block
	}
	err := s.Store.UpdateAPIKeyUsage(ctx, id, u)
	s.usage.Add(1) // after the write, so waiting on the count waits for it
	return err
}

func (s *usageStore) UpdateUser(ctx context.Context, id uuid.UUID, u store.UserUpdate) (store.User, error) {
	got, err := s.Store.UpdateUser(ctx, id, u)
	if u.LastSeenAt != nil {
		s.lastSet.Add(1)
	}
	return got, err
}

func seed(t testing.TB, db store.Store, created time.Time, lifetime time.Duration, n int) (store.User, []string) {
	t.Helper()
	ctx := context.Background()
	u, err := db.InsertUser(ctx, store.User{
		ID: uuid.New(), Email: "a@example.com", Username: "a", Status: store.UserStatusActive,
		LoginType: store.LoginTypePassword, Roles: []string{"owner"}, CreatedAt: created, UpdatedAt: created, LastSeenAt: created,
	})
	require.NoError(t, err)
	tokens := make([]string, 0, n)
	for i := range n {
		tok, err := apikey.Generate()
		require.NoError(t, err)
		_, err = db.InsertAPIKey(ctx, store.APIKey{
			ID: tok.ID, HashedSecret: tok.HashedSecret, UserID: u.ID, LastUsed: time.Unix(0, 0).UTC(),
			ExpiresAt: created.Add(lifetime), CreatedAt: created, UpdatedAt: created,
			LoginType: store.LoginTypeToken, LifetimeSeconds: int64(lifetime / time.Second),
			TokenName: fmt.Sprintf("t%d", i), Scopes: []string{"coder:all"},
		})
		require.NoError(t, err)
		tokens = append(tokens, tok.String())
	}
	return u, tokens
}

func TestSlidingExpiryAndUsage(t *testing.T) {
	t.Parallel()
	start := time.Now().UTC().Truncate(time.Microsecond)
	clock := &fakeClock{now: start}
	db := &usageStore{Store: dbtest.New(t)}
	u, toks := seed(t, db, start, 24*time.Hour, 1)
	a := authn.New(authn.Options{Store: db, Now: clock.Now, CacheTTL: time.Hour})
	ctx := t.Context()
	id, _, _ := apikey.Split(toks[0])

	ident, err := a.Authenticate(ctx, toks[0])
	require.NoError(t, err)
	require.Equal(t, u.ID, ident.UserID)
	require.Equal(t, "a", ident.Username)
	require.Equal(t, id, ident.APIKeyID)
	require.Equal(t, []string{"owner"}, ident.Roles)
	require.True(t, ident.Subject().IsOwner())
	// First use: last_used was never set, so one write is scheduled.
	require.Eventually(t, func() bool { return db.usage.Load() == 1 }, 5*time.Second, 5*time.Millisecond)
	k, err := db.GetAPIKeyByID(ctx, id)
	require.NoError(t, err)
	require.Equal(t, start, k.LastUsed)
	require.Equal(t, start.Add(24*time.Hour), k.ExpiresAt, "no slide before an hour has passed")

	// Within the hour: no writes however often the key is used.
	clock.Advance(30 * time.Minute)
	for range 20 {
		_, err = a.Authenticate(ctx, toks[0])
		require.NoError(t, err)
	}
	a.Close() // waits for any pending write
	require.Equal(t, int64(1), db.usage.Load())

	// After two hours: last_used and the sliding expiry are written once.
	a = authn.New(authn.Options{Store: db, Now: clock.Now, CacheTTL: time.Hour})
	t.Cleanup(a.Close)
	clock.Advance(90 * time.Minute)
	for range 5 {
		ident, err = a.Authenticate(ctx, toks[0])
		require.NoError(t, err)
	}
	now := clock.Now()
	require.Equal(t, now.Add(24*time.Hour), ident.ExpiresAt)
	require.Eventually(t, func() bool { return db.usage.Load() == 2 }, 5*time.Second, 5*time.Millisecond)
	k, err = db.GetAPIKeyByID(ctx, id)
	require.NoError(t, err)
	require.Equal(t, now, k.LastUsed)
	require.Equal(t, now.Add(24*time.Hour), k.ExpiresAt)
	// The user's last_seen_at follows in the same background write.
	require.Eventually(t, func() bool { return db.lastSet.Load() == 1 }, 5*time.Second, 5*time.Millisecond)

	// Expiry: the exact Coder detail.
	clock.Advance(25 * time.Hour)
	_, err = a.Authenticate(ctx, toks[0])
	var ae *authn.Error
	require.True(t, errors.As(err, &ae))
	require.Equal(t, authn.KindExpired, ae.Kind)
	require.Equal(t, `API key expired at "`+now.Add(24*time.Hour).String()+`".`, ae.Detail)
	require.NotContains(t, ae.Detail, "m=+", "no monotonic clock reading in the message")
}

func TestDisableExpiryRefresh(t *testing.T) {
	t.Parallel()
	start := time.Now().UTC().Truncate(time.Microsecond)
	clock := &fakeClock{now: start}
	db := &usageStore{Store: dbtest.New(t)}
	_, toks := seed(t, db, start, 24*time.Hour, 1)
	a := authn.New(authn.Options{Store: db, Now: clock.Now, DisableExpiryRefresh: true})
	clock.Advance(5 * time.Hour)
	ident, err := a.Authenticate(t.Context(), toks[0])
	require.NoError(t, err)
	require.Equal(t, start.Add(24*time.Hour), ident.ExpiresAt)
	a.Close()
	id, _, _ := apikey.Split(toks[0])
	k, err := db.GetAPIKeyByID(t.Context(), id)
	require.NoError(t, err)
	require.Equal(t, start.Add(24*time.Hour), k.ExpiresAt)
	require.Equal(t, start.Add(5*time.Hour), k.LastUsed, "last_used is still recorded")
}

func TestCacheBoundAndInvalidation(t *testing.T) {
	t.Parallel()
	db := &usageStore{Store: dbtest.New(t)}
	u, toks := seed(t, db, time.Now().UTC(), time.Hour, 40)
	a := authn.New(authn.Options{Store: db, CacheSize: 16, CacheTTL: time.Hour})
	t.Cleanup(a.Close)
	ctx := t.Context()
	for _, tok := range toks {
		_, err := a.Authenticate(ctx, tok)
		require.NoError(t, err)
		require.LessOrEqual(t, a.CachedKeys(), 16)
	}
	require.Positive(t, a.CachedKeys())

	// Cached: no lookup. Invalidated: one lookup.
	last := toks[len(toks)-1]
	before := db.lookups.Load()
	_, err := a.Authenticate(ctx, last)
	require.NoError(t, err)
	require.Equal(t, before, db.lookups.Load())
	a.InvalidateUser(u.ID)
	require.Zero(t, a.CachedKeys())
	_, err = a.Authenticate(ctx, last)
	require.NoError(t, err)
	require.Equal(t, before+1, db.lookups.Load())

	id, _, _ := apikey.Split(last)
	require.NoError(t, db.DeleteAPIKey(ctx, id))
	_, err = a.Authenticate(ctx, last)
	require.NoError(t, err, "still cached: the TTL is the staleness bound")
	a.InvalidateKey(id)
	_, err = a.Authenticate(ctx, last)
	var ae *authn.Error
	require.True(t, errors.As(err, &ae))
	require.Equal(t, authn.KindInvalid, ae.Kind)
	require.Equal(t, authn.DetailInvalidKey, ae.Detail)
}

func TestCacheTTL(t *testing.T) {
	t.Parallel()
	db := &usageStore{Store: dbtest.New(t)}
	_, toks := seed(t, db, time.Now().UTC(), time.Hour, 1)
	a := authn.New(authn.Options{Store: db, CacheTTL: 50 * time.Millisecond})
	t.Cleanup(a.Close)
	_, err := a.Authenticate(t.Context(), toks[0])
	require.NoError(t, err)
	require.Equal(t, 50*time.Millisecond, a.CacheTTL())
	id, _, _ := apikey.Split(toks[0])
	require.NoError(t, db.DeleteAPIKey(t.Context(), id))
	require.Eventually(t, func() bool {
		_, err := a.Authenticate(t.Context(), toks[0])
		return err != nil
	}, 5*time.Second, 10*time.Millisecond)
}

func TestCloseWaitsForWrites(t *testing.T) {
	t.Parallel()
	db := &usageStore{Store: dbtest.New(t), block: make(chan struct{})}
	_, toks := seed(t, db, time.Now().UTC(), time.Hour, 1)
	a := authn.New(authn.Options{Store: db})
	_, err := a.Authenticate(t.Context(), toks[0])
	require.NoError(t, err)
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
		t.Fatal("Close returned while a write was pending")
	case <-time.After(50 * time.Millisecond):
	}
	close(db.block)
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	require.Equal(t, int64(1), db.usage.Load())
}

func TestErrors(t *testing.T) {
	t.Parallel()
	a := authn.New(authn.Options{Store: dbtest.New(t)})
	t.Cleanup(a.Close)
	for tok, detail := range map[string]string{
		"":                                      authn.DetailNoToken,
		"abc":                                   "Invalid API key format: incorrect amount of API key parts, expected 2 got 1",
		"ZZZZZZZZZZ-" + strings.Repeat("x", 22): authn.DetailInvalidKey,
	} {
		_, err := a.Authenticate(t.Context(), tok)
		var ae *authn.Error
		require.True(t, errors.As(err, &ae))
		require.Equal(t, authn.MsgSignedOut, ae.Message)
		require.Equal(t, detail, ae.Detail)
		require.Contains(t, ae.Error(), detail)
		require.ErrorIs(t, err, authn.ErrUnauthenticated)
	}
	internal := &authn.Error{Kind: authn.KindInternal, Message: authn.MsgInternal, Err: errors.New("db down")}
	require.NotErrorIs(t, internal, authn.ErrUnauthenticated)
}

func BenchmarkAuthenticate(b *testing.B) {
	for _, bc := range []struct {
		name string
		ttl  time.Duration
	}{{"Cached", time.Hour}, {"Uncached", -1}} {
		b.Run(bc.name, func(b *testing.B) {
			db := dbtest.New(b)
			_, toks := seed(b, db, time.Now().UTC(), 24*time.Hour, 1)
			a := authn.New(authn.Options{Store: db, CacheTTL: bc.ttl})
			b.Cleanup(a.Close)
			ctx := context.Background()
			if _, err := a.Authenticate(ctx, toks[0]); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := a.Authenticate(ctx, toks[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("CachedParallel", func(b *testing.B) {
		db := dbtest.New(b)
		_, toks := seed(b, db, time.Now().UTC(), 24*time.Hour, 1)
		a := authn.New(authn.Options{Store: db, CacheTTL: time.Hour})
		b.Cleanup(a.Close)
		ctx := context.Background()
		if _, err := a.Authenticate(ctx, toks[0]); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := a.Authenticate(ctx, toks[0]); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// slowStore delays key lookups so concurrent misses overlap.
type slowStore struct {
	store.Store
	lookups atomic.Int64
}

func (s *slowStore) GetAPIKeyByID(ctx context.Context, id string) (store.APIKey, error) {
	s.lookups.Add(1)
	time.Sleep(200 * time.Millisecond)
	return s.Store.GetAPIKeyByID(ctx, id)
}

func TestConcurrentMissesShareOneLoad(t *testing.T) {
	t.Parallel()
	db := &slowStore{Store: dbtest.New(t)}
	_, toks := seed(t, db, time.Now().UTC(), time.Hour, 1)
	a := authn.New(authn.Options{Store: db})
	t.Cleanup(a.Close)
	var wg sync.WaitGroup
	errs := make(chan error, 32)
	for range 32 {
		wg.Go(func() {
			_, err := a.Authenticate(t.Context(), toks[0])
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	require.Equal(t, int64(1), db.lookups.Load())
}

// TestFollowingRequestWaitsForUsageWrite: a request made while a key's
// usage write is under way returns after the write (so it reads it), and the
// wait is bounded.
func TestFollowingRequestWaitsForUsageWrite(t *testing.T) {
	t.Parallel()
	db := &usageStore{Store: dbtest.New(t), block: make(chan struct{})}
	u, toks := seed(t, db, time.Now().UTC(), time.Hour, 1)
	a := authn.New(authn.Options{Store: db})
	t.Cleanup(a.Close)
	id, err := a.Authenticate(t.Context(), toks[0]) // starts the write, does not wait
	require.NoError(t, err)
	self, ok := id.User()
	require.True(t, ok)
	require.Equal(t, u.ID, self.ID)
	require.WithinDuration(t, time.Now(), self.LastSeenAt, time.Minute, "the cached user shows the last_seen_at being written")

	done := make(chan error, 1)
	go func() { _, err := a.Authenticate(t.Context(), toks[0]); done <- err }()
	select {
	case err := <-done:
		t.Fatalf("returned (%v) while the usage write was pending", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(db.block)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("did not return after the write")
	}
	require.Equal(t, int64(1), db.usage.Load())
}
