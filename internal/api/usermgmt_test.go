package api_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/sdk"
)

func TestCreateAndListUsers(t *testing.T) {
	t.Parallel()
	owner, _ := apitest.New(t)
	apitest.CreateFirstUser(t, owner)
	ctx := apitest.Context(t, time.Minute)
	member, mu := apitest.CreateUser(t, owner)
	auditor, _ := apitest.CreateUser(t, owner, "auditor")
	userAdmin, _ := apitest.CreateUser(t, owner, "user-admin")

	// A new member carries no site role and the default organization.
	require.Empty(t, mu.Roles)
	require.NotNil(t, mu.Roles)
	require.Len(t, mu.OrganizationIDs, 1)
	status, _, body := rawJSON(t, member, http.MethodGet, "/api/v2/users/me", nil)
	require.Equal(t, http.StatusOK, status)
	require.JSONEq(t, `[]`, string(mustField(t, body, "roles")))

	// Who may create users.
	req := sdk.CreateUserRequest{Email: "new@example.com", Username: "new-user", Password: "Another-Secure-Pass1"}
	_, err := member.CreateUser(ctx, req)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "You don't have permission to view this content. If you believe this is a mistake, please contact your administrator or try signing in with different credentials.")
	_, err = auditor.CreateUser(ctx, req)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	created, err := userAdmin.CreateUser(ctx, req)
	require.NoError(t, err)
	require.Equal(t, "new-user", created.Username)
	// Dormant until the first login, which activates the account.
	require.Equal(t, sdk.UserStatusDormant, created.Status)
	newbie := apitest.WithToken(owner, "")
	login, err := newbie.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: req.Email, Password: req.Password})
	require.NoError(t, err)
	newbie.SessionToken = login.SessionToken
	me, err := newbie.User(ctx, sdk.Me)
	require.NoError(t, err)
	require.Equal(t, sdk.UserStatusActive, me.Status)
	_, err = owner.CreateUser(ctx, req)
	requireSDKError(t, err, http.StatusConflict, "User already exists.", "")

	// Bad input.
	_, err = owner.CreateUser(ctx, sdk.CreateUserRequest{Email: "x@example.com", Username: "x", Password: "weak"})
	requireSDKError(t, err, http.StatusBadRequest, "Password is invalid", "")
	_, err = owner.CreateUser(ctx, sdk.CreateUserRequest{Email: "bad", Username: "way_too_long_username_with_underscores"})
	e := requireSDKError(t, err, http.StatusBadRequest, "Validation failed.", "")
	require.Len(t, e.Validations, 3)
	status, _, body = rawJSON(t, owner, http.MethodPost, "/api/v2/users", "not an object")
	require.Equal(t, http.StatusBadRequest, status)
	require.Contains(t, string(body), "Request body must be valid JSON.")

	// A user with login type none has no password and cannot log in.
	_, err = owner.CreateUser(ctx, sdk.CreateUserRequest{Email: "svc@example.com", Username: "svc", LoginType: sdk.LoginTypeNone, Password: "Another-Secure-Pass1"})
	requireSDKError(t, err, http.StatusBadRequest, `Password cannot be set for non-password ("none") authentication.`, "")
	none, err := owner.CreateUser(ctx, sdk.CreateUserRequest{Email: "svc@example.com", Username: "svc", LoginType: sdk.LoginTypeNone})
	require.NoError(t, err)
	require.Equal(t, sdk.LoginTypeNone, none.LoginType)
	_, err = apitest.WithToken(owner, "").LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: "svc@example.com", Password: "anything-at-all"})
	requireSDKError(t, err, http.StatusUnauthorized, "Incorrect email or password.", "")

	// Who may list.
	_, err = member.Users(ctx, sdk.UsersRequest{})
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	for _, c := range []*sdk.Client{owner, auditor, userAdmin} {
		res, err := c.Users(ctx, sdk.UsersRequest{})
		require.NoError(t, err)
		require.Equal(t, 6, res.Count)
		require.Len(t, res.Users, 6)
	}
	res, err := owner.Users(ctx, sdk.UsersRequest{Search: "role:auditor"})
	require.NoError(t, err)
	require.Equal(t, 1, res.Count)
	require.Equal(t, []sdk.SlimRole{{Name: "auditor", DisplayName: "Auditor"}}, res.Users[0].Roles)
	res, err = owner.Users(ctx, sdk.UsersRequest{Limit: 2})
	require.NoError(t, err)
	require.Equal(t, 6, res.Count)
	require.Len(t, res.Users, 2)
	_, err = owner.Users(ctx, sdk.UsersRequest{Search: "status:sleepy"})
	requireSDKError(t, err, http.StatusBadRequest, "Query parameters have invalid values.", "")

	// Reading single users: yourself always, others only with read-all.
	_, err = member.User(ctx, "admin")
	requireSDKError(t, err, http.StatusNotFound, "Resource not found or you do not have access to this resource", "")
	got, err := member.User(ctx, mu.Username)
	require.NoError(t, err)
	require.Equal(t, mu.ID, got.ID)
	got, err = auditor.User(ctx, mu.ID.String())
	require.NoError(t, err)
	require.Equal(t, mu.Username, got.Username)
}

func TestUserStatusRolesDelete(t *testing.T) {
	t.Parallel()
	owner, _ := apitest.New(t)
	apitest.CreateFirstUser(t, owner)
	ctx := apitest.Context(t, time.Minute)
	member, mu := apitest.CreateUser(t, owner)
	userAdmin, ua := apitest.CreateUser(t, owner, "user-admin")
	_, other := apitest.CreateUser(t, owner)

	// Members manage no one.
	_, err := member.UpdateUserStatus(ctx, other.Username, sdk.UserStatusSuspended)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	_, err = member.UpdateUserRoles(ctx, sdk.Me, sdk.UpdateRoles{Roles: []string{"owner"}})
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	err = member.DeleteUser(ctx, other.Username)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")

	// User-admins manage members, but never owners, and grant no roles.
	u, err := userAdmin.UpdateUserStatus(ctx, other.Username, sdk.UserStatusSuspended)
	require.NoError(t, err)
	require.Equal(t, sdk.UserStatusSuspended, u.Status)
	u, err = userAdmin.UpdateUserStatus(ctx, other.Username, sdk.UserStatusActive)
	require.NoError(t, err)
	require.Equal(t, sdk.UserStatusActive, u.Status)
	_, err = userAdmin.UpdateUserStatus(ctx, "admin", sdk.UserStatusSuspended)
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	_, err = userAdmin.UpdateUserRoles(ctx, other.Username, sdk.UpdateRoles{Roles: []string{"auditor"}})
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", `You are not allowed to assign or remove the role "auditor".`)
	_, err = userAdmin.UpdateUserStatus(ctx, sdk.Me, sdk.UserStatusSuspended)
	requireSDKError(t, err, http.StatusBadRequest, "You cannot suspend yourself.", "")

	// Owners change roles; the change applies to live sessions at once.
	_, err = member.Users(ctx, sdk.UsersRequest{})
	requireSDKError(t, err, http.StatusForbidden, "Forbidden.", "")
	u, err = owner.UpdateUserRoles(ctx, mu.Username, sdk.UpdateRoles{Roles: []string{"user-admin", "member", "user-admin"}})
	require.NoError(t, err)
	require.Equal(t, []sdk.SlimRole{{Name: "user-admin", DisplayName: "User Admin"}}, u.Roles)
	_, err = member.Users(ctx, sdk.UsersRequest{})
	require.NoError(t, err, "new role applies immediately on this replica")
	_, err = owner.UpdateUserRoles(ctx, mu.Username, sdk.UpdateRoles{Roles: []string{"template-admin"}})
	requireSDKError(t, err, http.StatusBadRequest, `Invalid role "template-admin".`, "")
	_, err = owner.UpdateUserRoles(ctx, sdk.Me, sdk.UpdateRoles{Roles: nil})
	requireSDKError(t, err, http.StatusBadRequest, "You cannot change your own roles.", "")

	// Owners cannot be suspended until they are demoted.
	_, coOwner := apitest.CreateUser(t, owner, "owner")
	_, err = owner.UpdateUserStatus(ctx, coOwner.Username, sdk.UserStatusSuspended)
	requireSDKError(t, err, http.StatusBadRequest, `You cannot suspend a user with the "owner" role. You must remove the role first.`, "")
	_, err = owner.UpdateUserRoles(ctx, coOwner.Username, sdk.UpdateRoles{Roles: []string{}})
	require.NoError(t, err)
	_, err = owner.UpdateUserStatus(ctx, coOwner.Username, sdk.UserStatusSuspended)
	require.NoError(t, err)

	// Deleting: not yourself; the user's tokens die with them.
	err = owner.DeleteUser(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusForbidden, "You cannot delete yourself!", "")
	tok := apitest.CreateToken(t, member, sdk.Me, "before-delete", 0)
	require.NoError(t, userAdmin.DeleteUser(ctx, mu.ID.String()))
	_, err = apitest.WithToken(owner, tok).User(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key is invalid.")
	_, err = member.User(ctx, sdk.Me)
	requireSDKError(t, err, http.StatusUnauthorized, signedOut, "API key is invalid.")
	_, err = owner.User(ctx, mu.Username)
	requireSDKError(t, err, http.StatusBadRequest, `"user" must be an existing uuid or username.`, `queried user="`+mu.Username+`"`)
	res, err := owner.Users(ctx, sdk.UsersRequest{})
	require.NoError(t, err)
	for _, u := range res.Users {
		require.NotEqual(t, mu.ID, u.ID)
	}
	// The username is free again.
	_, err = owner.CreateUser(ctx, sdk.CreateUserRequest{Email: mu.Email, Username: mu.Username, Password: "Another-Secure-Pass1"})
	require.NoError(t, err)
	_, err = owner.User(ctx, ua.Username)
	require.NoError(t, err)
}

func mustField(t *testing.T, body []byte, key string) json.RawMessage {
	t.Helper()
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(body, &m))
	v, ok := m[key]
	require.True(t, ok, "key %q missing in %s", key, body)
	return v
}
