package api_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/store/postgres"
	"gantry/internal/store/sqlite"
	"gantry/sdk"
)

// countingStore counts calls of the store methods the identity code uses.
type countingStore struct {
	store.Store
	mu    sync.Mutex
	calls map[string]int
}

func newCountingStore(s store.Store) *countingStore {
	return &countingStore{Store: s, calls: map[string]int{}}
}

func (c *countingStore) count(name string) {
	c.mu.Lock()
	c.calls[name]++
	c.mu.Unlock()
}

func (c *countingStore) get(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.calls[name]
}

func (c *countingStore) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = map[string]int{}
}

func (c *countingStore) GetAPIKeyByID(ctx context.Context, id string) (store.APIKey, error) {
	c.count("GetAPIKeyByID")
	return c.Store.GetAPIKeyByID(ctx, id)
}

func (c *countingStore) GetUserByID(ctx context.Context, id uuid.UUID) (store.User, error) {
	c.count("GetUserByID")
	return c.Store.GetUserByID(ctx, id)
}

func (c *countingStore) ListUsers(ctx context.Context, f store.UserFilter) ([]store.User, int64, error) {
	c.count("ListUsers")
	return c.Store.ListUsers(ctx, f)
}

func (c *countingStore) UpdateAPIKeyUsage(ctx context.Context, id string, u store.APIKeyUsage) error {
	c.count("UpdateAPIKeyUsage")
	return c.Store.UpdateAPIKeyUsage(ctx, id, u)
}

func (c *countingStore) UpdateUser(ctx context.Context, id uuid.UUID, u store.UserUpdate) (store.User, error) {
	c.count("UpdateUser")
	return c.Store.UpdateUser(ctx, id, u)
}

func (c *countingStore) InsertAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	c.count("InsertAPIKey")
	return c.Store.InsertAPIKey(ctx, k)
}

func (c *countingStore) writes() int {
	return c.get("UpdateAPIKeyUsage") + c.get("UpdateUser") + c.get("InsertAPIKey")
}

// TestNoWritePerRequest: a burst of authenticated requests costs one key
// lookup (then the cache answers) and at most one usage write per key,
// made in the background.
func TestNoWritePerRequest(t *testing.T) {
	t.Parallel()
	var cs *countingStore
	client, _ := apitest.New(t,
		apitest.WithStoreWrapper(func(s store.Store) store.Store { cs = newCountingStore(s); return cs }),
		apitest.WithIdentity(func(o *api.IdentityOptions) { o.AuthCacheTTL = time.Minute }))
	apitest.CreateFirstUser(t, client)
	token := apitest.CreateToken(t, client, sdk.Me, "hot", time.Hour)
	tc := apitest.WithToken(client, token)
	ctx := apitest.Context(t, time.Minute)

	cs.reset()
	const n = 50
	for range n {
		_, err := tc.GetTokenConfig(ctx, sdk.Me)
		require.NoError(t, err)
	}
	require.Equal(t, 1, cs.get("GetAPIKeyByID"), "validation must be cached")
	// The first use is due for a last_used write (and the user's
	// last_seen_at); it happens once, asynchronously.
	require.Eventually(t, func() bool { return cs.get("UpdateAPIKeyUsage") == 1 }, 10*time.Second, 10*time.Millisecond)
	for range n {
		_, err := tc.GetTokenConfig(ctx, sdk.Me)
		require.NoError(t, err)
	}
	require.Equal(t, 1, cs.get("UpdateAPIKeyUsage"))
	require.LessOrEqual(t, cs.get("UpdateUser"), 1)
	require.LessOrEqual(t, cs.writes(), 2)

	// last_used is visible through the API.
	id := strings.SplitN(token, "-", 2)[0]
	k, err := client.APIKeyByID(ctx, sdk.Me, id)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), k.LastUsed, time.Minute)

	// A refused request never reaches its handler: no user listing.
	cs.reset()
	_, err = apitest.WithToken(client, id+"-"+strings.Repeat("x", 22)).Users(ctx, sdk.UsersRequest{})
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key secret is invalid.")
	require.Zero(t, cs.get("ListUsers"))
	require.Zero(t, cs.get("GetAPIKeyByID"), "a wrong secret for a cached key costs no query")
}

// openReplicaStores opens two independent store handles (separate
// connection pools) on one fresh database, as two gantry processes would.
func openReplicaStores(t *testing.T) (store.Store, store.Store) {
	t.Helper()
	ctx := apitest.Context(t, time.Minute)
	var target string
	if dbtest.WillUsePostgres() {
		target = dbtest.PostgresURL(t)
	} else {
		target = dbtest.SQLitePath(t)
	}
	open := func() store.Store {
		var (
			s   store.Store
			err error
		)
		if dbtest.WillUsePostgres() {
			s, err = postgres.Open(ctx, target, postgres.Options{MaxOpenConns: 4, MaxIdleConns: 1})
		} else {
			s, err = sqlite.Open(ctx, target)
		}
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		return s
	}
	return open(), open()
}

// TestReplicaInvalidation: two API instances, each with its own store handle
// on one database. A key deleted through one stops working on the other
// within the cache TTL.
func TestReplicaInvalidation(t *testing.T) {
	t.Parallel()
	const ttl = 300 * time.Millisecond
	short := apitest.WithIdentity(func(o *api.IdentityOptions) { o.AuthCacheTTL = ttl })
	storeA, storeB := openReplicaStores(t)
	a, _ := apitest.New(t, short, apitest.WithStore(storeA))
	apitest.CreateFirstUser(t, a)
	b, _ := apitest.New(t, short, apitest.WithStore(storeB))
	ctx := apitest.Context(t, time.Minute)

	token := apitest.CreateToken(t, a, sdk.Me, "shared", 0)
	tb := apitest.WithToken(b, token)
	_, err := tb.User(ctx, sdk.Me) // now cached on B
	require.NoError(t, err)

	require.NoError(t, a.DeleteAPIKey(ctx, sdk.Me, strings.SplitN(token, "-", 2)[0]))
	deleted := time.Now()
	require.Eventually(t, func() bool {
		_, err := tb.User(ctx, sdk.Me)
		return sdk.IsStatus(err, http.StatusUnauthorized)
	}, 10*time.Second, 20*time.Millisecond)
	require.Less(t, time.Since(deleted), ttl+2*time.Second)

	// Suspension through B reaches A's cache the same way.
	member, mu := apitest.CreateUser(t, a)
	_, err = member.User(ctx, sdk.Me)
	require.NoError(t, err)
	b.SessionToken = a.SessionToken
	_, err = b.UpdateUserStatus(ctx, mu.Username, sdk.UserStatusSuspended)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		_, err := member.User(ctx, sdk.Me)
		return sdk.IsStatus(err, http.StatusUnauthorized)
	}, 10*time.Second, 20*time.Millisecond)
}

func TestLoginThrottle(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) {
		o.LoginThrottle.AccountLimit = 3
		o.LoginThrottle.AddressLimit = 6
		o.LoginThrottle.Lockout = time.Minute
	}))
	apitest.CreateFirstUser(t, client)
	_, mu := apitest.CreateUser(t, client)
	anon := apitest.WithToken(client, "")
	ctx := apitest.Context(t, time.Minute)
	login := func(email, password string) error {
		_, err := anon.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: email, Password: password})
		return err
	}

	for range 3 {
		requireSDKError(t, login(apitest.FirstUserEmail, "wrong-password"), http.StatusUnauthorized, "Incorrect email or password.", "")
	}
	// Locked: even the right password is refused, with Retry-After.
	err := login(apitest.FirstUserEmail, apitest.FirstUserPassword)
	e := requireSDKError(t, err, http.StatusTooManyRequests, "Too many failed login attempts. Try again later.", "")
	require.Contains(t, e.Detail, "Retry after")
	status, hdr, _ := rawJSON(t, anon, http.MethodPost, "/api/v2/users/login",
		sdk.LoginWithPasswordRequest{Email: "ADMIN@example.com", Password: apitest.FirstUserPassword})
	require.Equal(t, http.StatusTooManyRequests, status, "the account key is case-insensitive")
	require.NotEmpty(t, hdr.Get("Retry-After"))
	// Existing sessions are unaffected.
	_, err = client.User(ctx, sdk.Me)
	require.NoError(t, err)

	// Another account from the same address still works until the address
	// limit (6 failures in all) is reached.
	require.NoError(t, login(mu.Email, "Test-Password-"+mu.Username))
	for range 3 {
		requireSDKError(t, login("nobody@example.com", "wrong-password"), http.StatusUnauthorized, "Incorrect email or password.", "")
	}
	err = login(mu.Email, "Test-Password-"+mu.Username)
	requireSDKError(t, err, http.StatusTooManyRequests, "Too many failed login attempts. Try again later.", "")
}

// recordingTransport keeps every response body the client receives.
type recordingTransport struct {
	base   http.RoundTripper
	mu     sync.Mutex
	bodies bytes.Buffer
}

func (rt *recordingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(r)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	rt.mu.Lock()
	rt.bodies.WriteString(r.Method + " " + r.URL.Path + " -> ")
	rt.bodies.Write(b)
	rt.bodies.WriteString("\n")
	rt.mu.Unlock()
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// TestSecretsNeverLeak drives every identity endpoint and then scans all
// server logs and all response bodies for passwords, password hashes and
// token secrets (and their hashes).
func TestSecretsNeverLeak(t *testing.T) {
	t.Parallel()
	logger, logs := apitest.NewCapturingLogger(nil)
	client, _ := apitest.New(t, apitest.WithLogger(logger))
	rec := &recordingTransport{base: client.HTTPClient.Transport}
	client.HTTPClient = &http.Client{Transport: rec, Timeout: 30 * time.Second}
	ctx := apitest.Context(t, time.Minute)

	first := apitest.CreateFirstUser(t, client)
	member, mu := apitest.CreateUser(t, client)
	memberPassword := "Test-Password-" + mu.Username
	tok := apitest.CreateToken(t, client, sdk.Me, "leak-check", time.Hour)
	cliKey, err := client.CreateAPIKey(ctx, sdk.Me)
	require.NoError(t, err)
	secrets := []string{first.SessionToken, member.SessionToken, tok, cliKey.Key}

	// Use the tokens every way a client can, including the query string.
	for _, s := range secrets {
		c := apitest.WithToken(client, s)
		_, err := c.User(ctx, sdk.Me)
		require.NoError(t, err)
		resp, err := apitest.WithToken(client, "").Request(ctx, http.MethodGet, "/api/v2/users/me?coder_session_token="+url.QueryEscape(s), nil)
		require.NoError(t, err)
		_ = resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		id := strings.SplitN(s, "-", 2)[0]
		_, err = apitest.WithToken(client, id+"-"+strings.Repeat("q", 22)).User(ctx, sdk.Me)
		require.Error(t, err)
	}
	_, err = apitest.WithToken(client, "").LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: mu.Email, Password: memberPassword + "x"})
	require.Error(t, err)
	_, err = client.Users(ctx, sdk.UsersRequest{})
	require.NoError(t, err)
	_, err = client.Tokens(ctx, sdk.Me, sdk.TokensFilter{IncludeAll: true})
	require.NoError(t, err)
	_, err = client.User(ctx, mu.Username)
	require.NoError(t, err)
	_, err = client.UpdateUserStatus(ctx, mu.Username, sdk.UserStatusSuspended)
	require.NoError(t, err)
	require.NoError(t, client.DeleteUser(ctx, mu.Username))
	require.NoError(t, apitest.WithToken(client, tok).Logout(ctx))

	logText := logs.String()
	require.Contains(t, logText, "http request", "the access log was captured")
	bodies := rec.bodies.String()

	always := []string{apitest.FirstUserPassword, memberPassword, "$argon2id"}
	var tokenSecrets []string
	for _, s := range secrets {
		secret := strings.SplitN(s, "-", 2)[1]
		sum := sha256.Sum256([]byte(secret))
		always = append(always, hex.EncodeToString(sum[:]), base64.StdEncoding.EncodeToString(sum[:]))
		tokenSecrets = append(tokenSecrets, secret)
	}
	for _, f := range append(always, tokenSecrets...) {
		require.NotContains(t, logText, f, "secret material in the logs")
	}
	for _, line := range strings.Split(bodies, "\n") {
		for _, f := range always {
			require.NotContains(t, line, f, "secret material in a response")
		}
		// A token appears only in the response that creates it.
		creating := strings.Contains(line, "POST /api/v2/users/login ->") ||
			strings.Contains(line, "/keys ->") || strings.Contains(line, "/keys/tokens ->")
		if !creating {
			for _, f := range tokenSecrets {
				require.NotContains(t, line, f, "token secret in a response")
			}
		}
		require.NotContains(t, line, "hashed_password")
		require.NotContains(t, line, "hashed_secret")
	}
}

func (c *countingStore) ListAPIKeys(ctx context.Context, f store.APIKeyFilter) ([]store.APIKey, error) {
	c.count("ListAPIKeys")
	return c.Store.ListAPIKeys(ctx, f)
}

func (c *countingStore) GetUserByUsername(ctx context.Context, name string) (store.User, error) {
	c.count("GetUserByUsername")
	return c.Store.GetUserByUsername(ctx, name)
}

// TestRefusedRequests runs the acceptance list of refusals through the real
// routes. Each one gets the documented status, body and WWW-Authenticate
// header, and the handler's own store call (listing tokens) never happens;
// for refused tokens not even the {user} lookup runs.
func TestRefusedRequests(t *testing.T) {
	t.Parallel()
	clock := newClock()
	var cs *countingStore
	owner, srv := apitest.New(t,
		apitest.WithAPIOptions(func(o *api.Options) { o.Now = clock.Now }),
		apitest.WithStoreWrapper(func(s store.Store) store.Store { cs = newCountingStore(s); return cs }))
	apitest.CreateFirstUser(t, owner)
	ctx := apitest.Context(t, time.Minute)

	valid := apitest.CreateToken(t, owner, sdk.Me, "valid", 0)
	validID := strings.SplitN(valid, "-", 2)[0]
	expiring := apitest.CreateToken(t, owner, sdk.Me, "expiring", time.Hour)
	expiringKey, err := owner.APIKeyByName(ctx, sdk.Me, "expiring")
	require.NoError(t, err)
	deleted := apitest.CreateToken(t, owner, sdk.Me, "deleted", 0)
	require.NoError(t, owner.DeleteAPIKey(ctx, sdk.Me, strings.SplitN(deleted, "-", 2)[0]))
	suspended, su := apitest.CreateUser(t, owner)
	_, err = owner.UpdateUserStatus(ctx, su.Username, sdk.UserStatusSuspended)
	require.NoError(t, err)
	gone, gu := apitest.CreateUser(t, owner)
	goneTok := apitest.CreateToken(t, gone, sdk.Me, "gone", 0)
	require.NoError(t, owner.DeleteUser(ctx, gu.Username))
	// Move the clock past the one-hour token only now, so everything above
	// was created in the present.
	clock.Advance(2 * time.Hour)

	invalid := `Bearer realm="coder", error="invalid_token", error_description="The access token is invalid", resource_metadata="` +
		srv.URL.String() + `/.well-known/oauth-protected-resource"`
	expiredHdr := strings.Replace(invalid, "is invalid", "has expired", 1)
	cases := []struct {
		name, token, path string
		status            int
		body, wwwAuth     string
	}{
		{"WrongSecret", validID + "-" + strings.Repeat("x", 22), "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"API key secret is invalid."}`, invalid},
		{"Expired", expiring, "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"API key expired at \"` + expiringKey.ExpiresAt.UTC().String() + `\"."}`, expiredHdr},
		{"DeletedToken", deleted, "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"API key is invalid."}`, invalid},
		{"SuspendedUser", suspended.SessionToken, "/api/v2/users/me/keys/tokens", 401,
			`{"message":"User is not active (status = \"suspended\"). Contact an admin to reactivate your account."}`, invalid},
		{"DeletedUsersToken", goneTok, "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"API key is invalid."}`, invalid},
		{"NoDash", strings.Repeat("a", 33), "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"Invalid API key format: incorrect amount of API key parts, expected 2 got 1"}`, invalid},
		{"ShortID", "abc-" + strings.Repeat("x", 22), "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"Invalid API key format: invalid API key ID length, expected 10 got 3"}`, invalid},
		{"LongSecret", validID + "-" + strings.Repeat("x", 40), "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"Invalid API key format: invalid API key secret length, expected 22 got 40"}`, invalid},
		{"MeWithoutSession", "", "/api/v2/users/me/keys/tokens", 401,
			`{"message":"` + signedOut + `","detail":"Cookie \"coder_session_token\" or query parameter must be provided."}`, invalid},
		{"UnknownUsername", valid, "/api/v2/users/no-such-user/keys/tokens", 400,
			`{"message":"\"user\" must be an existing uuid or username.","detail":"queried user=\"no-such-user\""}`, ""},
	}
	for _, tc := range cases {
		cs.reset()
		status, hdr, body := rawJSON(t, apitest.WithToken(owner, tc.token), http.MethodGet, tc.path, nil)
		require.Equal(t, tc.status, status, tc.name)
		require.JSONEq(t, tc.body, string(body), tc.name)
		require.Equal(t, tc.wwwAuth, hdr.Get("WWW-Authenticate"), tc.name)
		require.Zero(t, cs.get("ListAPIKeys"), "%s reached the handler", tc.name)
		if tc.status == http.StatusUnauthorized {
			require.Zero(t, cs.get("GetUserByUsername"), "%s reached the user lookup", tc.name)
		}
	}
	// The same request with the valid token does reach the handler.
	cs.reset()
	status, _, _ := rawJSON(t, apitest.WithToken(owner, valid), http.MethodGet, "/api/v2/users/me/keys/tokens", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, 1, cs.get("ListAPIKeys"))
}
