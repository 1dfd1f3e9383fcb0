package httpmw_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/apikey"
	"gantry/internal/authn"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
)

const signedOut = "You are signed out or your session has expired. Please sign in again to continue."

type fixture struct {
	db      store.Store
	authn   *authn.Authenticator
	user    store.User
	reached atomic.Int64
	srv     *httptest.Server
}

func newUser(t *testing.T, db store.Store, name string) store.User {
	t.Helper()
	now := time.Now().UTC()
	u, err := db.InsertUser(t.Context(), store.User{
		ID: uuid.New(), Email: name + "@example.com", Username: name, Status: store.UserStatusActive,
		LoginType: store.LoginTypePassword, Roles: []string{}, CreatedAt: now, UpdatedAt: now, LastSeenAt: now,
	})
	require.NoError(t, err)
	return u
}

func newKey(t *testing.T, db store.Store, userID uuid.UUID, expires time.Time) string {
	t.Helper()
	tok, err := apikey.Generate()
	require.NoError(t, err)
	now := time.Now().UTC()
	_, err = db.InsertAPIKey(t.Context(), store.APIKey{
		ID: tok.ID, HashedSecret: tok.HashedSecret, UserID: userID, LastUsed: time.Unix(0, 0).UTC(),
		ExpiresAt: expires, CreatedAt: now, UpdatedAt: now, LoginType: store.LoginTypeToken,
		LifetimeSeconds: 3600, TokenName: "t" + strings.ToLower(tok.ID), Scopes: []string{"coder:all"},
	})
	require.NoError(t, err)
	return tok.String()
}

// newFixture serves a sentinel handler behind ExtractAPIKey (and, under
// /users/{user}, ExtractUserParam); the sentinel counts every request that
// gets through.
func newFixture(t *testing.T, optional bool) *fixture {
	t.Helper()
	f := &fixture{db: dbtest.New(t)}
	f.authn = authn.New(authn.Options{Store: f.db})
	t.Cleanup(f.authn.Close)
	f.user = newUser(t, f.db, "alice")
	sentinel := http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		f.reached.Add(1)
		out := map[string]string{}
		if id, ok := httpmw.IdentityOptional(r); ok {
			out["user"] = id.Username
			out["key"] = id.APIKeyID
		}
		if chi.URLParam(r, "user") != "" {
			out["param"] = httpmw.UserParam(r).Username
		}
		_ = json.NewEncoder(rw).Encode(out)
	})
	r := chi.NewRouter()
	r.Group(func(r chi.Router) {
		r.Use(httpmw.ExtractAPIKey(httpmw.APIKeyConfig{
			Authenticator: f.authn, Optional: optional,
			ResourceMetadataURL: "http://gantry.test/.well-known/oauth-protected-resource",
		}))
		r.Get("/whoami", sentinel)
		r.With(httpmw.ExtractUserParam(f.db)).Get("/users/{user}", sentinel)
	})
	f.srv = httptest.NewServer(r)
	t.Cleanup(f.srv.Close)
	return f
}

type result struct {
	status int
	header http.Header
	body   map[string]string
}

func (f *fixture) do(t *testing.T, path string, mod func(*http.Request)) result {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, f.srv.URL+path, nil)
	require.NoError(t, err)
	if mod != nil {
		mod(req)
	}
	resp, err := f.srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var body map[string]string
	require.NoError(t, json.Unmarshal(raw, &body), string(raw))
	return result{resp.StatusCode, resp.Header, body}
}

func header(token string) func(*http.Request) {
	return func(r *http.Request) { r.Header.Set("Coder-Session-Token", token) }
}

func TestExtractAPIKeyRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	ctx := t.Context()
	valid := newKey(t, f.db, f.user.ID, time.Now().Add(time.Hour))
	validID, _, _ := apikey.Split(valid)

	expiresAt := time.Now().Add(-time.Minute).UTC().Truncate(time.Microsecond)
	expired := newKey(t, f.db, f.user.ID, expiresAt)

	deletedKey := newKey(t, f.db, f.user.ID, time.Now().Add(time.Hour))
	id, _, _ := apikey.Split(deletedKey)
	require.NoError(t, f.db.DeleteAPIKey(ctx, id))

	bob := newUser(t, f.db, "bob")
	suspendedKey := newKey(t, f.db, bob.ID, time.Now().Add(time.Hour))
	suspended := store.UserStatusSuspended
	_, err := f.db.UpdateUser(ctx, bob.ID, store.UserUpdate{Status: &suspended})
	require.NoError(t, err)

	// A key left behind by a deleted user (the API also deletes them; this
	// covers a row that survived).
	carol := newUser(t, f.db, "carol")
	orphanKey := newKey(t, f.db, carol.ID, time.Now().Add(time.Hour))
	yes := true
	_, err = f.db.UpdateUser(ctx, carol.ID, store.UserUpdate{Deleted: &yes})
	require.NoError(t, err)

	cases := []struct {
		name            string
		mod             func(*http.Request)
		message, detail string
		expired         bool
	}{
		{"NoToken", nil, signedOut, `Cookie "coder_session_token" or query parameter must be provided.`, false},
		{"NoDash", header(strings.Repeat("a", 33)), signedOut, "Invalid API key format: incorrect amount of API key parts, expected 2 got 1", false},
		{"ThreeParts", header("aaaaaaaaaa-bbbbbbbbbb-cccccccccc"), signedOut, "Invalid API key format: incorrect amount of API key parts, expected 2 got 3", false},
		{"ShortID", header("aaaaaaaaa-" + strings.Repeat("b", 22)), signedOut, "Invalid API key format: invalid API key ID length, expected 10 got 9", false},
		{"LongID", header("aaaaaaaaaaa-" + strings.Repeat("b", 22)), signedOut, "Invalid API key format: invalid API key ID length, expected 10 got 11", false},
		{"ShortSecret", header(validID + "-" + strings.Repeat("b", 21)), signedOut, "Invalid API key format: invalid API key secret length, expected 22 got 21", false},
		{"LongSecret", header(validID + "-" + strings.Repeat("b", 23)), signedOut, "Invalid API key format: invalid API key secret length, expected 22 got 23", false},
		{"UnknownID", header("ZZZZZZZZZZ-" + strings.Repeat("b", 22)), signedOut, "API key is invalid.", false},
		{"WrongSecret", header(validID + "-" + strings.Repeat("b", 22)), signedOut, "API key secret is invalid.", false},
		{"Expired", header(expired), signedOut, `API key expired at "` + expiresAt.String() + `".`, true},
		{"DeletedKey", header(deletedKey), signedOut, "API key is invalid.", false},
		{"SuspendedUser", header(suspendedKey), `User is not active (status = "suspended"). Contact an admin to reactivate your account.`, "", false},
		{"DeletedUser", header(orphanKey), signedOut, "API key is invalid.", false},
		{"BasicAuthIgnored", func(r *http.Request) { r.SetBasicAuth("alice", valid) }, signedOut, `Cookie "coder_session_token" or query parameter must be provided.`, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"/whoami", "/users/me", "/users/alice"} {
				res := f.do(t, path, tc.mod)
				require.Equal(t, http.StatusUnauthorized, res.status)
				want := map[string]string{"message": tc.message}
				if tc.detail != "" {
					want["detail"] = tc.detail
				}
				require.Equal(t, want, res.body)
				desc := "The access token is invalid"
				if tc.expired {
					desc = "The access token has expired"
				}
				require.Equal(t, `Bearer realm="coder", error="invalid_token", error_description="`+desc+`", resource_metadata="http://gantry.test/.well-known/oauth-protected-resource"`,
					res.header.Get("WWW-Authenticate"))
			}
		})
	}
	require.Zero(t, f.reached.Load(), "a refused request reached the handler")

	// The valid key passes, for comparison.
	res := f.do(t, "/whoami", header(valid))
	require.Equal(t, http.StatusOK, res.status)
	require.Equal(t, "alice", res.body["user"])
	require.Equal(t, int64(1), f.reached.Load())
}

func TestTokenSources(t *testing.T) {
	t.Parallel()
	f := newFixture(t, false)
	alice := newKey(t, f.db, f.user.ID, time.Now().Add(time.Hour))
	bob := newUser(t, f.db, "bob")
	bobKey := newKey(t, f.db, bob.ID, time.Now().Add(time.Hour))
	aliceID, _, _ := apikey.Split(alice)

	cookie := func(name, v string) func(*http.Request) {
		return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: name, Value: v}) }
	}
	bearer := func(scheme, v string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", scheme+" "+v) }
	}
	both := func(a, b func(*http.Request)) func(*http.Request) {
		return func(r *http.Request) { a(r); b(r) }
	}
	cases := []struct {
		name  string
		query string
		mod   func(*http.Request)
		want  string
	}{
		{"Cookie", "", cookie("coder_session_token", alice), "alice"},
		{"HostPrefixedCookie", "", cookie("__Host-coder_session_token", alice), "alice"},
		{"Query", "?coder_session_token=" + url.QueryEscape(alice), nil, "alice"},
		{"Header", "", header(alice), "alice"},
		{"Bearer", "", bearer("Bearer", alice), "alice"},
		{"BearerCaseInsensitiveTrimmed", "", bearer("bEaReR", "  "+alice+"  "), "alice"},
		{"AccessToken", "?access_token=" + url.QueryEscape(alice), nil, "alice"},
		{"CookieBeatsQuery", "?coder_session_token=" + bobKey, cookie("coder_session_token", alice), "alice"},
		{"QueryBeatsHeader", "?coder_session_token=" + alice, header(bobKey), "alice"},
		{"HeaderBeatsBearer", "", both(header(alice), bearer("Bearer", bobKey)), "alice"},
		{"BearerBeatsAccessToken", "?access_token=" + bobKey, bearer("Bearer", alice), "alice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := f.do(t, "/whoami"+tc.query, tc.mod)
			require.Equal(t, http.StatusOK, res.status, res.body)
			require.Equal(t, tc.want, res.body["user"])
			require.Equal(t, aliceID, res.body["key"])
		})
	}
}

func TestUserParam(t *testing.T) {
	t.Parallel()
	f := newFixture(t, true)
	key := newKey(t, f.db, f.user.ID, time.Now().Add(time.Hour))

	res := f.do(t, "/users/me", nil)
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, map[string]string{"message": `Cannot use "me" without a valid session.`}, res.body)

	res = f.do(t, "/users/nobody", header(key))
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, map[string]string{"message": `"user" must be an existing uuid or username.`, "detail": `queried user="nobody"`}, res.body)

	missing := uuid.NewString()
	res = f.do(t, "/users/"+missing, header(key))
	require.Equal(t, http.StatusBadRequest, res.status)
	require.Equal(t, `queried user="`+missing+`"`, res.body["detail"])
	require.Zero(t, f.reached.Load())

	for _, q := range []string{"me", "alice", "ALICE", f.user.ID.String()} {
		res = f.do(t, "/users/"+q, header(key))
		require.Equal(t, http.StatusOK, res.status, q)
		require.Equal(t, "alice", res.body["param"])
	}

	// Optional authentication: no token passes anonymously; a bad one
	// is still refused.
	res = f.do(t, "/whoami", nil)
	require.Equal(t, http.StatusOK, res.status)
	require.Empty(t, res.body["user"])
	res = f.do(t, "/whoami", header("garbage"))
	require.Equal(t, http.StatusUnauthorized, res.status)
}

func TestAccessorsPanicWithoutMiddleware(t *testing.T) {
	t.Parallel()
	r := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "/", nil)
	require.PanicsWithValue(t, "developer error: ExtractAPIKey middleware not provided", func() { httpmw.Identity(r) })
	require.PanicsWithValue(t, "developer error: ExtractAPIKey middleware not provided", func() { httpmw.Subject(r) })
	require.PanicsWithValue(t, "developer error: ExtractUserParam middleware not provided", func() { httpmw.UserParam(r) })
	_, ok := httpmw.IdentityOptional(r)
	require.False(t, ok)
	require.Equal(t, "", httpmw.APITokenFromRequest(r))
}

// BenchmarkExtractAPIKey measures the whole middleware on a cached key:
// token extraction, validation, context wiring. No network, no database.
func BenchmarkExtractAPIKey(b *testing.B) {
	db := dbtest.New(b)
	a := authn.New(authn.Options{Store: db, CacheTTL: time.Hour})
	b.Cleanup(a.Close)
	now := time.Now().UTC()
	u, err := db.InsertUser(b.Context(), store.User{
		ID: uuid.New(), Email: "b@example.com", Username: "b", Status: store.UserStatusActive,
		LoginType: store.LoginTypePassword, CreatedAt: now, UpdatedAt: now, LastSeenAt: now,
	})
	require.NoError(b, err)
	tok, err := apikey.Generate()
	require.NoError(b, err)
	_, err = db.InsertAPIKey(b.Context(), store.APIKey{
		ID: tok.ID, HashedSecret: tok.HashedSecret, UserID: u.ID, LastUsed: now, ExpiresAt: now.Add(time.Hour),
		CreatedAt: now, UpdatedAt: now, LoginType: store.LoginTypeToken, LifetimeSeconds: 3600, TokenName: "b",
	})
	require.NoError(b, err)
	h := httpmw.ExtractAPIKey(httpmw.APIKeyConfig{Authenticator: a})(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_ = httpmw.Identity(r)
	}))
	req := httptest.NewRequestWithContext(b.Context(), http.MethodGet, "/", nil)
	req.Header.Set("Coder-Session-Token", tok.String())
	rw := httptest.NewRecorder()
	h.ServeHTTP(rw, req)
	require.Equal(b, http.StatusOK, rw.Code)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		h.ServeHTTP(rw, req)
	}
}
