package compat_test

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lib/pq"
	"github.com/stretchr/testify/require"
)

// gantryBin is the gantry binary built once by TestMain from gantryRoot.
var gantryBin, gantryRoot string

// binDir holds the binaries built by this test process; removed at exit.
var binDir string

func TestMain(m *testing.M) {
	os.Exit(runMain(m))
}

func runMain(m *testing.M) int {
	flag.Parse()
	// The coder CLI build is the slowest step (minutes when cold): start it
	// now, so that it overlaps the gantry build and the SDK tests.
	if wantCoderCLI() {
		go func() { _, _ = coderBinOnce() }()
	}
	dir, err := os.MkdirTemp("", "gantry-compat-*")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat: temp dir:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	binDir = dir

	root, err := filepath.Abs(cmp.Or(os.Getenv("COMPAT_GANTRY_DIR"), ".."))
	gantryRoot = root
	if err != nil {
		fmt.Fprintln(os.Stderr, "compat: repo root:", err)
		return 1
	}
	gantryBin = filepath.Join(dir, "gantry")
	start := time.Now()
	if err := buildGantry(root, gantryBin); err != nil {
		fmt.Fprintf(os.Stderr, "compat: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "compat: built gantry in %s\n", time.Since(start).Round(time.Millisecond))
	return m.Run()
}

// buildGantry builds ./cmd/gantry of the repository at root into bin. The go
// command occasionally reports "could not import X (open : no such file or
// directory)" when many builds share one cache under heavy load; such a
// failure is retried, a real compile error is not.
func buildGantry(root, bin string, extraBuildArgs ...string) error {
	var out []byte
	var err error
	for attempt := 1; attempt <= 3; attempt++ {
		args := append(append([]string{"build"}, extraBuildArgs...), "-o", bin, "./cmd/gantry")
		cmd := exec.Command("go", args...)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
		out, err = cmd.CombinedOutput()
		if err == nil || !bytes.Contains(out, []byte("(open : no such file or directory)")) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("building gantry in %s failed: %w\n%s", root, err, out)
	}
	return nil
}

// wantCoderCLI reports whether this run includes a test that runs the coder
// CLI.
func wantCoderCLI() bool {
	if os.Getenv("COMPAT_SKIP_CODER_CLI") != "" {
		return false
	}
	f := flag.Lookup("test.run")
	if f == nil || f.Value.String() == "" {
		return true
	}
	top, _, _ := strings.Cut(f.Value.String(), "/")
	re, err := regexp.Compile(top)
	if err != nil {
		return true
	}
	for _, name := range []string{"TestCoderCLI", "TestCoderCLIVersionMismatch", "TestGantryAndCoderCLIShareTokens"} {
		if re.MatchString(name) {
			return true
		}
	}
	return false
}

// backend names a store the server runs on.
type backend struct {
	name  string
	pgURL string // empty for SQLite
}

// backends returns SQLite, and PostgreSQL when GANTRY_TEST_POSTGRES_URL is set.
func backends() []backend {
	bs := []backend{{name: "sqlite"}}
	if u := os.Getenv("GANTRY_TEST_POSTGRES_URL"); u != "" {
		bs = append(bs, backend{name: "postgres", pgURL: u})
	}
	return bs
}

// forEachBackend runs fn as a parallel subtest per backend.
func forEachBackend(t *testing.T, fn func(t *testing.T, b backend)) {
	t.Helper()
	for _, b := range backends() {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			fn(t, b)
		})
	}
}

// pgSchemaURL creates an isolated schema compat_<random> in the database
// of baseURL and returns a URL whose connections use it as search_path. The
// schema is dropped when the test ends (after servers registered later have
// been stopped, since cleanups run last-in first-out).
func pgSchemaURL(t *testing.T, baseURL string) string {
	t.Helper()
	schema := "compat_" + randomHex(t, 6)
	db, err := sql.Open("postgres", baseURL)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = db.ExecContext(ctx, "CREATE SCHEMA "+pq.QuoteIdentifier(schema))
	require.NoError(t, err, "create schema %s", schema)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP SCHEMA "+pq.QuoteIdentifier(schema)+" CASCADE"); err != nil {
			t.Errorf("drop schema %s: %v", schema, err)
		}
	})

	u, err := url.Parse(baseURL)
	require.NoError(t, err)
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// server is one running gantry process.
type server struct {
	URL  *url.URL
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // exit error, valid after done
}

// serverConfig describes how to start gantry.
type serverConfig struct {
	pgURL     string // empty: embedded SQLite
	cacheDir  string // empty: a fresh temp dir
	extraEnv  []string
	extraArgs []string // more `gantry server` flags
	bin       string   // empty: the binary TestMain built
}

// startGantry starts a gantry server and waits until it answers
// /api/v2/buildinfo. It is stopped (SIGINT, then SIGKILL) when the test ends;
// its output is logged if the test failed.
func startGantry(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	// freeAddr's port may be taken by another process before gantry binds
	// it; then gantry exits at once and is started again on another port.
	for attempt := 1; ; attempt++ {
		s := launchGantry(t, cfg)
		err := waitReady(s)
		if err == nil {
			return s
		}
		if attempt < 3 && strings.Contains(s.logs.String(), "address already in use") {
			t.Logf("gantry could not bind %s, retrying on another port", s.URL.Host)
			continue
		}
		t.Fatal(err)
	}
}

// launchGantry starts the process without waiting for it to be ready.
func launchGantry(t *testing.T, cfg serverConfig) *server {
	t.Helper()
	if cfg.cacheDir == "" {
		cfg.cacheDir = t.TempDir()
	}
	addr := freeAddr(t)
	u := &url.URL{Scheme: "http", Host: addr}
	args := []string{
		"server",
		"--http-address", addr,
		"--access-url", u.String(),
		"--cache-dir", cfg.cacheDir,
		"--telemetry=false",
		"--update-check=false",
	}
	if cfg.pgURL != "" {
		args = append(args, "--postgres-url", cfg.pgURL)
	}
	home := t.TempDir()
	// A clean environment: CODER_* variables of the developer or the CI job
	// must not leak into the server under test.
	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
		"XDG_CACHE_HOME=" + filepath.Join(home, ".cache"),
		"TMPDIR=" + os.TempDir(),
	}
	env = append(env, cfg.extraEnv...)

	s := &server{URL: u, logs: &syncBuffer{}, done: make(chan struct{})}
	args = append(args, cfg.extraArgs...)
	s.cmd = exec.Command(cmp.Or(cfg.bin, gantryBin), args...)
	s.cmd.Env = env
	s.cmd.Stdout = s.logs
	s.cmd.Stderr = s.logs
	require.NoError(t, s.cmd.Start(), "start gantry")
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() {
		s.stop(t)
		if t.Failed() {
			t.Logf("gantry %s (args %q) output:\n%s", u, args, s.logs.String())
		}
	})
	return s
}

// stop interrupts the server and waits for it to exit, killing it after a
// grace period. It reports a non-clean exit as a test error.
func (s *server) stop(t *testing.T) {
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.done:
		if s.err != nil {
			t.Errorf("gantry exited uncleanly after SIGINT: %v", s.err)
		}
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
		t.Errorf("gantry did not exit within 20s of SIGINT")
	}
}

// waitReady polls GET /api/v2/buildinfo until it answers 200, the process
// exits or 90 seconds pass.
func waitReady(s *server) error {
	deadline := time.Now().Add(90 * time.Second)
	client := &http.Client{Timeout: 2 * time.Second}
	var last string
	for time.Now().Before(deadline) {
		select {
		case <-s.done:
			return fmt.Errorf("gantry exited before becoming ready: %v\n%s", s.err, s.logs.String())
		default:
		}
		resp, err := client.Get(s.URL.String() + "/api/v2/buildinfo")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				// The answer must come from this process, not from another
				// server that holds the port this one failed to bind.
				select {
				case <-s.done:
					return fmt.Errorf("gantry exited before becoming ready: %v\n%s", s.err, s.logs.String())
				case <-time.After(100 * time.Millisecond):
					return nil
				}
			}
			last = fmt.Sprintf("status %d: %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("gantry at %s not ready within 90s (last: %s)", s.URL, last)
}

// freeAddr returns a loopback address with a port that was free a moment
// ago. The small race with other processes is acceptable for tests.
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func randomHex(t *testing.T, n int) string {
	t.Helper()
	b := make([]byte, n)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testContext returns a context that ends with the test or after d.
func testContext(t *testing.T, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// errorsAs is errors.As with a generic target, for brevity in assertions.
func errorsAs[T error](err error) (T, bool) {
	var target T
	ok := errors.As(err, &target)
	return target, ok
}

// platformKey names the current platform for cache keys.
func platformKey() string { return runtime.GOOS + "-" + runtime.GOARCH }
