package api_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/sdk"
)

func TestFirstUser(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	ctx := apitest.Context(t, time.Minute)

	has, err := client.HasFirstUser(ctx)
	require.NoError(t, err)
	require.False(t, has)
	status, hdr, body := rawJSON(t, client, http.MethodGet, "/api/v2/users/first", nil)
	require.Equal(t, http.StatusNotFound, status)
	require.NotEmpty(t, hdr.Get(sdk.BuildVersionHeader))
	require.JSONEq(t, `{"message":"The initial user has not been created!"}`, string(body))

	// Validation runs before anything is created.
	_, err = client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{Email: "nope", Username: "-bad-", Password: "x"})
	e := requireSDKError(t, err, http.StatusBadRequest, "Validation failed.", "")
	require.ElementsMatch(t, []sdk.ValidationError{
		{Field: "email", Detail: `Validation failed for tag "email" with value: "nope"`},
		{Field: "username", Detail: `Validation failed for tag "username" with value: "-bad-"`},
	}, e.Validations)
	_, err = client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{Email: "a@example.com", Username: "a", Password: "password"})
	e = requireSDKError(t, err, http.StatusBadRequest, "Password is invalid", "")
	require.Equal(t, "password", e.Validations[0].Field)

	first := apitest.CreateFirstUser(t, client)

	has, err = client.HasFirstUser(ctx)
	require.NoError(t, err)
	require.True(t, has)
	status, _, body = rawJSON(t, client, http.MethodGet, "/api/v2/users/first", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, string(reference(t, "users_first.json")), string(body))

	_, err = client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{
		Email: "b@example.com", Username: "b", Password: apitest.FirstUserPassword,
	})
	requireSDKError(t, err, http.StatusConflict, "The initial user has already been created.", "")

	me, err := client.User(ctx, sdk.Me)
	require.NoError(t, err)
	require.Equal(t, first.UserID, me.ID.String())
	require.Equal(t, []sdk.SlimRole{{Name: "owner", DisplayName: "Owner"}}, me.Roles)
	require.Equal(t, sdk.UserStatusActive, me.Status)
	require.Equal(t, sdk.LoginTypePassword, me.LoginType)
	require.Equal(t, []uuid.UUID{uuid.MustParse(first.OrganizationID)}, me.OrganizationIDs)

	status, _, body = rawJSON(t, client, http.MethodGet, "/api/v2/users/me", nil)
	require.Equal(t, http.StatusOK, status)
	requireSameKeys(t, "users_me.json", body)
}

func TestLoginCookieAndLogout(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t, apitest.WithIdentity(func(o *api.IdentityOptions) {
		o.SameSite = "none"
		o.HostPrefixCookie = true
	}))
	apitest.CreateFirstUser(t, client)

	anon := apitest.WithToken(client, "")
	resp, err := anon.Request(t.Context(), http.MethodPost, "/api/v2/users/login",
		sdk.LoginWithPasswordRequest{Email: apitest.FirstUserEmail, Password: apitest.FirstUserPassword})
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusCreated, resp.StatusCode)
	var login sdk.LoginWithPasswordResponse
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&login))
	var c *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name != "csrf_token" {
			require.Nil(t, c, "one session cookie")
			c = ck
		}
	}
	require.NotNil(t, c)
	require.Equal(t, "__Host-coder_session_token", c.Name)
	require.Equal(t, login.SessionToken, c.Value)
	require.Equal(t, "/", c.Path)
	require.True(t, c.HttpOnly)
	require.True(t, c.Secure)
	require.Equal(t, http.SameSiteNoneMode, c.SameSite)
	require.Equal(t, 365*24*3600, c.MaxAge)

	// The cookie authenticates on its own.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, client.URL.String()+"/api/v2/users/me", nil)
	require.NoError(t, err)
	req.AddCookie(&http.Cookie{Name: c.Name, Value: c.Value})
	r2, err := client.HTTPClient.Do(req)
	require.NoError(t, err)
	r2.Body.Close()
	require.Equal(t, http.StatusOK, r2.StatusCode)

	session := apitest.WithToken(client, login.SessionToken)
	out, err := session.Request(t.Context(), http.MethodPost, "/api/v2/users/logout", nil)
	require.NoError(t, err)
	defer out.Body.Close()
	require.Equal(t, http.StatusOK, out.StatusCode)
	cleared := false
	for _, ck := range out.Cookies() {
		if ck.Name == "__Host-coder_session_token" {
			cleared = ck.MaxAge < 0 && ck.Value == ""
		}
	}
	require.True(t, cleared, "logout clears the session cookie")
	_, err = session.User(t.Context(), sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key is invalid.")
}

func TestLoginErrors(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	anon := apitest.WithToken(client, "")
	ctx := t.Context()

	_, err := anon.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: apitest.FirstUserEmail, Password: "wrong-password"})
	requireSDKError(t, err, http.StatusUnauthorized, "Incorrect email or password.", "")
	_, err = anon.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: "nobody@example.com", Password: "wrong-password"})
	requireSDKError(t, err, http.StatusUnauthorized, "Incorrect email or password.", "")
	_, err = anon.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{})
	requireSDKError(t, err, http.StatusBadRequest, "Validation failed.", "")

	// A suspended user cannot sign in, and their sessions stop working.
	member, mu := apitest.CreateUser(t, client)
	_, err = client.UpdateUserStatus(ctx, mu.ID.String(), sdk.UserStatusSuspended)
	require.NoError(t, err)
	_, err = anon.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: mu.Email, Password: "Test-Password-" + mu.Username})
	requireSDKError(t, err, http.StatusUnauthorized, "Your account is suspended. Contact an admin to reactivate your account.", "")
	_, err = member.User(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, `User is not active (status = "suspended"). Contact an admin to reactivate your account.`, "")

	// Reactivated, the old session works again.
	_, err = client.UpdateUserStatus(ctx, mu.ID.String(), sdk.UserStatusActive)
	require.NoError(t, err)
	_, err = member.User(ctx, sdk.Me)
	require.NoError(t, err)
}

// TestFirstUserRace: concurrent set-up requests create exactly one owner.
func TestFirstUserRace(t *testing.T) {
	t.Parallel()
	client, _ := apitest.New(t)
	ctx := apitest.Context(t, time.Minute)
	const n = 6
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, err := client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{
				Email: fmt.Sprintf("owner%d@example.com", i), Username: fmt.Sprintf("owner%d", i), Password: apitest.FirstUserPassword,
			})
			errs <- err
		}()
	}
	created := 0
	for range n {
		err := <-errs
		if err == nil {
			created++
			continue
		}
		requireSDKError(t, err, http.StatusConflict, "The initial user has already been created.", "")
	}
	require.Equal(t, 1, created)
}
