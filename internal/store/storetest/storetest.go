// Package storetest is the conformance suite every store.Store backend
// passes. Backends call Run from their own tests with a function that opens a
// fresh, empty, migrated store.
package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/store"
)

// Opener returns a new empty store private to the test; the opener arranges
// for it to be closed at cleanup.
type Opener func(t *testing.T) store.Store

// Run runs the whole suite. Subtests run in parallel, each on its own store.
func Run(t *testing.T, open Opener) {
	t.Helper()
	tests := []struct {
		name string
		fn   func(t *testing.T, s store.Store)
	}{
		{"Basics", testBasics},
		{"SiteConfig", testSiteConfig},
		{"SiteConfigRace", testSiteConfigRace},
		{"DefaultOrganization", testDefaultOrganization},
		{"DefaultOrganizationRace", testDefaultOrganizationRace},
		{"InsertUser", testInsertUser},
		{"UserUniqueness", testUserUniqueness},
		{"DeletedUsers", testDeletedUsers},
		{"UpdateUser", testUpdateUser},
		{"ListUsers", testListUsers},
		{"ListUsersCursor", testListUsersCursor},
		{"InsertFirstUser", testInsertFirstUser},
		{"InsertFirstUserRace", testInsertFirstUserRace},
		{"ConcurrentWrites", testConcurrentWrites},
		{"TimePrecision", testTimePrecision},
		{"APIKeys", testAPIKeys},
		{"APIKeyNames", testAPIKeyNames},
		{"ListAPIKeys", testListAPIKeys},
		{"APIKeyUsageAndDelete", testAPIKeyUsageAndDelete},
		{"DeleteExpiredAPIKeys", testDeleteExpiredAPIKeys},
		{"AIBridgeBatch", testAIBridgeBatch},
		{"AIBridgeBatchIdempotent", testAIBridgeBatchIdempotent},
		{"AIBridgeInsertedEnded", testAIBridgeInsertedEnded},
		{"AIBridgeBatchAtomic", testAIBridgeBatchAtomic},
		{"AIBridgeLargeBatch", testAIBridgeLargeBatch},
		{"ListInterceptionsFilters", testListInterceptionsFilters},
		{"ListInterceptionsPaging", testListInterceptionsPaging},
		{"DeleteInterceptionsBefore", testDeleteInterceptionsBefore},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.fn(t, open(t))
		})
	}
}

// base is a fixed instant with nanoseconds, to show truncation to µs.
var base = time.Date(2026, time.March, 4, 5, 6, 7, 123456789, time.UTC)

func us(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	t.Cleanup(cancel)
	return c
}

func mkUser(t *testing.T, s store.Store, username string, mods ...func(*store.User)) store.User {
	t.Helper()
	u := store.User{
		Username:       username,
		Email:          username + "@example.com",
		Name:           "Name " + username,
		HashedPassword: []byte("hash-" + username),
		LoginType:      store.LoginTypePassword,
		Status:         store.UserStatusActive,
	}
	for _, m := range mods {
		m(&u)
	}
	got, err := s.InsertUser(ctx(t), u)
	require.NoError(t, err)
	return got
}

func conflictField(t *testing.T, err error) string {
	t.Helper()
	require.ErrorIs(t, err, store.ErrConflict)
	var ce *store.ConflictError
	require.True(t, errors.As(err, &ce), "want *store.ConflictError, got %v", err)
	return ce.Field
}

func testBasics(t *testing.T, s store.Store) {
	require.NoError(t, s.Ping(ctx(t)))
	require.Contains(t, []string{"sqlite", "postgres"}, s.Backend())
}

func testSiteConfig(t *testing.T, s store.Store) {
	c := ctx(t)
	_, err := s.GetSiteConfig(c, "deployment_id")
	require.ErrorIs(t, err, store.ErrNotFound)

	v, err := s.EnsureSiteConfig(c, "deployment_id", "first")
	require.NoError(t, err)
	require.Equal(t, "first", v)
	v, err = s.EnsureSiteConfig(c, "deployment_id", "second")
	require.NoError(t, err)
	require.Equal(t, "first", v, "Ensure must not overwrite")

	require.NoError(t, s.UpsertSiteConfig(c, "deployment_id", "third"))
	v, err = s.GetSiteConfig(c, "deployment_id")
	require.NoError(t, err)
	require.Equal(t, "third", v)

	require.NoError(t, s.UpsertSiteConfig(c, "update_check", `{"version":"v1"}`))
	v, err = s.GetSiteConfig(c, "update_check")
	require.NoError(t, err)
	require.Equal(t, `{"version":"v1"}`, v)
	v, err = s.GetSiteConfig(c, "deployment_id")
	require.NoError(t, err)
	require.Equal(t, "third", v, "keys are independent")
}

// race runs fn from n goroutines released at once and returns their results.
func race[T any](t *testing.T, n int, fn func(i int) (T, error)) ([]T, []error) {
	t.Helper()
	vals := make([]T, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			vals[i], errs[i] = fn(i)
		})
	}
	close(start)
	wg.Wait()
	return vals, errs
}

const racers = 8

func testSiteConfigRace(t *testing.T, s store.Store) {
	c := ctx(t)
	vals, errs := race(t, racers, func(i int) (string, error) {
		return s.EnsureSiteConfig(c, "deployment_id", fmt.Sprintf("value-%d", i))
	})
	for i := range racers {
		require.NoError(t, errs[i])
		require.Equal(t, vals[0], vals[i], "every racer sees the winner's value")
	}
	stored, err := s.GetSiteConfig(c, "deployment_id")
	require.NoError(t, err)
	require.Equal(t, vals[0], stored)
	require.Regexp(t, `^value-[0-7]$`, stored)
}

func testDefaultOrganization(t *testing.T, s store.Store) {
	c := ctx(t)
	o, err := s.DefaultOrganization(c)
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, o.ID)
	require.True(t, o.IsDefault)
	require.NotEmpty(t, o.Name)
	require.False(t, o.CreatedAt.IsZero())
	require.Equal(t, time.UTC, o.CreatedAt.Location())
	again, err := s.DefaultOrganization(c)
	require.NoError(t, err)
	require.Equal(t, o, again)
}

func testDefaultOrganizationRace(t *testing.T, s store.Store) {
	c := ctx(t)
	orgs, errs := race(t, racers, func(int) (store.Organization, error) { return s.DefaultOrganization(c) })
	for i := range racers {
		require.NoError(t, errs[i])
		require.Equal(t, orgs[0].ID, orgs[i].ID, "exactly one default organization")
	}
}

func testInsertUser(t *testing.T, s store.Store) {
	c := ctx(t)
	in := store.User{
		Username:       "Alice",
		Email:          "Alice@Example.com",
		Name:           "Alice A.",
		AvatarURL:      "https://example.com/a.png",
		HashedPassword: []byte("$argon2id$v=19$..."),
		LoginType:      store.LoginTypePassword,
		Roles:          []string{"owner", "member", "auditor", "owner"},
		CreatedAt:      base,
		UpdatedAt:      base.Add(time.Second),
		LastSeenAt:     base.Add(2 * time.Second),
	}
	u, err := s.InsertUser(c, in)
	require.NoError(t, err)
	require.NotEqual(t, uuid.Nil, u.ID, "an ID is generated")
	require.Equal(t, store.UserStatusActive, u.Status, "status defaults to active")
	require.Equal(t, []string{"owner", "auditor"}, u.Roles, "member is implicit; duplicates dropped")
	require.Equal(t, us(base), u.CreatedAt)
	require.False(t, u.Deleted)

	got, err := s.GetUserByID(c, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
	got, err = s.GetUserByUsername(c, "aLiCe")
	require.NoError(t, err)
	require.Equal(t, u, got)
	got, err = s.GetUserByEmail(c, "alice@EXAMPLE.COM")
	require.NoError(t, err)
	require.Equal(t, u, got)

	_, err = s.GetUserByID(c, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetUserByUsername(c, "bob")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetUserByEmail(c, "bob@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetUserByEmail(c, "")
	require.ErrorIs(t, err, store.ErrNotFound)

	// A caller-chosen ID is kept; no roles come back as an empty list; a
	// user without a password reads back without one.
	id := uuid.New()
	b, err := s.InsertUser(c, store.User{ID: id, Username: "bob", Email: "bob@example.com", LoginType: store.LoginTypeNone})
	require.NoError(t, err)
	require.Equal(t, id, b.ID)
	got, err = s.GetUserByID(c, id)
	require.NoError(t, err)
	require.Equal(t, []string{}, got.Roles)
	require.Empty(t, got.HashedPassword)
	require.Equal(t, store.LoginTypeNone, got.LoginType)
	require.True(t, got.LastSeenAt.IsZero(), "zero time round-trips as zero: %v", got.LastSeenAt)

	n, err := s.CountUsers(c)
	require.NoError(t, err)
	require.EqualValues(t, 2, n)

	// Reusing an ID conflicts.
	_, err = s.InsertUser(c, store.User{ID: id, Username: "carol", Email: "carol@example.com"})
	require.Equal(t, "id", conflictField(t, err))
}

func testUserUniqueness(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "alice")
	_, err := s.InsertUser(c, store.User{Username: "ALICE", Email: "other@example.com"})
	require.Equal(t, "username", conflictField(t, err))
	_, err = s.InsertUser(c, store.User{Username: "alice2", Email: "Alice@Example.COM"})
	require.Equal(t, "email", conflictField(t, err))

	// Users without an email do not collide with each other.
	mkUser(t, s, "noemail1", func(u *store.User) { u.Email = "" })
	mkUser(t, s, "noemail2", func(u *store.User) { u.Email = "" })

	// Renaming onto a taken name conflicts, case-insensitively.
	b := mkUser(t, s, "bob")
	_, err = s.UpdateUser(c, b.ID, store.UserUpdate{Username: ptr("Alice")})
	require.Equal(t, "username", conflictField(t, err))
	_, err = s.UpdateUser(c, b.ID, store.UserUpdate{Email: ptr("ALICE@example.com")})
	require.Equal(t, "email", conflictField(t, err))
	got, err := s.GetUserByID(c, b.ID)
	require.NoError(t, err)
	require.Equal(t, "bob", got.Username, "a failed update changes nothing")
}

func testDeletedUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	mkUser(t, s, "bob")
	del, err := s.UpdateUser(c, a.ID, store.UserUpdate{Deleted: ptr(true)})
	require.NoError(t, err)
	require.True(t, del.Deleted)

	got, err := s.GetUserByID(c, a.ID)
	require.NoError(t, err, "GetUserByID sees deleted users")
	require.True(t, got.Deleted)
	_, err = s.GetUserByUsername(c, "alice")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetUserByEmail(c, "alice@example.com")
	require.ErrorIs(t, err, store.ErrNotFound)
	n, err := s.CountUsers(c)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)
	users, total, err := s.ListUsers(c, store.UserFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Equal(t, []string{"bob"}, usernames(users))

	// The name and email are free again.
	again := mkUser(t, s, "Alice")
	require.NotEqual(t, a.ID, again.ID)
	got, err = s.GetUserByUsername(c, "alice")
	require.NoError(t, err)
	require.Equal(t, again.ID, got.ID)
}

func ptr[T any](v T) *T { return &v }

// pluck maps xs through f, e.g. users to usernames.
func pluck[T, V any](xs []T, f func(T) V) []V {
	out := make([]V, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

func usernames(us []store.User) []string {
	return pluck(us, func(u store.User) string { return u.Username })
}

func keyIDs(keys []store.APIKey) []string {
	return pluck(keys, func(k store.APIKey) string { return k.ID })
}

func interceptionIDs(ds []store.InterceptionDetail) []uuid.UUID {
	return pluck(ds, func(d store.InterceptionDetail) uuid.UUID { return d.ID })
}

func testUpdateUser(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice", func(u *store.User) { u.CreatedAt = base; u.UpdatedAt = base })

	_, err := s.UpdateUser(c, uuid.New(), store.UserUpdate{Name: ptr("x")})
	require.ErrorIs(t, err, store.ErrNotFound)

	// An empty update only touches updated_at.
	same, err := s.UpdateUser(c, u.ID, store.UserUpdate{})
	require.NoError(t, err)
	require.True(t, same.UpdatedAt.After(u.UpdatedAt))
	same.UpdatedAt = u.UpdatedAt
	require.Equal(t, u, same)

	seen := base.Add(time.Hour + 987*time.Nanosecond)
	up, err := s.UpdateUser(c, u.ID, store.UserUpdate{
		Email:          ptr("new@example.com"),
		Username:       ptr("alice2"),
		Name:           ptr("New Name"),
		AvatarURL:      ptr("https://example.com/new.png"),
		HashedPassword: []byte("new-hash"),
		Status:         ptr(store.UserStatusSuspended),
		Roles:          ptr([]string{"user-admin", "member"}),
		LastSeenAt:     &seen,
	})
	require.NoError(t, err)
	require.Equal(t, "new@example.com", up.Email)
	require.Equal(t, "alice2", up.Username)
	require.Equal(t, "New Name", up.Name)
	require.Equal(t, "https://example.com/new.png", up.AvatarURL)
	require.Equal(t, []byte("new-hash"), up.HashedPassword)
	require.Equal(t, store.UserStatusSuspended, up.Status)
	require.Equal(t, []string{"user-admin"}, up.Roles)
	require.Equal(t, us(seen), up.LastSeenAt)
	require.Equal(t, u.CreatedAt, up.CreatedAt)
	got, err := s.GetUserByID(c, u.ID)
	require.NoError(t, err)
	require.Equal(t, up, got, "the returned row is the stored row")

	// Clearing roles stores an empty list.
	up, err = s.UpdateUser(c, u.ID, store.UserUpdate{Roles: ptr([]string(nil))})
	require.NoError(t, err)
	require.Equal(t, []string{}, up.Roles)
	require.Equal(t, "alice2", up.Username, "fields not in the update stay")
}

func testListUsers(t *testing.T, s store.Store) {
	c := ctx(t)
	mkUser(t, s, "carol", func(u *store.User) { u.Roles = []string{"auditor"} })
	mkUser(t, s, "Alice", func(u *store.User) { u.Roles = []string{"owner"} })
	mkUser(t, s, "bob", func(u *store.User) { u.Status = store.UserStatusSuspended; u.Email = "robert@corp.test" })
	mkUser(t, s, "dave_x", func(u *store.User) { u.Roles = []string{"owner", "user-admin"} })
	mkUser(t, s, "davexx")
	mkUser(t, s, "a-b")

	list := func(f store.UserFilter) ([]string, int64) {
		t.Helper()
		users, total, err := s.ListUsers(c, f)
		require.NoError(t, err)
		return usernames(users), total
	}
	names, total := list(store.UserFilter{})
	require.Equal(t, []string{"a-b", "Alice", "bob", "carol", "dave_x", "davexx"}, names, "ordered by username, case-insensitively")
	require.EqualValues(t, 6, total)

	names, total = list(store.UserFilter{Search: "ALI"})
	require.Equal(t, []string{"Alice"}, names)
	require.EqualValues(t, 1, total)
	names, _ = list(store.UserFilter{Search: "corp.TEST"})
	require.Equal(t, []string{"bob"}, names, "search matches email too")
	names, _ = list(store.UserFilter{Search: "_"})
	require.Equal(t, []string{"dave_x"}, names, "LIKE wildcards are literal")
	names, _ = list(store.UserFilter{Search: "%"})
	require.Empty(t, names)

	names, total = list(store.UserFilter{Status: store.UserStatusSuspended})
	require.Equal(t, []string{"bob"}, names)
	require.EqualValues(t, 1, total)
	names, _ = list(store.UserFilter{Role: "owner"})
	require.Equal(t, []string{"Alice", "dave_x"}, names)
	names, _ = list(store.UserFilter{Role: "user-admin"})
	require.Equal(t, []string{"dave_x"}, names)
	names, _ = list(store.UserFilter{Role: "member"})
	require.Len(t, names, 6, "everyone is a member")
	names, _ = list(store.UserFilter{Role: "own"})
	require.Empty(t, names, "roles match exactly")
	names, total = list(store.UserFilter{Role: "owner", Search: "dave"})
	require.Equal(t, []string{"dave_x"}, names)
	require.EqualValues(t, 1, total)

	names, total = list(store.UserFilter{Offset: 1, Limit: 2})
	require.Equal(t, []string{"Alice", "bob"}, names)
	require.EqualValues(t, 6, total, "total ignores paging")
	names, _ = list(store.UserFilter{Offset: 4})
	require.Equal(t, []string{"dave_x", "davexx"}, names, "offset without limit")
	names, total = list(store.UserFilter{Offset: 10, Limit: 5})
	require.Empty(t, names)
	require.EqualValues(t, 6, total)
}

func testListUsersCursor(t *testing.T, s store.Store) {
	c := ctx(t)
	want := []string{"u00", "u01", "U02", "u03", "u04", "u05", "u06"}
	for _, n := range []string{"u04", "U02", "u00", "u06", "u01", "u05", "u03"} {
		mkUser(t, s, n)
	}
	var got []string
	var after uuid.UUID
	for range len(want) + 2 { // bounded: a cursor bug cannot loop forever
		users, total, err := s.ListUsers(c, store.UserFilter{AfterID: after, Limit: 3})
		require.NoError(t, err)
		require.EqualValues(t, len(want), total)
		if len(users) == 0 {
			break
		}
		got = append(got, usernames(users)...)
		after = users[len(users)-1].ID
	}
	require.Equal(t, want, got, "the cursor walks every user once, in order")

	_, _, err := s.ListUsers(c, store.UserFilter{AfterID: uuid.New()})
	require.ErrorIs(t, err, store.ErrNotFound, "an unknown cursor is reported")
}

func testInsertFirstUser(t *testing.T, s store.Store) {
	c := ctx(t)
	u, err := s.InsertFirstUser(c, store.User{Username: "admin", Email: "admin@example.com", Roles: []string{"owner"}})
	require.NoError(t, err)
	got, err := s.GetUserByID(c, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
	require.Equal(t, []string{"owner"}, got.Roles)

	_, err = s.InsertFirstUser(c, store.User{Username: "second", Email: "second@example.com"})
	require.ErrorIs(t, err, store.ErrConflict)
	n, err := s.CountUsers(c)
	require.NoError(t, err)
	require.EqualValues(t, 1, n)

	// A first user whose username is taken is a plain conflict too.
	_, err = s.InsertUser(c, store.User{Username: "other", Email: "o@example.com"})
	require.NoError(t, err)
}

func testInsertFirstUserRace(t *testing.T, s store.Store) {
	c := ctx(t)
	users, errs := race(t, racers, func(i int) (store.User, error) {
		return s.InsertFirstUser(c, store.User{
			Username: fmt.Sprintf("admin%d", i), Email: fmt.Sprintf("admin%d@example.com", i),
			Roles: []string{"owner"},
		})
	})
	winners := 0
	var winner store.User
	for i := range racers {
		if errs[i] == nil {
			winners++
			winner = users[i]
			continue
		}
		require.ErrorIs(t, errs[i], store.ErrConflict)
	}
	require.Equal(t, 1, winners, "exactly one first user")
	list, total, err := s.ListUsers(c, store.UserFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Equal(t, winner.ID, list[0].ID)
}

func testConcurrentWrites(t *testing.T, s store.Store) {
	c := ctx(t)
	const n = 24
	_, errs := race(t, n, func(i int) (store.User, error) {
		return s.InsertUser(c, store.User{Username: fmt.Sprintf("user%02d", i), Email: fmt.Sprintf("u%d@example.com", i)})
	})
	for _, err := range errs {
		require.NoError(t, err)
	}
	count, err := s.CountUsers(c)
	require.NoError(t, err)
	require.EqualValues(t, n, count)
}

func testTimePrecision(t *testing.T, s store.Store) {
	c := ctx(t)
	loc := time.FixedZone("UTC+5:30", 5*3600+1800)
	local := base.In(loc)
	u, err := s.InsertUser(c, store.User{Username: "t", Email: "t@example.com", CreatedAt: local, UpdatedAt: local, LastSeenAt: local})
	require.NoError(t, err)
	want := time.Date(2026, time.March, 4, 5, 6, 7, 123456000, time.UTC)
	require.Equal(t, want, u.CreatedAt, "UTC, truncated to microseconds")
	got, err := s.GetUserByID(c, u.ID)
	require.NoError(t, err)
	require.Equal(t, want, got.CreatedAt)
	require.Equal(t, want, got.LastSeenAt)
	require.Equal(t, time.UTC, got.CreatedAt.Location())

	// Microseconds apart sort apart.
	k1 := mkKey(t, s, u.ID, "aaaaaaaaa1", func(k *store.APIKey) { k.CreatedAt = base.Add(time.Microsecond) })
	k0 := mkKey(t, s, u.ID, "aaaaaaaaa2", func(k *store.APIKey) { k.CreatedAt = base })
	keys, err := s.ListAPIKeys(c, store.APIKeyFilter{UserID: u.ID, IncludeExpired: true})
	require.NoError(t, err)
	require.Equal(t, []string{k0.ID, k1.ID}, keyIDs(keys))

	// Far-future and zero times survive.
	far := time.Date(2126, time.January, 1, 0, 0, 0, 1000, time.UTC)
	k := mkKey(t, s, u.ID, "aaaaaaaaa3", func(k *store.APIKey) { k.ExpiresAt = far; k.LastUsed = time.Time{} })
	gk, err := s.GetAPIKeyByID(c, k.ID)
	require.NoError(t, err)
	require.Equal(t, far, gk.ExpiresAt)
	require.True(t, gk.LastUsed.IsZero())
}

func mkKey(t *testing.T, s store.Store, userID uuid.UUID, id string, mods ...func(*store.APIKey)) store.APIKey {
	t.Helper()
	secret := make([]byte, 32)
	copy(secret, id)
	k := store.APIKey{
		ID:              id,
		HashedSecret:    secret,
		UserID:          userID,
		ExpiresAt:       time.Now().Add(24 * time.Hour),
		LoginType:       store.LoginTypePassword,
		LifetimeSeconds: 86400,
		IPAddress:       "127.0.0.1",
		Scopes:          []string{"coder:all"},
		AllowList:       []string{"*:*"},
	}
	for _, m := range mods {
		m(&k)
	}
	got, err := s.InsertAPIKey(ctx(t), k)
	require.NoError(t, err)
	return got
}

func testAPIKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	in := store.APIKey{
		ID:              "AbCdEf1234",
		HashedSecret:    []byte("0123456789abcdef0123456789abcdef"),
		UserID:          u.ID,
		LastUsed:        base,
		ExpiresAt:       base.Add(7 * 24 * time.Hour),
		CreatedAt:       base,
		UpdatedAt:       base,
		LoginType:       store.LoginTypeToken,
		LifetimeSeconds: 604800,
		IPAddress:       "192.0.2.1",
		TokenName:       "ci",
		Scopes:          []string{"coder:all"},
		AllowList:       []string{"*:*"},
	}
	k, err := s.InsertAPIKey(c, in)
	require.NoError(t, err)
	require.Equal(t, us(base), k.CreatedAt)
	got, err := s.GetAPIKeyByID(c, "AbCdEf1234")
	require.NoError(t, err)
	require.Equal(t, k, got)
	require.Equal(t, in.HashedSecret, got.HashedSecret)

	_, err = s.GetAPIKeyByID(c, "abcdef1234")
	require.ErrorIs(t, err, store.ErrNotFound, "IDs are case-sensitive")
	_, err = s.GetAPIKeyByID(c, "")
	require.ErrorIs(t, err, store.ErrNotFound)

	dup := in
	dup.TokenName = "other"
	_, err = s.InsertAPIKey(c, dup)
	require.Equal(t, "id", conflictField(t, err))

	// A key for a user that does not exist is refused.
	orphan := in
	orphan.ID, orphan.UserID, orphan.TokenName = "Orphan1234", uuid.New(), "orphan"
	_, err = s.InsertAPIKey(c, orphan)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetAPIKeyByID(c, "Orphan1234")
	require.ErrorIs(t, err, store.ErrNotFound)

	// Nil lists come back empty.
	bare := mkKey(t, s, u.ID, "Bare123456", func(k *store.APIKey) { k.Scopes, k.AllowList = nil, nil })
	got, err = s.GetAPIKeyByID(c, bare.ID)
	require.NoError(t, err)
	require.Equal(t, []string{}, got.Scopes)
	require.Equal(t, []string{}, got.AllowList)
	require.Equal(t, bare, got)
}

func testAPIKeyNames(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	token := func(k *store.APIKey) { k.LoginType, k.TokenName = store.LoginTypeToken, "laptop" }
	ka := mkKey(t, s, a.ID, "tokA000001", token)
	kb := mkKey(t, s, b.ID, "tokB000001", token) // same name, other user: fine

	_, err := s.InsertAPIKey(c, store.APIKey{
		ID: "tokA000002", HashedSecret: make([]byte, 32), UserID: a.ID, ExpiresAt: base,
		LoginType: store.LoginTypeToken, TokenName: "laptop",
	})
	require.Equal(t, "token_name", conflictField(t, err))

	// Sessions carry no name and never collide.
	mkKey(t, s, a.ID, "sess000001")
	mkKey(t, s, a.ID, "sess000002")

	got, err := s.GetAPIKeyByName(c, a.ID, "laptop")
	require.NoError(t, err)
	require.Equal(t, ka, got)
	got, err = s.GetAPIKeyByName(c, b.ID, "laptop")
	require.NoError(t, err)
	require.Equal(t, kb, got)
	_, err = s.GetAPIKeyByName(c, a.ID, "desktop")
	require.ErrorIs(t, err, store.ErrNotFound)
	_, err = s.GetAPIKeyByName(c, a.ID, "")
	require.ErrorIs(t, err, store.ErrNotFound, "sessions are not named tokens")

	// Deleting the token frees its name.
	require.NoError(t, s.DeleteAPIKey(c, ka.ID))
	mkKey(t, s, a.ID, "tokA000003", token)
}

func testListAPIKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	now := base.Add(time.Hour)
	at := func(d time.Duration, exp time.Duration, lt store.LoginType, name string) func(*store.APIKey) {
		return func(k *store.APIKey) {
			k.CreatedAt, k.ExpiresAt, k.LoginType, k.TokenName = base.Add(d), now.Add(exp), lt, name
		}
	}
	mkKey(t, s, a.ID, "a3session0", at(3*time.Second, time.Hour, store.LoginTypePassword, ""))
	mkKey(t, s, a.ID, "a1token000", at(1*time.Second, time.Hour, store.LoginTypeToken, "one"))
	mkKey(t, s, a.ID, "a2expired0", at(2*time.Second, -time.Second, store.LoginTypeToken, "two"))
	mkKey(t, s, a.ID, "a4exactly0", at(4*time.Second, 0, store.LoginTypeToken, "three"))
	mkKey(t, s, b.ID, "b1token000", at(0, time.Hour, store.LoginTypeToken, "one"))

	ids := func(f store.APIKeyFilter) []string {
		t.Helper()
		keys, err := s.ListAPIKeys(c, f)
		require.NoError(t, err)
		return keyIDs(keys)
	}
	require.Equal(t, []string{"a1token000", "a3session0"}, ids(store.APIKeyFilter{UserID: a.ID, Now: now}),
		"unexpired only (expiring exactly now counts as expired), oldest first")
	require.Equal(t, []string{"a1token000", "a2expired0", "a3session0", "a4exactly0"},
		ids(store.APIKeyFilter{UserID: a.ID, Now: now, IncludeExpired: true}))
	require.Equal(t, []string{"a1token000", "a2expired0", "a4exactly0"},
		ids(store.APIKeyFilter{UserID: a.ID, LoginType: store.LoginTypeToken, IncludeExpired: true}))
	require.Equal(t, []string{"b1token000", "a1token000", "a3session0"}, ids(store.APIKeyFilter{Now: now}))
	require.Empty(t, ids(store.APIKeyFilter{UserID: uuid.New(), IncludeExpired: true}))
	// Now defaults to the current time: every key here expired long ago.
	require.Empty(t, ids(store.APIKeyFilter{UserID: a.ID}))
}

func testAPIKeyUsageAndDelete(t *testing.T, s store.Store) {
	c := ctx(t)
	a := mkUser(t, s, "alice")
	b := mkUser(t, s, "bob")
	k := mkKey(t, s, a.ID, "usage00001", func(k *store.APIKey) { k.UpdatedAt = base })

	used := base.Add(2*time.Hour + 999*time.Nanosecond)
	exp := base.Add(26 * time.Hour)
	require.NoError(t, s.UpdateAPIKeyUsage(c, k.ID, store.APIKeyUsage{LastUsed: used, ExpiresAt: exp, IPAddress: "198.51.100.7"}))
	got, err := s.GetAPIKeyByID(c, k.ID)
	require.NoError(t, err)
	require.Equal(t, us(used), got.LastUsed)
	require.Equal(t, us(exp), got.ExpiresAt)
	require.Equal(t, "198.51.100.7", got.IPAddress)
	require.True(t, got.UpdatedAt.After(k.UpdatedAt))
	require.Equal(t, k.CreatedAt, got.CreatedAt)
	require.ErrorIs(t, s.UpdateAPIKeyUsage(c, "missing000", store.APIKeyUsage{LastUsed: used, ExpiresAt: exp}), store.ErrNotFound)

	require.NoError(t, s.DeleteAPIKey(c, k.ID))
	_, err = s.GetAPIKeyByID(c, k.ID)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, s.DeleteAPIKey(c, k.ID), store.ErrNotFound)

	mkKey(t, s, a.ID, "alice00001")
	mkKey(t, s, a.ID, "alice00002", func(k *store.APIKey) { k.LoginType, k.TokenName = store.LoginTypeToken, "t" })
	mkKey(t, s, b.ID, "bob0000001")
	ids, err := s.DeleteAPIKeysByUser(c, a.ID)
	require.NoError(t, err)
	slices.Sort(ids)
	require.Equal(t, []string{"alice00001", "alice00002"}, ids)
	left, err := s.ListAPIKeys(c, store.APIKeyFilter{IncludeExpired: true})
	require.NoError(t, err)
	require.Equal(t, []string{"bob0000001"}, keyIDs(left))
	ids, err = s.DeleteAPIKeysByUser(c, a.ID)
	require.NoError(t, err)
	require.Empty(t, ids)
}

func testDeleteExpiredAPIKeys(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	cutoff := base
	var expired []string
	for i := range 7 {
		id := fmt.Sprintf("old%07d", i)
		expired = append(expired, id)
		mkKey(t, s, u.ID, id, func(k *store.APIKey) { k.ExpiresAt = cutoff.Add(-time.Duration(i+1) * time.Minute) })
	}
	mkKey(t, s, u.ID, "atcutoff00", func(k *store.APIKey) { k.ExpiresAt = cutoff })
	mkKey(t, s, u.ID, "justafter0", func(k *store.APIKey) { k.ExpiresAt = cutoff.Add(time.Microsecond) })

	n, err := s.DeleteExpiredAPIKeys(c, cutoff, 3)
	require.NoError(t, err)
	require.EqualValues(t, 3, n, "bounded by the limit")
	total := n
	for range 10 {
		n, err = s.DeleteExpiredAPIKeys(c, cutoff, 3)
		require.NoError(t, err)
		require.LessOrEqual(t, n, int64(3))
		total += n
		if n == 0 {
			break
		}
	}
	require.EqualValues(t, len(expired), total)
	left, err := s.ListAPIKeys(c, store.APIKeyFilter{IncludeExpired: true})
	require.NoError(t, err)
	require.ElementsMatch(t, []string{"atcutoff00", "justafter0"}, keyIDs(left))
}

// batchFor builds an interception with one child of every kind.
func batchFor(id, initiator uuid.UUID, started time.Time, ended bool) store.AIBridgeBatch {
	b := store.AIBridgeBatch{
		Interceptions: []store.Interception{{
			ID: id, InitiatorID: initiator, APIKeyID: "key0000001", Provider: "anthropic",
			ProviderName: "anthropic-main", Model: "claude-sonnet-4", Client: "Claude Code",
			ClientSessionID: "sess-1", UserAgent: "claude-cli/2.0", Metadata: json.RawMessage(`{"a":1}`),
			StartedAt: started,
		}},
		TokenUsages: []store.TokenUsage{{
			ID: uuid.New(), InterceptionID: id, ProviderResponseID: "msg_1", InputTokens: 10, OutputTokens: 20,
			CacheReadInputTokens: 3, CacheWriteInputTokens: 4, Metadata: json.RawMessage(`{"web_search_requests": 1}`),
			CreatedAt: started.Add(time.Second),
		}},
		UserPrompts: []store.UserPrompt{{
			ID: uuid.New(), InterceptionID: id, ProviderResponseID: "msg_1", Prompt: "hello ✓ 'quoted' ?", CreatedAt: started,
		}},
		ToolUsages: []store.ToolUsage{{
			ID: uuid.New(), InterceptionID: id, ProviderResponseID: "msg_1", ProviderToolCallID: "toolu_1",
			ServerURL: "https://mcp.example.com", Tool: "read_file", Input: `{"path":"/x"}`, Injected: true,
			InvocationError: "boom", CreatedAt: started.Add(2 * time.Second),
		}},
		ModelThoughts: []store.ModelThought{{
			ID: uuid.New(), InterceptionID: id, Content: "thinking...", Metadata: json.RawMessage(`{"source":"thinking"}`),
			CreatedAt: started.Add(time.Second),
		}},
	}
	if ended {
		b.Ends = []store.InterceptionEnd{{ID: id, EndedAt: started.Add(3 * time.Second)}}
	}
	return b
}

// requireJSON compares optional JSON semantically (jsonb reformats it).
func requireJSON(t *testing.T, want, got json.RawMessage) {
	t.Helper()
	if want == nil {
		require.Nil(t, got)
		return
	}
	require.JSONEq(t, string(want), string(got))
}

// requireDetail checks d against the batch it was written from.
func requireDetail(t *testing.T, b store.AIBridgeBatch, d store.InterceptionDetail) {
	t.Helper()
	want := b.Interceptions[0]
	requireJSON(t, want.Metadata, d.Metadata)
	got := d.Interception
	got.Metadata, want.Metadata = nil, nil
	want.StartedAt = us(want.StartedAt)
	if len(b.Ends) > 0 {
		want.EndedAt = ptr(us(b.Ends[0].EndedAt))
	}
	require.Equal(t, want, got)

	require.Len(t, d.TokenUsages, len(b.TokenUsages))
	for i, w := range b.TokenUsages {
		g := d.TokenUsages[i]
		requireJSON(t, w.Metadata, g.Metadata)
		w.Metadata, g.Metadata, w.CreatedAt = nil, nil, us(w.CreatedAt)
		require.Equal(t, w, g)
	}
	require.Len(t, d.UserPrompts, len(b.UserPrompts))
	for i, w := range b.UserPrompts {
		w.CreatedAt = us(w.CreatedAt)
		require.Equal(t, w, d.UserPrompts[i])
	}
	require.Len(t, d.ToolUsages, len(b.ToolUsages))
	for i, w := range b.ToolUsages {
		w.CreatedAt = us(w.CreatedAt)
		require.Equal(t, w, d.ToolUsages[i])
	}
	require.Len(t, d.ModelThoughts, len(b.ModelThoughts))
	for i, w := range b.ModelThoughts {
		g := d.ModelThoughts[i]
		requireJSON(t, w.Metadata, g.Metadata)
		w.Metadata, g.Metadata, w.CreatedAt = nil, nil, us(w.CreatedAt)
		require.Equal(t, w, g)
	}
}

func testAIBridgeBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	require.NoError(t, s.InsertAIBridgeBatch(c, store.AIBridgeBatch{}), "an empty batch is fine")

	id := uuid.New()
	b := batchFor(id, u.ID, base, false)
	// A second token usage, created earlier: children come back oldest first.
	b.TokenUsages = append(b.TokenUsages, store.TokenUsage{
		ID: uuid.New(), InterceptionID: id, ProviderResponseID: "msg_0", InputTokens: 1, CreatedAt: base,
	})
	b.ToolUsages[0].Metadata = nil
	require.NoError(t, s.InsertAIBridgeBatch(c, b))

	d, err := s.GetInterception(c, id)
	require.NoError(t, err)
	require.Nil(t, d.EndedAt, "not ended yet")
	require.Equal(t, u, d.Initiator)
	b.TokenUsages = []store.TokenUsage{b.TokenUsages[1], b.TokenUsages[0]}
	requireDetail(t, b, d)
	require.Nil(t, d.ToolUsages[0].Metadata, "nil metadata stays nil")

	list, total, err := s.ListInterceptions(c, store.InterceptionFilter{})
	require.NoError(t, err)
	require.Zero(t, total, "only ended interceptions are listed")
	require.Empty(t, list)

	end := base.Add(time.Minute + 5*time.Nanosecond)
	require.NoError(t, s.InsertAIBridgeBatch(c, store.AIBridgeBatch{Ends: []store.InterceptionEnd{{ID: id, EndedAt: end}}}))
	list, total, err = s.ListInterceptions(c, store.InterceptionFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Len(t, list, 1)
	require.Equal(t, us(end), *list[0].EndedAt)
	b.Ends = []store.InterceptionEnd{{ID: id, EndedAt: end}}
	requireDetail(t, b, list[0])

	// A replayed end keeps the first end time.
	require.NoError(t, s.InsertAIBridgeBatch(c, store.AIBridgeBatch{Ends: []store.InterceptionEnd{{ID: id, EndedAt: end.Add(time.Hour)}}}))
	d, err = s.GetInterception(c, id)
	require.NoError(t, err)
	require.Equal(t, us(end), *d.EndedAt)

	// Start and end in one batch; an initiator that is not a user still
	// comes back with its ID.
	id2, ghost := uuid.New(), uuid.New()
	b2 := batchFor(id2, ghost, base.Add(time.Hour), true)
	require.NoError(t, s.InsertAIBridgeBatch(c, b2))
	d, err = s.GetInterception(c, id2)
	require.NoError(t, err)
	requireDetail(t, b2, d)
	require.Equal(t, ghost, d.Initiator.ID)
	require.Empty(t, d.Initiator.Username)

	_, err = s.GetInterception(c, uuid.New())
	require.ErrorIs(t, err, store.ErrNotFound)
}

// testAIBridgeInsertedEnded: the recorder folds an end into a start of the
// same batch, so an interception may be inserted already ended (no Ends
// entry). It is listed as ended, and a later end does not move its end time.
func testAIBridgeInsertedEnded(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	id := uuid.New()
	b := batchFor(id, u.ID, base, true)
	end := b.Ends[0].EndedAt
	b.Interceptions[0].EndedAt = &end
	b.Ends = nil
	require.NoError(t, s.InsertAIBridgeBatch(c, b))
	list, total, err := s.ListInterceptions(c, store.InterceptionFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 1, total)
	require.Len(t, list, 1)
	require.Equal(t, us(end), *list[0].EndedAt)

	require.NoError(t, s.InsertAIBridgeBatch(c, store.AIBridgeBatch{Ends: []store.InterceptionEnd{{ID: id, EndedAt: end.Add(time.Hour)}}}))
	d, err := s.GetInterception(c, id)
	require.NoError(t, err)
	require.Equal(t, us(end), *d.EndedAt)
	b.Ends = []store.InterceptionEnd{{ID: id, EndedAt: end}}
	requireDetail(t, b, d)
}

func testAIBridgeBatchIdempotent(t *testing.T, s store.Store) {
	c := ctx(t)
	u := mkUser(t, s, "alice")
	id := uuid.New()
	b := batchFor(id, u.ID, base, true)
	require.NoError(t, s.InsertAIBridgeBatch(c, b))
	// The retried batch, plus a modified copy of an existing row (same ID):
	// existing rows are left alone, new rows go in.
	retry := batchFor(id, u.ID, base, true)
	retry.TokenUsages = b.TokenUsages
	retry.UserPrompts = b.UserPrompts
	retry.ToolUsages = b.ToolUsages
	retry.ModelThoughts = append(slices.Clone(b.ModelThoughts), store.ModelThought{
		ID: uuid.New(), InterceptionID: id, Content: "second thought", CreatedAt: base.Add(5 * time.Second),
	})
	retry.Interceptions[0].Model = "changed"
	require.NoError(t, s.InsertAIBridgeBatch(c, retry))
	require.NoError(t, s.InsertAIBridgeBatch(c, retry))

	d, err := s.GetInterception(c, id)
	require.NoError(t, err)
	require.Equal(t, "claude-sonnet-4", d.Model, "the first write wins")
	b.ModelThoughts = retry.ModelThoughts
	requireDetail(t, b, d)

	// Duplicate IDs inside one batch are tolerated as well.
	id2 := uuid.New()
	dup := batchFor(id2, u.ID, base, true)
	dup.TokenUsages = append(dup.TokenUsages, dup.TokenUsages[0])
	require.NoError(t, s.InsertAIBridgeBatch(c, dup))
	d, err = s.GetInterception(c, id2)
	require.NoError(t, err)
	require.Len(t, d.TokenUsages, 1)
}

func testAIBridgeBatchAtomic(t *testing.T, s store.Store) {
	c := ctx(t)
	id := uuid.New()
	b := batchFor(id, uuid.New(), base, true)
	b.ToolUsages[0].Metadata = json.RawMessage(`{not json`)
	require.Error(t, s.InsertAIBridgeBatch(c, b))
	_, err := s.GetInterception(c, id)
	require.ErrorIs(t, err, store.ErrNotFound, "a failed batch writes nothing")
}

func testAIBridgeLargeBatch(t *testing.T, s store.Store) {
	c := ctx(t)
	// More rows than fit in one statement's parameters on either engine.
	const n = 2000 // > maxParams/9 columns: at least two statements
	id := uuid.New()
	b := store.AIBridgeBatch{
		Interceptions: []store.Interception{{ID: id, InitiatorID: uuid.New(), Provider: "openai", Model: "gpt-5", StartedAt: base}},
		Ends:          []store.InterceptionEnd{{ID: id, EndedAt: base.Add(time.Second)}},
	}
	for i := range n {
		b.TokenUsages = append(b.TokenUsages, store.TokenUsage{
			ID: uuid.New(), InterceptionID: id, InputTokens: int64(i), CreatedAt: base.Add(time.Duration(i) * time.Microsecond),
		})
	}
	require.NoError(t, s.InsertAIBridgeBatch(c, b))
	d, err := s.GetInterception(c, id)
	require.NoError(t, err)
	require.Len(t, d.TokenUsages, n)
	for i, tu := range d.TokenUsages {
		require.EqualValues(t, i, tu.InputTokens)
	}
}

// seedInterception writes one interception (optionally ended) with children.
func seedInterception(t *testing.T, s store.Store, mod func(*store.Interception), ended bool) store.Interception {
	t.Helper()
	id := uuid.New()
	b := batchFor(id, uuid.Nil, base, ended)
	mod(&b.Interceptions[0])
	b.Interceptions[0].ID = id
	if ended {
		b.Ends[0].EndedAt = b.Interceptions[0].StartedAt.Add(time.Second)
	}
	require.NoError(t, s.InsertAIBridgeBatch(ctx(t), b))
	return b.Interceptions[0]
}

func testListInterceptionsFilters(t *testing.T, s store.Store) {
	c := ctx(t)
	alice := mkUser(t, s, "alice")
	bob := mkUser(t, s, "bob")
	at := func(h int) time.Time { return base.Add(time.Duration(h) * time.Hour) }
	i1 := seedInterception(t, s, func(i *store.Interception) {
		i.InitiatorID, i.StartedAt, i.Provider, i.ProviderName, i.Model, i.Client = alice.ID, at(1), "anthropic", "claude-corp", "sonnet", "Claude Code"
	}, true)
	i2 := seedInterception(t, s, func(i *store.Interception) {
		i.InitiatorID, i.StartedAt, i.Provider, i.ProviderName, i.Model, i.Client = bob.ID, at(2), "openai", "openai", "gpt-5", ""
	}, true)
	i3 := seedInterception(t, s, func(i *store.Interception) {
		i.InitiatorID, i.StartedAt, i.Provider, i.ProviderName, i.Model, i.Client = alice.ID, at(3), "openai", "azure", "gpt-5", "Unknown"
	}, true)
	seedInterception(t, s, func(i *store.Interception) { // not ended: never listed
		i.InitiatorID, i.StartedAt, i.Provider, i.Model = alice.ID, at(4), "openai", "gpt-5"
	}, false)

	list := func(f store.InterceptionFilter) ([]uuid.UUID, int64) {
		t.Helper()
		ds, total, err := s.ListInterceptions(c, f)
		require.NoError(t, err)
		return interceptionIDs(ds), total
	}
	ids, total := list(store.InterceptionFilter{})
	require.Equal(t, []uuid.UUID{i3.ID, i2.ID, i1.ID}, ids, "newest first")
	require.EqualValues(t, 3, total)

	cases := []struct {
		name string
		f    store.InterceptionFilter
		want []uuid.UUID
	}{
		{"initiator", store.InterceptionFilter{InitiatorID: alice.ID}, []uuid.UUID{i3.ID, i1.ID}},
		{"provider type", store.InterceptionFilter{Provider: "openai"}, []uuid.UUID{i3.ID, i2.ID}},
		{"provider name", store.InterceptionFilter{Provider: "claude-corp"}, []uuid.UUID{i1.ID}},
		{"model", store.InterceptionFilter{Model: "sonnet"}, []uuid.UUID{i1.ID}},
		{"client", store.InterceptionFilter{Client: "Claude Code"}, []uuid.UUID{i1.ID}},
		{"unknown client matches empty", store.InterceptionFilter{Client: "Unknown"}, []uuid.UUID{i3.ID, i2.ID}},
		{"started after (inclusive)", store.InterceptionFilter{StartedAfter: at(2)}, []uuid.UUID{i3.ID, i2.ID}},
		{"started before (inclusive)", store.InterceptionFilter{StartedBefore: at(2)}, []uuid.UUID{i2.ID, i1.ID}},
		{"window", store.InterceptionFilter{StartedAfter: at(2), StartedBefore: at(2)}, []uuid.UUID{i2.ID}},
		{"combined", store.InterceptionFilter{InitiatorID: alice.ID, Provider: "openai", Model: "gpt-5"}, []uuid.UUID{i3.ID}},
		{"no match", store.InterceptionFilter{Model: "nope"}, []uuid.UUID{}},
	}
	for _, tc := range cases {
		ids, total := list(tc.f)
		require.Equal(t, tc.want, ids, tc.name)
		require.EqualValues(t, len(tc.want), total, tc.name)
	}

	// Initiators are attached (one bulk load for both users).
	ds, _, err := s.ListInterceptions(c, store.InterceptionFilter{})
	require.NoError(t, err)
	require.Equal(t, alice, ds[0].Initiator)
	require.Equal(t, bob, ds[1].Initiator)
	require.Equal(t, alice, ds[2].Initiator)
	for _, d := range ds {
		require.Len(t, d.TokenUsages, 1)
		require.Equal(t, d.ID, d.TokenUsages[0].InterceptionID, "children belong to their parent")
		require.Len(t, d.UserPrompts, 1)
		require.Len(t, d.ToolUsages, 1)
		require.Len(t, d.ModelThoughts, 1)
	}
}

func testListInterceptionsPaging(t *testing.T, s store.Store) {
	c := ctx(t)
	// 13 interceptions over 5 distinct start times, so ties are broken by id.
	var all []store.Interception
	for i := range 13 {
		all = append(all, seedInterception(t, s, func(in *store.Interception) {
			in.StartedAt = base.Add(time.Duration(i%5) * time.Minute)
		}, true))
	}
	slices.SortFunc(all, func(a, b store.Interception) int {
		if c := b.StartedAt.Compare(a.StartedAt); c != 0 {
			return c
		}
		return -slices.Compare(a.ID[:], b.ID[:])
	})
	want := make([]uuid.UUID, len(all))
	for i, in := range all {
		want[i] = in.ID
	}

	ids, total, err := s.ListInterceptions(c, store.InterceptionFilter{})
	require.NoError(t, err)
	require.EqualValues(t, 13, total)
	require.Equal(t, want, interceptionIDs(ids), "started_at DESC, id DESC")

	var got []uuid.UUID
	var after uuid.UUID
	for range 10 { // bounded
		page, total, err := s.ListInterceptions(c, store.InterceptionFilter{AfterID: after, Limit: 4})
		require.NoError(t, err)
		require.EqualValues(t, 13, total)
		if len(page) == 0 {
			break
		}
		require.LessOrEqual(t, len(page), 4)
		got = append(got, interceptionIDs(page)...)
		after = page[len(page)-1].ID
	}
	require.Equal(t, want, got, "the cursor walks every row once")

	page, _, err := s.ListInterceptions(c, store.InterceptionFilter{Offset: 5, Limit: 3})
	require.NoError(t, err)
	require.Equal(t, want[5:8], interceptionIDs(page))

	_, _, err = s.ListInterceptions(c, store.InterceptionFilter{AfterID: uuid.New()})
	require.ErrorIs(t, err, store.ErrNotFound)
}

func testDeleteInterceptionsBefore(t *testing.T, s store.Store) {
	c := ctx(t)
	cutoff := base
	var old, keep []store.Interception
	for i := range 9 {
		old = append(old, seedInterception(t, s, func(in *store.Interception) {
			in.StartedAt = cutoff.Add(-time.Duration(i+1) * time.Hour)
		}, i%2 == 0)) // ended or not, both go
	}
	keep = append(keep,
		seedInterception(t, s, func(in *store.Interception) { in.StartedAt = cutoff }, true),
		seedInterception(t, s, func(in *store.Interception) { in.StartedAt = cutoff.Add(time.Microsecond) }, true),
		seedInterception(t, s, func(in *store.Interception) { in.StartedAt = cutoff.Add(time.Hour) }, false),
	)

	n, err := s.DeleteInterceptionsBefore(c, cutoff, 4)
	require.NoError(t, err)
	require.EqualValues(t, 4, n, "bounded by the limit")
	// The oldest go first.
	for _, in := range old[5:] {
		_, err := s.GetInterception(c, in.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
	}
	deleted := n
	for range 10 { // bounded
		n, err = s.DeleteInterceptionsBefore(c, cutoff, 4)
		require.NoError(t, err)
		deleted += n
		if n == 0 {
			break
		}
	}
	require.EqualValues(t, len(old), deleted)

	for _, in := range keep {
		d, err := s.GetInterception(c, in.ID)
		require.NoError(t, err, "rows at or after the cutoff stay")
		require.Len(t, d.TokenUsages, 1, "with their children")
		require.Len(t, d.UserPrompts, 1)
		require.Len(t, d.ToolUsages, 1)
		require.Len(t, d.ModelThoughts, 1)
	}
	// Children went with their parents: re-creating a deleted parent (same
	// ID) shows no leftover child rows.
	for _, in := range old {
		_, err := s.GetInterception(c, in.ID)
		require.ErrorIs(t, err, store.ErrNotFound)
		require.NoError(t, s.InsertAIBridgeBatch(c, store.AIBridgeBatch{Interceptions: []store.Interception{in}}))
		d, err := s.GetInterception(c, in.ID)
		require.NoError(t, err)
		require.Empty(t, d.TokenUsages)
		require.Empty(t, d.UserPrompts)
		require.Empty(t, d.ToolUsages)
		require.Empty(t, d.ModelThoughts)
	}
}
