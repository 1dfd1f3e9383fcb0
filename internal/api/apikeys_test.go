package api_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/sdk"
)

func TestTokensLifecycle(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	first := apitest.CreateFirstUser(t, client)
	ctx := apitest.Context(t, time.Minute)

	// The password session is not a token: the list starts empty, as
	// `coder tokens list` shows "No tokens found." after login.
	list, err := client.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.Empty(t, list)
	status, _, body := rawJSON(t, client, http.MethodGet, "/api/v2/users/me/keys/tokens?include_all=false&include_expired=false", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "[]\n", string(body))

	before := time.Now().Add(-time.Second)
	created, err := client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "cli-made", Lifetime: time.Hour})
	require.NoError(t, err)
	require.Len(t, created.Key, 33)

	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "cli-made"})
	e := requireSDKError(t, err, http.StatusConflict, `A token with name "cli-made" already exists.`, "")
	require.Equal(t, []sdk.ValidationError{{Field: "name", Detail: "This value is already in use and should be unique."}}, e.Validations)

	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "bad/name"})
	requireSDKError(t, err, http.StatusBadRequest, "Failed to validate create API key request.", "")
	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: strings.Repeat("n", 65)})
	requireSDKError(t, err, http.StatusBadRequest, "Failed to validate create API key request.", "")
	// Names Coder accepts work, including in the by-name path.
	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "my token_2"})
	require.NoError(t, err)
	spaced, err := client.APIKeyByName(ctx, sdk.Me, "my token_2")
	require.NoError(t, err)
	require.NoError(t, client.DeleteAPIKey(ctx, sdk.Me, spaced.ID))

	// Scopes and allow lists gantry would not enforce are refused, not
	// silently widened; the unrestricted ones are accepted in both encodings.
	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "narrow", Scopes: []string{"coder:workspaces.read"}})
	requireSDKError(t, err, http.StatusBadRequest, "Failed to create API key.",
		`invalid or unsupported API key scope: "coder:workspaces.read" (gantry tokens have the "coder:all" scope)`)
	_, err = client.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "narrow", AllowList: []string{"workspace:123"}})
	requireSDKError(t, err, http.StatusBadRequest, "Failed to create API key.", "")
	status, _, body = rawJSON(t, client, http.MethodPost, "/api/v2/users/me/keys/tokens", map[string]any{
		"token_name": "objects", "scope": "all", "scopes": []string{"coder:all"},
		"allow_list": []any{map[string]string{"type": "*", "id": "*"}},
	})
	require.Equal(t, http.StatusCreated, status, string(body))
	objKey, err := client.APIKeyByName(ctx, sdk.Me, "objects")
	require.NoError(t, err)
	require.NoError(t, client.DeleteAPIKey(ctx, sdk.Me, objKey.ID))

	status, _, body = rawJSON(t, client, http.MethodGet, "/api/v2/users/me/keys/tokens?include_all=false&include_expired=false", nil)
	require.Equal(t, http.StatusOK, status)
	requireSameKeys(t, "users_me_keys_tokens.json", body)
	// The secret appears nowhere in the listing.
	require.NotContains(t, string(body), strings.SplitN(created.Key, "-", 2)[1])

	list, err = client.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	k := list[0]
	require.Equal(t, strings.SplitN(created.Key, "-", 2)[0], k.ID)
	require.Equal(t, first.UserID, k.UserID.String())
	require.Equal(t, "admin", k.Username)
	require.Equal(t, sdk.LoginTypeToken, k.LoginType)
	require.Equal(t, "all", k.Scope)
	require.Equal(t, []string{"coder:all"}, k.Scopes)
	require.Equal(t, []string{"*:*"}, k.AllowList)
	require.Equal(t, int64(3600), k.LifetimeSeconds)
	require.Equal(t, time.Unix(0, 0).UTC(), k.LastUsed.UTC())
	require.WithinDuration(t, k.CreatedAt.Add(time.Hour), k.ExpiresAt, time.Second)
	require.True(t, k.CreatedAt.After(before))

	byName, err := client.APIKeyByName(ctx, sdk.Me, "cli-made")
	require.NoError(t, err)
	require.Equal(t, k.APIKey, byName)
	byID, err := client.APIKeyByID(ctx, sdk.Me, k.ID)
	require.NoError(t, err)
	require.Equal(t, k.APIKey, byID)
	_, err = client.APIKeyByName(ctx, sdk.Me, "nope")
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")

	// The token works, then stops working the moment it is deleted.
	tok := apitest.WithToken(client, created.Key)
	me, err := tok.User(ctx, sdk.Me)
	require.NoError(t, err)
	require.Equal(t, "admin", me.Username)
	require.NoError(t, client.DeleteAPIKey(ctx, sdk.Me, k.ID))
	_, err = tok.User(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key is invalid.")
	err = client.DeleteAPIKey(ctx, sdk.Me, k.ID)
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")

	// tokenconfig for the owner: the admin maximum.
	status, _, body = rawJSON(t, client, http.MethodGet, "/api/v2/users/me/keys/tokens/tokenconfig", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, string(reference(t, "users_me_keys_tokens_tokenconfig.json")), string(body))
}

func TestTokensOfOthers(t *testing.T) {
	t.Parallel()
	owner, _ := apitest.New(t)
	apitest.CreateFirstUser(t, owner)
	ctx := apitest.Context(t, time.Minute)
	alice, au := apitest.CreateUser(t, owner)
	bob, bu := apitest.CreateUser(t, owner)
	userAdmin, _ := apitest.CreateUser(t, owner, "user-admin")

	aliceTok := apitest.CreateToken(t, alice, sdk.Me, "alice-tok", 0)
	aliceID := strings.SplitN(aliceTok, "-", 2)[0]

	// Members cannot see or touch other members' keys.
	_, err := bob.Tokens(ctx, au.ID.String(), sdk.TokensFilter{})
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
	_, err = bob.APIKeyByID(ctx, au.Username, aliceID)
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
	err = bob.DeleteAPIKey(ctx, au.Username, aliceID)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	_, err = bob.CreateToken(ctx, au.Username, sdk.CreateTokenRequest{TokenName: "evil"})
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	_, err = userAdmin.CreateAPIKey(ctx, au.Username)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	// A key id under the wrong user is not found.
	_, err = bob.APIKeyByID(ctx, sdk.Me, aliceID)
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
	err = bob.DeleteAPIKey(ctx, bu.Username, aliceID)
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")

	// include_all widens the list for owners only.
	apitest.CreateToken(t, owner, sdk.Me, "owner-tok", 0)
	all, err := owner.Tokens(ctx, sdk.Me, sdk.TokensFilter{IncludeAll: true})
	require.NoError(t, err)
	names := map[string]string{}
	for _, k := range all {
		names[k.TokenName] = k.Username
	}
	require.Equal(t, map[string]string{"alice-tok": au.Username, "owner-tok": "admin"}, names)
	mine, err := alice.Tokens(ctx, sdk.Me, sdk.TokensFilter{IncludeAll: true})
	require.NoError(t, err)
	require.Len(t, mine, 1)

	// Owners manage anyone's keys.
	require.NoError(t, owner.DeleteAPIKey(ctx, au.ID.String(), aliceID))
	_, err = apitest.WithToken(owner, aliceTok).User(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key is invalid.")

	// tokenconfig describes the target user: a member gets the non-admin max.
	cfg, err := bob.GetTokenConfig(ctx, sdk.Me)
	require.NoError(t, err)
	require.Equal(t, 876600*time.Hour, cfg.MaxTokenLifetime)
	cfg, err = bob.GetTokenConfig(ctx, "admin")
	require.NoError(t, err)
	require.Equal(t, 7*24*time.Hour, cfg.MaxTokenLifetime)

	_, err = bob.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	status, _, body := rawJSON(t, bob, http.MethodGet, "/api/v2/users/me/keys/tokens?include_all=maybe", nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), "Query parameters have invalid values.")
}

func TestIncludeExpired(t *testing.T) {
	t.Parallel()
	clock := newClock()
	client, _ := apitest.New(t, apitest.WithAPIOptions(func(o *api.Options) { o.Now = clock.Now }))
	apitest.CreateFirstUser(t, client)
	ctx := apitest.Context(t, time.Minute)
	apitest.CreateToken(t, client, sdk.Me, "short", time.Hour)
	apitest.CreateToken(t, client, sdk.Me, "long", 48*time.Hour)
	clock.Advance(2 * time.Hour)
	list, err := client.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.Equal(t, "long", list[0].TokenName)
	list, err = client.Tokens(ctx, sdk.Me, sdk.TokensFilter{IncludeExpired: true})
	require.NoError(t, err)
	require.Len(t, list, 2)
}

// The lifetime rules asserted by Coder's tests (spec §11).
func TestTokenLifetimes(t *testing.T) {
	t.Parallel()
	const day = 24 * time.Hour

	t.Run("UserSetMaxLifetime", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) { o.MaxTokenLifetime = 7 * day }))
		apitest.CreateFirstUser(t, client)
		member, _ := apitest.CreateUser(t, client)
		_, err := member.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 6 * day})
		require.NoError(t, err)
		_, err = member.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 8 * day})
		requireSDKError(t, err, http.StatusBadRequest, "Failed to validate create API key request.", "lifetime must be less than 168h0m0s")
		require.ErrorContains(t, err, "lifetime must be less")
		_, err = member.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: -time.Hour})
		requireSDKError(t, err, http.StatusBadRequest, "Failed to validate create API key request.", "lifetime must be positive number greater than 0")
	})

	t.Run("AdminSetMaxLifetime", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) {
			o.MaxTokenLifetime = 7 * day
			o.MaxAdminTokenLifetime = 14 * day
		}))
		apitest.CreateFirstUser(t, client)
		member, _ := apitest.CreateUser(t, client)
		_, err := client.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 10 * day})
		require.NoError(t, err)
		_, err = client.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 15 * day})
		requireSDKError(t, err, http.StatusBadRequest, "Failed to validate create API key request.", "lifetime must be less than 336h0m0s")
		_, err = member.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 8 * day})
		require.ErrorContains(t, err, "lifetime must be less")
	})

	t.Run("AdminMaxBelowMemberMax", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) {
			o.MaxTokenLifetime = 14 * day
			o.MaxAdminTokenLifetime = 7 * day
		}))
		apitest.CreateFirstUser(t, client)
		member, _ := apitest.CreateUser(t, client)
		_, err := client.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 8 * day})
		require.ErrorContains(t, err, "lifetime must be less")
		_, err = member.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{Lifetime: 10 * day})
		require.NoError(t, err)
	})

	t.Run("CustomDefaultLifetime", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) { o.DefaultTokenLifetime = 12 * time.Hour }))
		apitest.CreateFirstUser(t, client)
		_, err := client.CreateToken(t.Context(), sdk.Me, sdk.CreateTokenRequest{TokenName: "dflt"})
		require.NoError(t, err)
		k, err := client.APIKeyByName(t.Context(), sdk.Me, "dflt")
		require.NoError(t, err)
		require.Equal(t, int64(43200), k.LifetimeSeconds)
	})

	t.Run("SessionExpiry", func(t *testing.T) {
		t.Parallel()
		clock := newClock()
		client, _ := apitest.New(t,
			apitest.WithAPIOptions(func(o *api.Options) { o.Now = clock.Now }),
			apitest.WithIdentity(func(o *api.IdentityOptions) { o.SessionDuration = 3 * time.Hour }))
		apitest.CreateFirstUser(t, client)
		id := strings.SplitN(client.SessionToken, "-", 2)[0]
		k, err := client.APIKeyByID(t.Context(), sdk.Me, id)
		require.NoError(t, err)
		require.Equal(t, sdk.LoginTypePassword, k.LoginType)
		require.Equal(t, int64(3*3600), k.LifetimeSeconds)
		require.WithinDuration(t, k.CreatedAt.Add(3*time.Hour), k.ExpiresAt, time.Second)

		clock.Advance(3*time.Hour + time.Minute)
		_, err = client.User(t.Context(), sdk.Me)
		e := requireSDKError(t, err, http.StatusUnauthorized, signedOut, "")
		require.Contains(t, e.Message, "session has expired")
		require.Equal(t, `API key expired at "`+k.ExpiresAt.UTC().String()+`".`, e.Detail)
	})

	t.Run("SetDefault", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) { o.DefaultTokenLifetime = 5 * day }))
		apitest.CreateFirstUser(t, client)
		resp, err := client.CreateAPIKey(t.Context(), sdk.Me)
		require.NoError(t, err)
		k, err := client.APIKeyByID(t.Context(), sdk.Me, strings.SplitN(resp.Key, "-", 2)[0])
		require.NoError(t, err)
		require.Equal(t, int64(5*86400), k.LifetimeSeconds)
		require.Equal(t, sdk.LoginTypePassword, k.LoginType)
		_, err = apitest.WithToken(client, resp.Key).User(t.Context(), sdk.Me)
		require.NoError(t, err)
	})

	t.Run("DeletedUser", func(t *testing.T) {
		t.Parallel()
		client, _ := apitest.New(t)
		apitest.CreateFirstUser(t, client)
		_, u := apitest.CreateUser(t, client)
		require.NoError(t, client.DeleteUser(t.Context(), u.ID.String()))
		_, err := client.CreateAPIKey(t.Context(), u.ID.String())
		requireSDKError(t, err, http.StatusBadRequest, `"user" must be an existing uuid or username.`, `queried user="`+u.ID.String()+`"`)
	})
}

// clock is a settable time source for the API.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func newClock() *clock { return &clock{} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.off += d
}

func TestExpireAPIKey(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	member, mu := apitest.CreateUser(t, client)
	ctx := apitest.Context(t, time.Minute)
	tok := apitest.CreateToken(t, member, sdk.Me, "to-expire", 0)
	id := strings.SplitN(tok, "-", 2)[0]
	tc := apitest.WithToken(client, tok)
	_, err := tc.User(ctx, sdk.Me) // cached and in use
	require.NoError(t, err)

	_, bob := apitest.CreateUser(t, client)
	err = apitest.WithToken(client, "").ExpireAPIKey(ctx, mu.Username, id)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "")
	err = member.ExpireAPIKey(ctx, bob.Username, id)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")

	require.NoError(t, member.ExpireAPIKey(ctx, sdk.Me, id))
	_, err = tc.User(ctx, sdk.Me)
	e := requireSDKError(t, err, http.StatusUnauthorized, signedOut, "")
	require.Contains(t, e.Detail, "API key expired at")
	// Idempotent; the key is still listed with include_expired.
	require.NoError(t, member.ExpireAPIKey(ctx, sdk.Me, id))
	list, err := member.Tokens(ctx, sdk.Me, sdk.TokensFilter{IncludeExpired: true})
	require.NoError(t, err)
	require.Len(t, list, 1)
	require.False(t, list[0].ExpiresAt.After(time.Now()))
	list, err = member.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.Empty(t, list)
	err = member.ExpireAPIKey(ctx, sdk.Me, "ZZZZZZZZZZ")
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
}

func TestOrganizations(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	first := apitest.CreateFirstUser(t, client)
	member, mu := apitest.CreateUser(t, client)
	ctx := apitest.Context(t, time.Minute)

	orgs, err := member.OrganizationsByUser(ctx, sdk.Me)
	require.NoError(t, err)
	require.Len(t, orgs, 1)
	require.Equal(t, first.OrganizationID, orgs[0].ID.String())
	require.True(t, orgs[0].IsDefault)
	require.Equal(t, mu.OrganizationIDs[0], orgs[0].ID)
	_, err = member.OrganizationsByUser(ctx, "admin")
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")

	for _, q := range []string{orgs[0].ID.String(), orgs[0].Name, "default"} {
		org, err := member.OrganizationByName(ctx, q)
		require.NoError(t, err, q)
		require.Equal(t, orgs[0], org)
	}
	_, err = member.OrganizationByName(ctx, "elsewhere")
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
}
