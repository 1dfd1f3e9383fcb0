package httpmw_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/authn"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

// countingStore counts the reads the authentication path can make.
type countingStore struct {
	store.Store
	keyReads, userByID, userByName atomic.Int64
}

func (s *countingStore) GetAPIKeyByID(ctx context.Context, id string) (store.APIKey, error) {
	s.keyReads.Add(1)
	return s.Store.GetAPIKeyByID(ctx, id)
}

func (s *countingStore) GetUserByID(ctx context.Context, id uuid.UUID) (store.User, error) {
	s.userByID.Add(1)
	return s.Store.GetUserByID(ctx, id)
}

func (s *countingStore) GetUserByUsername(ctx context.Context, name string) (store.User, error) {
	s.userByName.Add(1)
	return s.Store.GetUserByUsername(ctx, name)
}

// TestOneValidationPerRequest stacks the middleware as the API does (access
// log, rate limiter keyed by the caller, API-key check, {user}) over an
// authenticator whose cache is off, so every validation reads the key: a
// request must read it once, and resolving the caller as {user} must not
// read the user again.
func TestOneValidationPerRequest(t *testing.T) {
	t.Parallel()
	db := &countingStore{Store: dbtest.New(t)}
	a := authn.New(authn.Options{Store: db, CacheTTL: -1})
	t.Cleanup(a.Close)
	alice := newUser(t, db, "alice")
	bob := newUser(t, db, "bob")
	token := newKey(t, db, alice.ID, time.Now().Add(time.Hour))

	limiter := httpmw.NewRateLimiter(httpmw.RateLimitOptions{
		Limit: 1000,
		Actor: func(r *http.Request) (httpmw.Actor, bool) {
			id, err := httpmw.Authenticate(r, a, httpmw.APITokenFromRequest(r))
			if err != nil {
				return httpmw.Actor{}, false
			}
			return httpmw.Actor{UserID: id.UserID, Username: id.Username}, true
		},
	})
	r := chi.NewRouter()
	r.Use(httpmw.AccessLog(slog.New(slog.DiscardHandler)), limiter.Middleware,
		httpmw.ExtractAPIKey(httpmw.APIKeyConfig{Authenticator: a}))
	r.With(httpmw.ExtractUserParam(db)).Get("/users/{user}", func(rw http.ResponseWriter, r *http.Request) {
		u := httpmw.UserParam(r)
		_ = json.NewEncoder(rw).Encode(map[string]string{"id": u.ID.String(), "name": u.Name, "status": string(u.Status)})
	})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)

	get := func(path, tok string) (int, map[string]string) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		req.Header.Set("Coder-Session-Token", tok)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		var body map[string]string
		require.NoError(t, json.Unmarshal(raw, &body), string(raw))
		return resp.StatusCode, body
	}
	reads := func() [3]int64 {
		return [3]int64{db.keyReads.Load(), db.userByID.Load(), db.userByName.Load()}
	}

	for _, tc := range []struct {
		param string
		want  uuid.UUID
		extra [3]int64 // reads beyond the one key and one user validation needs
	}{
		{"me", alice.ID, [3]int64{}},
		{alice.ID.String(), alice.ID, [3]int64{}},
		{"alice", alice.ID, [3]int64{}},
		{bob.ID.String(), bob.ID, [3]int64{0, 1, 0}},
		{"bob", bob.ID, [3]int64{0, 0, 1}},
	} {
		before := reads()
		status, body := get("/users/"+tc.param, token)
		require.Equal(t, http.StatusOK, status, tc.param)
		require.Equal(t, tc.want.String(), body["id"], tc.param)
		after := reads()
		require.Equal(t, [3]int64{1 + tc.extra[0], 1 + tc.extra[1], tc.extra[2]},
			[3]int64{after[0] - before[0], after[1] - before[1], after[2] - before[2]}, tc.param)
	}

	// A bad token is refused with one read too.
	before := db.keyReads.Load()
	status, body := get("/users/me", token[:len(token)-1]+"x")
	require.Equal(t, http.StatusUnauthorized, status)
	require.Equal(t, signedOut, body["message"])
	require.Equal(t, before+1, db.keyReads.Load())

	// The caller's record is as fresh as the validation: a change shows on
	// the next request.
	name := "Alice Changed"
	_, err := db.UpdateUser(t.Context(), alice.ID, store.UserUpdate{Name: &name})
	require.NoError(t, err)
	_, body = get("/users/me", token)
	require.Equal(t, name, body["name"])
}

// TestSelfUserFollowsInvalidation: with the default cache, /users/me served
// from the validation's record reflects a suspension as soon as the
// authenticator is told (as the API does), and the key is refused.
func TestSelfUserFollowsInvalidation(t *testing.T) {
	t.Parallel()
	db := dbtest.New(t)
	a := authn.New(authn.Options{Store: db})
	t.Cleanup(a.Close)
	alice := newUser(t, db, "alice")
	token := newKey(t, db, alice.ID, time.Now().Add(time.Hour))

	id, err := a.Authenticate(t.Context(), token)
	require.NoError(t, err)
	u, ok := id.User()
	require.True(t, ok)
	require.Equal(t, alice.ID, u.ID)
	require.Equal(t, alice.Email, u.Email)
	require.Empty(t, u.HashedPassword)
	_, ok = authn.Identity{}.User()
	require.False(t, ok)

	suspended := store.UserStatusSuspended
	_, err = db.UpdateUser(t.Context(), alice.ID, store.UserUpdate{Status: &suspended})
	require.NoError(t, err)
	a.InvalidateUser(alice.ID)
	_, err = a.Authenticate(t.Context(), token)
	var ae *authn.Error
	require.ErrorAs(t, err, &ae)
	require.Equal(t, authn.KindInactive, ae.Kind)
}
