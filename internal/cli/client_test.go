package cli_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/cli"
	"gantry/sdk"
)

var tokenPattern = regexp.MustCompile(`^[0-9a-zA-Z]{10}-[0-9a-zA-Z]{22}$`)

// cliEnv runs the gantry CLI in-process with its own config directory and
// environment, as a user on one machine would.
type cliEnv struct {
	t         *testing.T
	configDir string
	env       []string
}

func newCLI(t *testing.T, env ...string) *cliEnv {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "gantry-config")
	home := t.TempDir()
	return &cliEnv{t: t, configDir: dir, env: append([]string{
		"HOME=" + home,
		"GANTRY_CONFIG_DIR=" + dir,
	}, env...)}
}

type result struct {
	code   int
	stdout string
	stderr string
}

// exec runs `gantry args...` with stdin and returns its exit code and output.
func (c *cliEnv) exec(stdin string, args ...string) result {
	c.t.Helper()
	var out, errOut bytes.Buffer
	code := cli.Main(args, c.env, strings.NewReader(stdin), &out, &errOut)
	return result{code: code, stdout: out.String(), stderr: errOut.String()}
}

// run runs `gantry args...` and requires success.
func (c *cliEnv) run(args ...string) result {
	c.t.Helper()
	r := c.exec("", args...)
	require.Zero(c.t, r.code, "gantry %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.stdout, r.stderr)
	return r
}

// fail runs `gantry args...`, requires a non-zero exit and returns stderr.
func (c *cliEnv) fail(args ...string) string {
	c.t.Helper()
	r := c.exec("", args...)
	require.NotZero(c.t, r.code, "gantry %s unexpectedly succeeded\nstdout: %s", strings.Join(args, " "), r.stdout)
	return r.stderr
}

func (c *cliEnv) savedSession() string {
	c.t.Helper()
	b, err := os.ReadFile(filepath.Join(c.configDir, "session"))
	require.NoError(c.t, err)
	return strings.TrimSpace(string(b))
}

// loggedIn returns a CLI signed in as the first user of a fresh deployment,
// plus an SDK client with the same session.
func loggedIn(t *testing.T) (*cliEnv, *sdk.Client, *apitest.Server) {
	t.Helper()
	client, srv := apitest.New(t)
	c := newCLI(t)
	c.run("login", srv.URL.String(),
		"--first-user-username", apitest.FirstUserUsername,
		"--first-user-email", apitest.FirstUserEmail,
		"--first-user-password", apitest.FirstUserPassword,
		"--first-user-full-name", apitest.FirstUserName,
	)
	client.SessionToken = c.savedSession()
	return c, client, srv
}

func TestLoginFirstUser(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	ctx := apitest.Context(t, 30*time.Second)
	c := newCLI(t)

	r := c.run("login", srv.URL.String(),
		"--first-user-username", "ada",
		"--first-user-email", "ada@example.com",
		"--first-user-password", "Lovelace-Engine-1843",
		"--first-user-full-name", "Ada Lovelace",
		"--first-user-trial=false",
	)
	assert.Contains(t, r.stdout, "Welcome to gantry, ada! You're authenticated.")

	// Credentials are private to the user.
	info, err := os.Stat(c.configDir)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o700), info.Mode().Perm())
	for _, name := range []string{"session", "url"} {
		info, err := os.Stat(filepath.Join(c.configDir, name))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), info.Mode().Perm(), name)
	}
	urlBytes, err := os.ReadFile(filepath.Join(c.configDir, "url"))
	require.NoError(t, err)
	assert.Equal(t, srv.URL.String(), string(urlBytes))
	session := c.savedSession()
	require.Regexp(t, tokenPattern, session)

	// The saved session belongs to the new owner.
	me, err := apitest.WithToken(client, session).User(ctx, sdk.Me)
	require.NoError(t, err)
	assert.Equal(t, "ada", me.Username)
	assert.Equal(t, "Ada Lovelace", me.Name)
	assert.Equal(t, sdk.RoleOwner, roleOf(me))

	r = c.run("whoami")
	assert.Equal(t, "gantry is running at "+srv.URL.String()+", you're authenticated as ada (ada@example.com, roles [owner]).\n", r.stdout)

	r = c.run("whoami", "-o", "json")
	var who struct {
		URL  string   `json:"url"`
		User sdk.User `json:"user"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &who))
	assert.Equal(t, srv.URL.String(), who.URL)
	assert.Equal(t, me.ID, who.User.ID)

	// A second login on the set-up deployment without a token asks for one
	// on stdin; the first-user flags no longer apply.
	other := newCLI(t)
	res := other.exec("", "login", srv.URL.String())
	assert.NotZero(t, res.code)
	assert.Contains(t, res.stderr, "no token given")
}

func roleOf(u sdk.User) string {
	names := make([]string, 0, len(u.Roles))
	for _, r := range u.Roles {
		names = append(names, r.Name)
	}
	return strings.Join(names, ",")
}

func TestLoginFreshDeploymentNeedsFirstUserFlags(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	c := newCLI(t)
	stderr := c.fail("login", srv.URL.String(), "--first-user-username", "ada")
	assert.Contains(t, stderr, "--first-user-username, --first-user-email and --first-user-password")

	has, err := client.HasFirstUser(apitest.Context(t, 10*time.Second))
	require.NoError(t, err)
	assert.False(t, has, "nothing was created")
	_, err = os.Stat(filepath.Join(c.configDir, "session"))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

func TestLoginFirstUserWeakPassword(t *testing.T) {
	t.Parallel()
	_, srv := apitest.New(t)
	c := newCLI(t)
	stderr := c.fail("login", srv.URL.String(),
		"--first-user-username", "ada", "--first-user-email", "ada@example.com", "--first-user-password", "short")
	assert.Contains(t, stderr, "create the first user")
	assert.Contains(t, stderr, "password")
}

func TestLoginWithTokenAndLogout(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	ctx := apitest.Context(t, 30*time.Second)
	token := apitest.CreateToken(t, client, sdk.Me, "laptop", time.Hour)

	// Without a scheme a loopback host means http.
	c := newCLI(t)
	r := c.run("login", srv.URL.Host, "--token", token)
	assert.Contains(t, r.stdout, "Welcome to gantry, admin!")
	session := c.savedSession()
	require.Regexp(t, tokenPattern, session)
	assert.NotEqual(t, token, session, "login trades the token for a session key of its own")

	// The session key is not a named token.
	tokens, err := client.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.Len(t, tokens, 1)
	assert.Equal(t, "laptop", tokens[0].TokenName)

	r = c.run("logout")
	assert.Contains(t, r.stdout, "You are no longer logged in.")
	for _, name := range []string{"session", "url"} {
		_, err := os.Stat(filepath.Join(c.configDir, name))
		assert.ErrorIs(t, err, os.ErrNotExist, name)
	}
	_, err = apitest.WithToken(client, session).User(ctx, sdk.Me)
	assert.True(t, sdk.IsStatus(err, 401), "the session key is gone on the server: %v", err)
	_, err = apitest.WithToken(client, token).User(ctx, sdk.Me)
	assert.NoError(t, err, "logout leaves the token that was used to log in alone")

	assert.Contains(t, c.fail("whoami"), "you are not logged in")
	assert.Contains(t, c.fail("logout"), "you are not logged in")
}

func TestLoginUseTokenAsSession(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	token := apitest.CreateToken(t, client, sdk.Me, "ci", time.Hour)

	c := newCLI(t)
	c.run("login", srv.URL.String(), "--token", token, "--use-token-as-session")
	assert.Equal(t, token, c.savedSession())

	stderr := c.fail("login", srv.URL.String(), "--token", "abcdefghij-0123456789012345678901", "--use-token-as-session")
	assert.Contains(t, stderr, "fetch the signed-in user")
	assert.Equal(t, token, c.savedSession(), "a failed login keeps the old session")
}

func TestLoginPastedToken(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	token := apitest.CreateToken(t, client, sdk.Me, "pasted", time.Hour)

	c := newCLI(t)
	// A wrong token first, then the right one.
	r := c.exec("not-a-token\n"+token+"\n", "login", srv.URL.String())
	require.Zero(t, r.code, r.stderr)
	assert.Contains(t, r.stdout, "That token was refused")
	assert.Contains(t, r.stdout, "Welcome to gantry, admin!")
	assert.Equal(t, token, c.savedSession())
}

func TestEnvironmentOverridesSavedCredentials(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	apitest.CreateFirstUser(t, client)
	member, _ := apitest.CreateUser(t, client)

	// No saved config at all: the environment is enough.
	c := newCLI(t, "GANTRY_URL="+srv.URL.String(), "GANTRY_SESSION_TOKEN="+member.SessionToken)
	r := c.run("whoami")
	assert.Contains(t, r.stdout, "authenticated as user")

	// Flags win over the environment.
	r = c.run("whoami", "--token", client.SessionToken)
	assert.Contains(t, r.stdout, "authenticated as admin")

	bad := newCLI(t, "GANTRY_URL="+srv.URL.String(), "GANTRY_SESSION_TOKEN=abcdefghij-0123456789012345678901")
	stderr := bad.fail("whoami")
	assert.Contains(t, stderr, "401")
	assert.Contains(t, stderr, "gantry login")
}

func TestUsersCreateAndList(t *testing.T) {
	t.Parallel()
	c, client, _ := loggedIn(t)
	ctx := apitest.Context(t, 30*time.Second)

	r := c.run("users", "create", "--username", "grace", "--email", "grace@example.com",
		"--full-name", "Grace Hopper", "--password", "Cobol-Compiler-1959")
	assert.Contains(t, r.stdout, `Created user "grace" (grace@example.com`)
	login, err := client.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: "grace@example.com", Password: "Cobol-Compiler-1959"})
	require.NoError(t, err, "the new user can log in with the given password")

	r = c.run("users", "create", "--username", "linus", "--email", "linus@example.com")
	m := regexp.MustCompile(`Generated password \(shown once\): (\S+)`).FindStringSubmatch(r.stdout)
	require.Len(t, m, 2, r.stdout)
	_, err = client.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: "linus@example.com", Password: m[1]})
	require.NoError(t, err, "the generated password works")

	r = c.run("users", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Regexp(t, `^USERNAME\s+EMAIL\s+STATUS\s+ROLES\s+CREATED AT$`, lines[0])
	assert.Regexp(t, `^admin\s+admin@example\.com\s+active\s+owner\s+\S+$`, lines[1])
	assert.Regexp(t, `^grace\s+grace@example\.com\s+active\s+member\s+\S+$`, lines[2])
	assert.Regexp(t, `^linus\s+linus@example\.com\s+`, lines[3])

	r = c.run("users", "list", "-o", "json")
	var users []sdk.User
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &users))
	require.Len(t, users, 3)
	assert.Equal(t, "Grace Hopper", users[1].Name)

	r = c.run("users", "list", "--search", "grace", "-o", "json")
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &users))
	require.Len(t, users, 1)

	// Errors from the server reach the user with their message.
	stderr := c.fail("users", "create", "--username", "grace", "--email", "other@example.com", "--password", "Cobol-Compiler-1959")
	assert.Contains(t, stderr, "409")
	assert.Contains(t, c.fail("users", "create", "--email", "x@example.com"), "--username and --email are required")
	assert.Contains(t, c.fail("users", "list", "-o", "yaml"), "yaml")

	// A member may not create users.
	memberCLI := newCLI(t, "GANTRY_URL="+client.URL.String(), "GANTRY_SESSION_TOKEN="+login.SessionToken)
	stderr = memberCLI.fail("users", "create", "--username", "eve", "--email", "eve@example.com")
	assert.Contains(t, stderr, "403")
}

func TestTokens(t *testing.T) {
	t.Parallel()
	c, client, _ := loggedIn(t)
	ctx := apitest.Context(t, 30*time.Second)

	// The login session is not listed.
	r := c.run("tokens", "list")
	assert.Empty(t, r.stdout)
	assert.Contains(t, r.stderr, "No tokens found.")
	r = c.run("tokens", "list", "-o", "json")
	assert.Equal(t, "[]\n", r.stdout)

	r = c.run("tokens", "create", "--name", "agent", "--lifetime", "1d")
	token := strings.TrimSpace(r.stdout)
	require.Regexp(t, tokenPattern, token)
	_, err := apitest.WithToken(client, token).User(ctx, sdk.Me)
	require.NoError(t, err, "the printed token works")

	// last_used is written in the background, off the request path: wait
	// for it before the listing below shows it.
	require.Eventually(t, func() bool {
		key, err := client.APIKeyByName(ctx, sdk.Me, "agent")
		return err == nil && key.LastUsed.After(time.Unix(0, 0))
	}, 20*time.Second, 20*time.Millisecond, "last_used of the used token is recorded")

	r = c.run("tokens", "create", "--name", "ci", "--lifetime", "2h")
	ciToken := strings.TrimSpace(r.stdout)
	r = c.run("tokens", "create", "--name", "script", "--lifetime", "30m")
	scriptToken := strings.TrimSpace(r.stdout)

	r = c.run("tokens", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Regexp(t, `^ID\s+NAME\s+LAST USED\s+EXPIRES AT\s+CREATED AT$`, lines[0])
	// "agent" was used above, "ci" never was.
	assert.Regexp(t, `^`+token[:10]+`\s+agent\s+\d{4}-\d\d-\d\dT\S+Z\s+`, lines[1])
	assert.Regexp(t, `^`+ciToken[:10]+`\s+ci\s+never\s+`, lines[2])

	r = c.run("tokens", "list", "-o", "json")
	var keys []sdk.APIKeyWithOwner
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &keys))
	require.Len(t, keys, 3)
	assert.Equal(t, "agent", keys[0].TokenName)
	assert.EqualValues(t, 86400, keys[0].LifetimeSeconds)
	assert.EqualValues(t, 7200, keys[1].LifetimeSeconds)
	assert.Equal(t, "admin", keys[0].Username)

	// Remove by name, by id and by the whole token.
	r = c.run("tokens", "remove", "agent")
	assert.Equal(t, "Token agent ("+token[:10]+") has been deleted.\n", r.stdout)
	c.run("tokens", "remove", ciToken[:10])
	c.run("tokens", "rm", scriptToken)
	r = c.run("tokens", "list", "-o", "json")
	assert.Equal(t, "[]\n", r.stdout)
	for _, tok := range []string{token, ciToken, scriptToken} {
		_, err := apitest.WithToken(client, tok).User(ctx, sdk.Me)
		assert.True(t, sdk.IsStatus(err, 401), "deleted token still works: %v", err)
	}

	assert.Contains(t, c.fail("tokens", "remove", "nope"), `no token named "nope"`)
	assert.Contains(t, c.fail("tokens", "create", "--name", "x", "--lifetime", "3x"), `invalid --lifetime "3x"`)
	assert.Contains(t, c.fail("tokens", "create", "--name", "x", "--lifetime", "0s"), "--lifetime must be positive")
	c.run("tokens", "create", "--name", "dup", "--lifetime", "1h")
	assert.Contains(t, c.fail("tokens", "create", "--name", "dup", "--lifetime", "1h"), "409")
}

func TestTokensLifetimeUnits(t *testing.T) {
	t.Parallel()
	c, client, _ := loggedIn(t)
	ctx := apitest.Context(t, 30*time.Second)
	for name, want := range map[string]int64{
		"1d12h": 36 * 3600,
		"90m":   90 * 60,
		"2d":    2 * 86400,
	} {
		c.run("tokens", "create", "--name", "t-"+name, "--lifetime", name)
		key, err := client.APIKeyByName(ctx, sdk.Me, "t-"+name)
		require.NoError(t, err)
		assert.Equal(t, want, key.LifetimeSeconds, name)
	}
	// A year is longer than an owner's maximum token lifetime by default,
	// and the server says so.
	stderr := c.fail("tokens", "create", "--name", "year", "--lifetime", "1y")
	assert.Contains(t, stderr, "lifetime")
}

func TestLoginRefusesNonGantryServer(t *testing.T) {
	t.Parallel()
	// A 404 without X-Coder-Build-Version is some other web server, not a
	// deployment without users.
	srv := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(srv.Close)
	c := newCLI(t)
	stderr := c.fail("login", srv.URL, "--first-user-username", "ada",
		"--first-user-email", "ada@example.com", "--first-user-password", "Lovelace-Engine-1843")
	assert.Contains(t, stderr, "missing build version header")
	_, err := os.Stat(c.configDir)
	assert.ErrorIs(t, err, os.ErrNotExist, "nothing is saved")
}
