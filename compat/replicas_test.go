package compat_test

import (
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/coder/coder/v2/codersdk"
	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestReplicasSharePostgres starts two gantry processes on one empty
// PostgreSQL schema at the same moment: both must apply the migrations
// without error, and each must see the users and tokens the other creates.
func TestReplicasSharePostgres(t *testing.T) {
	t.Parallel()
	base := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if base == "" {
		t.Skip("GANTRY_TEST_POSTGRES_URL is not set")
	}
	pgURL := pgSchemaURL(t, base)

	// Launch both before waiting for either (a few milliseconds apart), so
	// their migrations race.
	a := launchGantry(t, serverConfig{pgURL: pgURL})
	b := launchGantry(t, serverConfig{pgURL: pgURL})
	require.NoError(t, waitReady(a), "replica A")
	require.NoError(t, waitReady(b), "replica B")

	ctx := testContext(t, 2*time.Minute)
	anonA, anonB := codersdk.New(a.URL), codersdk.New(b.URL)

	first, err := anonA.CreateFirstUser(ctx, firstUser)
	require.NoError(t, err, "CreateFirstUser on A")
	has, err := anonB.HasFirstUser(ctx)
	require.NoError(t, err, "HasFirstUser on B")
	require.True(t, has, "B sees the first user created on A")
	_, err = anonB.CreateFirstUser(ctx, firstUser)
	requireStatus(t, err, http.StatusConflict)

	// A password session created on B works on A.
	login, err := anonB.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
		Email: firstUser.Email, Password: firstUser.Password,
	})
	require.NoError(t, err, "LoginWithPassword on B")
	ownerA, ownerB := codersdk.New(a.URL), codersdk.New(b.URL)
	ownerA.SetSessionToken(login.SessionToken)
	ownerB.SetSessionToken(login.SessionToken)
	me, err := ownerA.User(ctx, codersdk.Me)
	require.NoError(t, err, "User(me) on A with B's session")
	assert.Equal(t, first.UserID, me.ID)

	// A user created on B is listed on A, and can log in on A.
	_, err = ownerB.CreateUserWithOrgs(ctx, codersdk.CreateUserRequestWithOrgs{
		Email: "member@example.com", Username: "member", Password: "another-Secret-pass-7",
		OrganizationIDs: []uuid.UUID{first.OrganizationID},
	})
	require.NoError(t, err, "CreateUserWithOrgs on B")
	users, err := ownerA.Users(ctx, codersdk.UsersRequest{})
	require.NoError(t, err, "Users on A")
	assert.Equal(t, 2, users.Count)
	_, err = anonA.LoginWithPassword(ctx, codersdk.LoginWithPasswordRequest{
		Email: "member@example.com", Password: "another-Secret-pass-7",
	})
	require.NoError(t, err, "member logs in on A")

	// A token created on A is listed and accepted on B.
	tok, err := ownerA.CreateToken(ctx, codersdk.Me, codersdk.CreateTokenRequest{TokenName: "replica", Lifetime: time.Hour})
	require.NoError(t, err, "CreateToken on A")
	key, err := ownerB.APIKeyByName(ctx, codersdk.Me, "replica")
	require.NoError(t, err, "APIKeyByName on B")
	assert.Equal(t, tok.Key[:10], key.ID)
	tokenB := codersdk.New(b.URL)
	tokenB.SetSessionToken(tok.Key)
	_, err = tokenB.User(ctx, codersdk.Me)
	require.NoError(t, err, "A's token on B")

	// Deleted on B, the token disappears from A's listing at once. A has
	// validated (and so cached) the token before; replicas share no cache,
	// so A may accept it for its cache lifetime: measured, and bounded.
	tokenA := codersdk.New(a.URL)
	tokenA.SetSessionToken(tok.Key)
	_, err = tokenA.User(ctx, codersdk.Me)
	require.NoError(t, err, "A's token on A")
	require.NoError(t, ownerB.DeleteAPIKey(ctx, codersdk.Me, key.ID), "DeleteAPIKey on B")
	_, err = ownerA.APIKeyByName(ctx, codersdk.Me, "replica")
	requireStatus(t, err, http.StatusNotFound)
	_, err = tokenB.User(ctx, codersdk.Me)
	requireStatus(t, err, http.StatusUnauthorized)
	start := time.Now()
	for time.Since(start) < 90*time.Second {
		if _, err := tokenA.User(ctx, codersdk.Me); err != nil {
			requireStatus(t, err, http.StatusUnauthorized)
			t.Logf("A refused the token deleted on B after %s", time.Since(start).Round(100*time.Millisecond))
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("A still accepts a token deleted on B after %s", time.Since(start).Round(time.Second))
}
