package app_test

import (
	"bytes"
	"database/sql"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/cli"
	"gantry/internal/store/dbtest"
	"gantry/sdk"
)

// envServerProcess makes the test binary act as the gantry binary: the
// replica test re-executes itself with this variable set, so "two gantry
// processes" are two real operating-system processes running cli.Main.
const envServerProcess = "GANTRY_TEST_SERVER_PROCESS"

func TestMain(m *testing.M) {
	if os.Getenv(envServerProcess) == "1" {
		os.Exit(cli.Main(os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
	}
	os.Exit(m.Run())
}

// serverProcess is one `gantry server` child process.
type serverProcess struct {
	cmd    *exec.Cmd
	url    string
	stdout *apitest.LogBuffer
	stderr *apitest.LogBuffer
	exited chan struct{}
	code   int
}

func startServerProcess(t *testing.T, args ...string) *serverProcess {
	t.Helper()
	return startServerProcessEnv(t, nil, args...)
}

// startServerProcessEnv is startServerProcess with extra environment
// variables ("NAME=value").
func startServerProcessEnv(t *testing.T, env []string, args ...string) *serverProcess {
	t.Helper()
	addr := freePort(t)
	p := &serverProcess{url: "http://" + addr, stdout: &apitest.LogBuffer{}, stderr: &apitest.LogBuffer{}, exited: make(chan struct{})}
	p.cmd = exec.CommandContext(t.Context(), os.Args[0], append([]string{"server", "--http-address", addr}, args...)...)
	p.cmd.Env = append([]string{envServerProcess + "=1", "HOME=" + t.TempDir(), "PATH=" + os.Getenv("PATH")}, env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	require.NoError(t, p.cmd.Start())
	go func() {
		_ = p.cmd.Wait()
		p.code = p.cmd.ProcessState.ExitCode()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	})
	return p
}

// waitHealthy polls /healthz until the process serves (bounded: 60s).
func (p *serverProcess) waitHealthy(t *testing.T) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := httpGet(t, client, p.url+"/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		select {
		case <-p.exited:
			t.Fatalf("server exited with %d before serving\nstderr:\n%s", p.code, p.stderr.String())
		default:
		}
		require.True(t, time.Now().Before(deadline), "server not healthy within 60s\nstderr:\n%s", p.stderr.String())
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and requires a clean exit (status 0) within 30s.
func (p *serverProcess) stop(t *testing.T) {
	t.Helper()
	require.NoError(t, p.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		t.Fatalf("server did not exit within 30s of SIGTERM\nstderr:\n%s", p.stderr.String())
	}
	require.Equal(t, 0, p.code, "stderr:\n%s", p.stderr.String())
	require.Contains(t, p.stderr.String(), "shutdown complete")
	require.NotContains(t, p.stderr.String(), "level=ERROR")
	require.NotContains(t, p.stderr.String(), "panic")
}

func (p *serverProcess) client(token string) *sdk.Client {
	c := sdk.New(mustParseURL(p.url))
	c.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	c.SessionToken = token
	return c
}

// TestTwoServerProcessesShareOneDatabase: two `gantry server` processes
// started at the same moment on one empty database (a fresh PostgreSQL
// schema when GANTRY_TEST_POSTGRES_URL is set, otherwise one SQLite file in
// a shared cache directory) both migrate and serve, report one deployment
// ID, and each sees the users and tokens the other creates, including a
// deletion. A third process started afterwards keeps the ID and the data.
func TestTwoServerProcessesShareOneDatabase(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two server processes")
	}
	t.Parallel()
	var args []string
	pgURL := ""
	if dbtest.WillUsePostgres() {
		pgURL = dbtest.PostgresURL(t)
		args = []string{"--postgres-url", pgURL, "--cache-dir", t.TempDir()}
	} else {
		args = []string{"--cache-dir", t.TempDir()}
	}
	a := startServerProcess(t, args...)
	b := startServerProcess(t, args...)
	a.waitHealthy(t)
	b.waitHealthy(t)
	ctx := apitest.Context(t, 2*time.Minute)

	if pgURL != "" {
		db, err := sql.Open("pgx", pgURL)
		require.NoError(t, err)
		t.Cleanup(func() { _ = db.Close() })
		var rows, versions int
		require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*), count(DISTINCT version) FROM schema_migrations`).Scan(&rows, &versions))
		require.Positive(t, versions)
		require.Equal(t, versions, rows, "each migration applied once by the two processes")
	}

	// One deployment: both report the same deployment ID.
	biA, err := a.client("").BuildInfo(ctx)
	require.NoError(t, err)
	biB, err := b.client("").BuildInfo(ctx)
	require.NoError(t, err)
	require.NotEmpty(t, biA.DeploymentID)
	require.Equal(t, biA.DeploymentID, biB.DeploymentID)

	// The first user, created through A, can sign in through B.
	ownerA := a.client("")
	first := apitest.CreateFirstUser(t, ownerA)
	has, err := b.client("").HasFirstUser(ctx)
	require.NoError(t, err)
	require.True(t, has)
	login, err := b.client("").LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: first.Email, Password: first.Password})
	require.NoError(t, err)
	ownerB := b.client(login.SessionToken)

	// A token created through B authenticates on A and is listed there.
	tok, err := ownerB.CreateToken(ctx, sdk.Me, sdk.CreateTokenRequest{TokenName: "made-on-b", Lifetime: time.Hour})
	require.NoError(t, err)
	me, err := a.client(tok.Key).User(ctx, sdk.Me)
	require.NoError(t, err)
	require.Equal(t, first.Username, me.Username)
	tokens, err := ownerA.Tokens(ctx, sdk.Me, sdk.TokensFilter{})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(tokens, func(k sdk.APIKeyWithOwner) bool { return k.TokenName == "made-on-b" }), "A lists B's token")

	// A user created through A is listed by B.
	created, err := ownerA.CreateUser(ctx, sdk.CreateUserRequest{Email: "m@example.com", Username: "member-a", Password: "Test-Password-member-a"})
	require.NoError(t, err)
	users, err := ownerB.Users(ctx, sdk.UsersRequest{})
	require.NoError(t, err)
	require.True(t, slices.ContainsFunc(users.Users, func(u sdk.User) bool { return u.ID == created.ID }), "B lists A's user")

	// Deleting the token through A stops it on B once B's validation cache
	// expires (5s by default); bounded at 20s.
	onB := b.client(tok.Key)
	_, err = onB.User(ctx, sdk.Me) // B caches the valid token
	require.NoError(t, err)
	require.NoError(t, ownerA.DeleteAPIKey(ctx, sdk.Me, strings.SplitN(tok.Key, "-", 2)[0]))
	require.Eventually(t, func() bool {
		_, err := onB.User(ctx, sdk.Me)
		return sdk.IsStatus(err, http.StatusUnauthorized)
	}, 20*time.Second, 50*time.Millisecond)

	a.stop(t)
	b.stop(t)
	for _, p := range []*serverProcess{a, b} {
		require.NotContains(t, p.stdout.String()+p.stderr.String(), strings.SplitN(tok.Key, "-", 2)[1], "no token secret in the output")
	}

	// A restart keeps the deployment ID and the data.
	c := startServerProcess(t, args...)
	c.waitHealthy(t)
	biC, err := c.client("").BuildInfo(ctx)
	require.NoError(t, err)
	require.Equal(t, biA.DeploymentID, biC.DeploymentID, "the deployment ID is stable across restarts")
	_, err = c.client(login.SessionToken).User(ctx, "member-a")
	require.NoError(t, err)
	c.stop(t)
}

// TestReferenceCopiesMatchSpec guards testdata/reference-v2.36.1 (and the
// config capture referenceFile reads): when the specification is checked
// out beside the repository, the copies must be byte-identical to it.
func TestReferenceCopiesMatchSpec(t *testing.T) {
	t.Parallel()
	spec := filepath.Join("..", "..", "..", "shared", "spec", "reference-v2.36.1")
	if _, err := os.Stat(spec); err != nil {
		t.Skipf("specification not checked out at %s; nothing to compare the copies with", spec)
	}
	entries, err := os.ReadDir(spec)
	require.NoError(t, err)
	compared := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".json") && !strings.HasSuffix(name, ".headers") {
			continue
		}
		want, err := os.ReadFile(filepath.Join(spec, name))
		require.NoError(t, err)
		require.True(t, bytes.Equal(want, referenceFile(t, name)), "%s differs from the specification's capture", name)
		compared++
	}
	require.Equal(t, 22, compared)
}

// mustParseURL is for test-built URLs only.
func mustParseURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}
