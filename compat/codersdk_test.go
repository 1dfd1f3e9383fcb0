package compat_test

import (
	"net/http"
	"regexp"
	"slices"
	"testing"
	"time"

	"github.com/coder/coder/v2/codersdk"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tokenPattern is Coder's API key format: a 10-character id, a dash and a
// 22-character secret.
var tokenPattern = regexp.MustCompile(`^[0-9a-zA-Z]{10}-[0-9a-zA-Z]{22}$`)

// firstUser is the owner every test creates.
var firstUser = codersdk.CreateFirstUserRequest{
	Email:    "admin@example.com",
	Username: "admin",
	Name:     "Ada Admin",
	Password: "correct-Horse-battery-42",
}

// TestCodersdk drives gantry with Coder's Go SDK v2.36.1. Every SDK call is
// its own subtest, so a failure names the call and the error codersdk
// returned.
func TestCodersdk(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		cfg := serverConfig{}
		if b.pgURL != "" {
			cfg.pgURL = pgSchemaURL(t, b.pgURL)
		}
		s := startGantry(t, cfg)
		ctx := testContext(t, 3*time.Minute)
		anon := codersdk.New(s.URL)

		// Set-up calls: everything below needs them, so they are fatal.
		has, err := anon.HasFirstUser(ctx)
		require.NoError(t, err, "HasFirstUser before set-up")
		require.False(t, has, "HasFirstUser before set-up")

		first, err := anon.CreateFirstUser(ctx, firstUser)
		require.NoError(t, err, "CreateFirstUser")
		require.NotEqual(t, uuid.Nil, first.UserID, "CreateFirstUser user_id")
		require.NotEqual(t, uuid.Nil, first.OrganizationID, "CreateFirstUser organization_id")

		has, err = anon.HasFirstUser(ctx)
		require.NoError(t, err, "HasFirstUser after set-up")
		require.True(t, has, "HasFirstUser after set-up")

		login, err := anon.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
			Email: firstUser.Email, Password: firstUser.Password,
		})
		require.NoError(t, err, "LoginWithPassword")
		require.Regexp(t, tokenPattern, login.SessionToken, "LoginWithPassword session_token")

		owner := codersdk.New(s.URL)
		owner.SetSessionToken(login.SessionToken)

		t.Run("CreateFirstUserTwice", func(t *testing.T) {
			_, err := anon.CreateFirstUser(ctx, firstUser)
			requireStatus(t, err, http.StatusConflict)
		})

		t.Run("LoginWithPasswordWrong", func(t *testing.T) {
			_, err := anon.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
				Email: firstUser.Email, Password: "not-the-password-1",
			})
			requireStatus(t, err, http.StatusUnauthorized)
		})

		t.Run("User", func(t *testing.T) {
			me, err := owner.User(ctx, codersdk.Me)
			require.NoError(t, err)
			assert.Equal(t, first.UserID, me.ID)
			assert.Equal(t, firstUser.Username, me.Username)
			assert.Equal(t, firstUser.Email, me.Email)
			assert.Equal(t, firstUser.Name, me.Name)
			assert.Equal(t, codersdk.UserStatusActive, me.Status)
			assert.Equal(t, codersdk.LoginTypePassword, me.LoginType)
			assert.Contains(t, me.OrganizationIDs, first.OrganizationID)
			assert.True(t, slices.ContainsFunc(me.Roles, func(r codersdk.SlimRole) bool { return r.Name == "owner" }),
				"roles %v lack owner", me.Roles)

			byName, err := owner.User(ctx, firstUser.Username)
			require.NoError(t, err, "User by username")
			assert.Equal(t, me.ID, byName.ID)
			byID, err := owner.User(ctx, me.ID.String())
			require.NoError(t, err, "User by id")
			assert.Equal(t, me.ID, byID.ID)
		})

		t.Run("UserWithoutSession", func(t *testing.T) {
			_, err := anon.User(ctx, codersdk.Me)
			requireStatus(t, err, http.StatusUnauthorized)
		})

		t.Run("BuildInfo", func(t *testing.T) {
			bi, err := anon.BuildInfo(ctx)
			require.NoError(t, err)
			assert.NotEmpty(t, bi.Version)
			assert.NotEmpty(t, bi.ExternalURL)
			assert.Equal(t, s.URL.String(), bi.DashboardURL)
			assert.False(t, bi.WorkspaceProxy)
			assert.False(t, bi.Telemetry, "telemetry was disabled by flag")
			_, err = uuid.Parse(bi.DeploymentID)
			assert.NoError(t, err, "deployment_id %q", bi.DeploymentID)
			assert.NotEmpty(t, bi.AgentAPIVersion)
			assert.NotEmpty(t, bi.ProvisionerAPIVersion)
		})

		t.Run("DeploymentConfig", func(t *testing.T) {
			dc, err := owner.DeploymentConfig(ctx)
			require.NoError(t, err)
			require.NotNil(t, dc.Values)
			assert.Equal(t, s.URL.String(), dc.Values.AccessURL.String())
			assert.Greater(t, len(dc.Options), 200, "options")
			for _, o := range dc.Options {
				if o.Flag == "postgres-url" {
					assert.Empty(t, o.Value.String(), "postgres-url is secret and must be redacted")
				}
			}
		})

		t.Run("DeploymentConfigForbiddenWithoutSession", func(t *testing.T) {
			_, err := anon.DeploymentConfig(ctx)
			requireStatus(t, err, http.StatusUnauthorized)
		})

		t.Run("DeploymentStats", func(t *testing.T) {
			// The first refresh happens in the background; until then gantry
			// answers 400 "Deployment stats are still processing!".
			var stats codersdk.DeploymentStats
			var err error
			deadline := time.Now().Add(75 * time.Second)
			for time.Now().Before(deadline) {
				stats, err = owner.DeploymentStats(ctx)
				if err == nil {
					break
				}
				if e, ok := errorsAs[*codersdk.Error](err); !ok || e.StatusCode() != http.StatusBadRequest {
					break
				}
				time.Sleep(500 * time.Millisecond)
			}
			require.NoError(t, err)
			assert.False(t, stats.CollectedAt.IsZero(), "collected_at")
			assert.True(t, stats.NextUpdateAt.After(stats.CollectedAt), "next_update_at after collected_at")
			assert.True(t, stats.AggregatedFrom.Before(stats.CollectedAt), "aggregated_from before collected_at")
			assert.Zero(t, stats.Workspaces.Running)
			assert.EqualValues(t, -1, stats.Workspaces.ConnectionLatencyMS.P50)
		})

		t.Run("Experiments", func(t *testing.T) {
			ex, err := owner.Experiments(ctx)
			require.NoError(t, err)
			assert.NotNil(t, ex, "experiments must be [] not null")
		})

		t.Run("SafeExperiments", func(t *testing.T) {
			av, err := owner.SafeExperiments(ctx)
			require.NoError(t, err)
			assert.NotNil(t, av.Safe, "safe must be [] not null")
		})

		t.Run("UpdateCheck", func(t *testing.T) {
			uc, err := owner.UpdateCheck(ctx)
			require.NoError(t, err)
			assert.True(t, uc.Current, "update check is disabled, so the server is current")
			assert.NotEmpty(t, uc.Version)
		})

		t.Run("SSHConfiguration", func(t *testing.T) {
			ssh, err := owner.SSHConfiguration(ctx)
			require.NoError(t, err)
			assert.NotEmpty(t, ssh.HostnamePrefix)
			assert.NotEmpty(t, ssh.HostnameSuffix)
		})

		t.Run("GetTokenConfig", func(t *testing.T) {
			tc, err := owner.GetTokenConfig(ctx, codersdk.Me)
			require.NoError(t, err)
			assert.Greater(t, tc.MaxTokenLifetime, time.Hour)
		})

		t.Run("Tokens", func(t *testing.T) {
			// The password session is not a token, so the list starts empty.
			before, err := owner.Tokens(ctx, codersdk.Me, codersdk.TokensFilter{})
			require.NoError(t, err, "Tokens before CreateToken")
			assert.Empty(t, before)

			created, err := owner.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{
				TokenName: "compat-sdk", Lifetime: time.Hour,
			})
			require.NoError(t, err, "CreateToken")
			require.Regexp(t, tokenPattern, created.Key)
			keyID := created.Key[:10]

			list, err := owner.Tokens(ctx, codersdk.Me, codersdk.TokensFilter{})
			require.NoError(t, err, "Tokens")
			require.Len(t, list, 1)
			assert.Equal(t, keyID, list[0].ID)
			assert.Equal(t, "compat-sdk", list[0].TokenName)
			assert.Equal(t, codersdk.LoginTypeToken, list[0].LoginType)
			assert.EqualValues(t, 3600, list[0].LifetimeSeconds)
			assert.Equal(t, firstUser.Username, list[0].Username)
			assert.WithinDuration(t, time.Now().Add(time.Hour), list[0].ExpiresAt, 5*time.Minute)

			byName, err := owner.APIKeyByName(ctx, codersdk.Me, "compat-sdk")
			require.NoError(t, err, "APIKeyByName")
			assert.Equal(t, keyID, byName.ID)

			byID, err := owner.APIKeyByID(ctx, codersdk.Me, keyID)
			require.NoError(t, err, "APIKeyByID")
			assert.Equal(t, "compat-sdk", byID.TokenName)

			_, err = owner.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{
				TokenName: "compat-sdk", Lifetime: time.Hour,
			})
			requireStatus(t, err, http.StatusConflict)

			tokenClient := codersdk.New(s.URL)
			tokenClient.SetSessionToken(created.Key)
			me, err := tokenClient.User(ctx, codersdk.Me)
			require.NoError(t, err, "User with the new token")
			assert.Equal(t, first.UserID, me.ID)

			require.NoError(t, owner.DeleteAPIKey(ctx, codersdk.Me, keyID), "DeleteAPIKey")
			_, err = owner.APIKeyByName(ctx, codersdk.Me, "compat-sdk")
			requireStatus(t, err, http.StatusNotFound)
			_, err = tokenClient.User(ctx, codersdk.Me)
			requireStatus(t, err, http.StatusUnauthorized)
		})

		t.Run("CreateUserAndUsers", func(t *testing.T) {
			member, err := owner.CreateUserWithOrgs(ctx, codersdk.CreateUserRequestWithOrgs{
				Email: "member@example.com", Username: "member", Name: "Mem Ber",
				Password: "another-Secret-pass-7", OrganizationIDs: []uuid.UUID{first.OrganizationID},
			})
			require.NoError(t, err, "CreateUserWithOrgs")
			assert.Equal(t, "member", member.Username)

			users, err := owner.Users(ctx, codersdk.UsersRequest{})
			require.NoError(t, err, "Users")
			var names []string
			for _, u := range users.Users {
				names = append(names, u.Username)
			}
			assert.ElementsMatch(t, []string{"admin", "member"}, names)
			assert.Equal(t, 2, users.Count)

			memberClient := codersdk.New(s.URL)
			ml, err := memberClient.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
				Email: "member@example.com", Password: "another-Secret-pass-7",
			})
			require.NoError(t, err, "member LoginWithPassword")
			memberClient.SetSessionToken(ml.SessionToken)
			_, err = memberClient.DeploymentConfig(ctx)
			requireStatus(t, err, http.StatusForbidden)
		})

		t.Run("Logout", func(t *testing.T) {
			c := codersdk.New(s.URL)
			l, err := c.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
				Email: firstUser.Email, Password: firstUser.Password,
			})
			require.NoError(t, err)
			c.SetSessionToken(l.SessionToken)
			require.NoError(t, c.Logout(ctx), "Logout")
			_, err = c.User(ctx, codersdk.Me)
			requireStatus(t, err, http.StatusUnauthorized)
		})
	})
}

// requireStatus asserts that err is a codersdk error with the given status.
func requireStatus(t *testing.T, err error, status int) {
	t.Helper()
	require.Error(t, err)
	e, ok := errorsAs[*codersdk.Error](err)
	require.True(t, ok, "want a *codersdk.Error with status %d, got %T: %v", status, err, err)
	require.Equal(t, status, e.StatusCode(), "error: %v", err)
}
