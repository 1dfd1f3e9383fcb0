package cli_test

import (
	"regexp"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/sdk"
)

// serveStoreOf opens the store that the given server flags select, exactly
// as `gantry server` would, and serves the API over it.
func serveStoreOf(t *testing.T, env []string, flags ...config.FlagValue) *sdk.Client {
	t.Helper()
	loaded, err := config.Load(config.Inputs{Environ: env, Flags: flags})
	require.NoError(t, err)
	st, err := app.OpenStore(apitest.Context(t, 30*time.Second), loaded.Values)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	client, _ := apitest.New(t, apitest.WithStoreWrapper(func(store.Store) store.Store { return st }))
	return client
}

// requireOwnerLogin logs in with the credentials and checks the user is an
// owner of a deployment that counts as set up.
func requireOwnerLogin(t *testing.T, client *sdk.Client, email, password, username string) {
	t.Helper()
	ctx := apitest.Context(t, 30*time.Second)
	has, err := client.HasFirstUser(ctx)
	require.NoError(t, err)
	assert.True(t, has, "the deployment counts as set up")
	login, err := client.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: email, Password: password})
	require.NoError(t, err)
	me, err := apitest.WithToken(client, login.SessionToken).User(ctx, sdk.Me)
	require.NoError(t, err)
	assert.Equal(t, username, me.Username)
	assert.Equal(t, sdk.RoleOwner, roleOf(me))
	assert.NotEmpty(t, me.OrganizationIDs)
}

func TestCreateAdminUserSQLite(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := newCLI(t)

	r := c.run("server", "create-admin-user", "--cache-dir", dir,
		"--username", "boss", "--email", "boss@example.com", "--password", "Rescue-Me-2026!", "--full-name", "The Boss")
	assert.Contains(t, r.stdout, `Created owner "boss" (boss@example.com`)
	assert.Contains(t, r.stdout, "in the sqlite database")

	// Environment instead of flags, and a generated password.
	envCLI := newCLI(t, "CODER_CACHE_DIRECTORY="+dir, "CODER_USERNAME=deputy", "CODER_EMAIL=deputy@example.com")
	r = envCLI.run("server", "create-admin-user")
	m := regexp.MustCompile(`Generated password \(shown once\): (\S+)`).FindStringSubmatch(r.stdout)
	require.Len(t, m, 2, r.stdout)

	// Duplicates and weak passwords are refused before anything is written.
	stderr := c.fail("server", "create-admin-user", "--cache-dir", dir,
		"--username", "boss", "--email", "other@example.com", "--password", "Rescue-Me-2026!")
	assert.Contains(t, stderr, "already exists")
	stderr = c.fail("server", "create-admin-user", "--cache-dir", dir,
		"--username", "weak", "--email", "weak@example.com", "--password", "password")
	assert.Contains(t, stderr, "--password")
	stderr = c.fail("server", "create-admin-user", "--cache-dir", dir,
		"--username", "-bad-", "--email", "bad@example.com")
	assert.Contains(t, stderr, `--username "-bad-"`)
	stderr = c.fail("server", "create-admin-user", "--cache-dir", dir,
		"--username", "bad", "--email", "not-an-email")
	assert.Contains(t, stderr, `--email "not-an-email"`)

	client := serveStoreOf(t, nil, config.FlagValue{Name: "cache-dir", Value: dir})
	requireOwnerLogin(t, client, "boss@example.com", "Rescue-Me-2026!", "boss")
	requireOwnerLogin(t, client, "deputy@example.com", m[1], "deputy")
}

func TestCreateAdminUserPostgres(t *testing.T) {
	t.Parallel()
	pgURL := dbtest.PostgresURL(t) // skips without GANTRY_TEST_POSTGRES_URL
	c := newCLI(t, "CODER_PG_CONNECTION_URL="+pgURL)
	r := c.run("server", "create-admin-user", "--username", "boss", "--email", "boss@example.com", "--password", "Rescue-Me-2026!")
	assert.Contains(t, r.stdout, "in the postgres database")

	client := serveStoreOf(t, nil, config.FlagValue{Name: "postgres-url", Value: pgURL})
	requireOwnerLogin(t, client, "boss@example.com", "Rescue-Me-2026!", "boss")
}
