package compat_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const coderModule = "github.com/coder/coder/v2"

// coderBuildTags keeps the CLI small: "slim" leaves out the embedded server.
const coderBuildTags = "slim"

var coderBinOnce = sync.OnceValues(buildCoder)

// buildCoder returns the path of a coder CLI binary of the version this
// module depends on. It is built once into compat/.cache/ (gitignored) and
// reused while the version, platform and tags stay the same.
func buildCoder() (string, error) {
	if p := os.Getenv("COMPAT_CODER_BIN"); p != "" {
		return p, nil
	}
	// The version this module requires (test binaries carry no dependency
	// build info, so ask the go command).
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Version}}", coderModule).Output()
	if err != nil {
		return "", fmt.Errorf("go list -m %s: %w", coderModule, err)
	}
	version := strings.TrimSpace(string(out))
	if version == "" {
		return "", fmt.Errorf("go list -m %s printed no version", coderModule)
	}
	cacheDir, err := filepath.Abs(".cache")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(cacheDir, fmt.Sprintf("coder-%s-%s-%s-release", version, platformKey(), coderBuildTags))
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(cacheDir, 0o755); err != nil {
		return "", err
	}
	// Build to a temporary name and rename, so an interrupted build never
	// leaves a broken binary under the cache key.
	tmp := fmt.Sprintf("%s.tmp-%d", bin, os.Getpid())
	start := time.Now()
	// The tag makes the binary report the release version (as the published
	// v2.36.1 binary does) instead of v0.0.0-devel, which would disable the
	// CLI's version-mismatch checks against the server.
	ldflags := "-s -w -X " + coderModule + "/buildinfo.tag=" + strings.TrimPrefix(version, "v")
	cmd := exec.Command("go", "build", "-tags", coderBuildTags, "-ldflags", ldflags, "-o", tmp, coderModule+"/cmd/coder")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	out, err = cmd.CombinedOutput()
	if err != nil {
		_ = os.Remove(tmp)
		return "", fmt.Errorf("go build coder %s: %w\n%s", version, err, out)
	}
	if err := os.Rename(tmp, bin); err != nil {
		return "", err
	}
	fmt.Fprintf(os.Stderr, "compat: built coder %s (-tags %s) in %s\n", version, coderBuildTags, time.Since(start).Round(time.Second))
	return bin, nil
}

// coderCLI runs the coder binary with its own config directory.
type coderCLI struct {
	t         *testing.T
	bin       string
	configDir string
	home      string
}

func newCoderCLI(t *testing.T) *coderCLI {
	t.Helper()
	if os.Getenv("COMPAT_SKIP_CODER_CLI") != "" {
		t.Skip("COMPAT_SKIP_CODER_CLI is set")
	}
	bin, err := coderBinOnce()
	require.NoError(t, err)
	return &coderCLI{t: t, bin: bin, configDir: t.TempDir(), home: t.TempDir()}
}

// in returns a copy of c that reports to t (a subtest).
func (c *coderCLI) in(t *testing.T) *coderCLI {
	cp := *c
	cp.t = t
	return &cp
}

var ansiPattern = regexp.MustCompile(`\x1b\[[0-9;]*[A-Za-z]`)

// run executes coder with args and returns stdout and stderr with terminal
// escapes removed. It fails the test if coder exits non-zero.
func (c *coderCLI) run(args ...string) (stdout, stderr string) {
	c.t.Helper()
	stdout, stderr, err := c.try(args...)
	require.NoError(c.t, err, "coder %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), stdout, stderr)
	return stdout, stderr
}

// try is run without the exit status check.
func (c *coderCLI) try(args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	return c.tryIn("", args...)
}

// tryIn is try with text on standard input (answers to prompts).
func (c *coderCLI) tryIn(stdin string, args ...string) (stdout, stderr string, err error) {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + c.home,
		"CODER_CONFIG_DIR=" + c.configDir,
		"NO_COLOR=1",
		"TERM=dumb",
	}
	cmd.Stdin = strings.NewReader(stdin)
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	err = cmd.Run()
	return ansiPattern.ReplaceAllString(so.String(), ""), ansiPattern.ReplaceAllString(se.String(), ""), err
}

// TestCoderCLI drives gantry with the real `coder` CLI v2.36.1.
func TestCoderCLI(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, b backend) {
		cli := newCoderCLI(t)
		cfg := serverConfig{}
		if b.pgURL != "" {
			cfg.pgURL = pgSchemaURL(t, b.pgURL)
		}
		s := startGantry(t, cfg)
		url := s.URL.String()

		// login with the first-user flags: HasFirstUser, CreateFirstUser,
		// LoginWithPassword, User(me); the URL and session land on disk.
		out, _ := cli.run("login", url,
			"--first-user-username", "admin",
			"--first-user-email", "admin@example.com",
			"--first-user-password", "correct-Horse-battery-42",
			"--first-user-full-name", "Ada Admin",
			"--first-user-trial=false",
		)
		assert.Contains(t, out, "Welcome to Coder, admin! You're authenticated.")
		session, err := os.ReadFile(filepath.Join(cli.configDir, "session"))
		require.NoError(t, err, "session file")
		require.Regexp(t, tokenPattern, strings.TrimSpace(string(session)))
		savedURL, err := os.ReadFile(filepath.Join(cli.configDir, "url"))
		require.NoError(t, err, "url file")
		assert.Equal(t, url, strings.TrimSpace(string(savedURL)))

		t.Run("whoami", func(t *testing.T) {
			cli := cli.in(t)
			out, _ := cli.run("whoami")
			assert.Contains(t, out, fmt.Sprintf("Coder is running at %s, You're authenticated as admin !", url))

			out, _ = cli.run("whoami", "-o", "json")
			var rows []struct {
				URL      string              `json:"url"`
				Username string              `json:"username"`
				Roles    map[string][]string `json:"roles"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &rows), "whoami -o json: %s", out)
			require.Len(t, rows, 1)
			assert.Equal(t, "admin", rows[0].Username)
			assert.Equal(t, url, rows[0].URL)
		})

		t.Run("users list", func(t *testing.T) {
			cli := cli.in(t)
			out, _ := cli.run("users", "list")
			assert.Regexp(t, `(?m)^USERNAME\s+EMAIL\s+CREATED AT\s+STATUS`, out)
			assert.Regexp(t, `(?m)^admin\s+admin@example\.com\s+.+\s+active\s*$`, out)
		})

		t.Run("users create show suspend delete", func(t *testing.T) {
			cli := cli.in(t)
			// These commands report on stderr.
			_, errOut := cli.run("users", "create", "--username", "bob", "--email", "bob@example.com",
				"--full-name", "Bob Builder", "--password", "Bob-Secret-pass-9", "--login-type", "password")
			assert.Contains(t, errOut, "bob@example.com")

			out, _ := cli.run("users", "show", "bob")
			assert.Regexp(t, `(?m)^Username:\s+bob\s*$`, out)
			assert.Regexp(t, `(?m)^Full name:\s+Bob Builder\s*$`, out)

			out, errOut, err := cli.tryIn("yes\n", "users", "suspend", "bob")
			require.NoError(t, err, "coder users suspend bob\nstdout:\n%s\nstderr:\n%s", out, errOut)
			out, _ = cli.run("users", "list")
			assert.Regexp(t, `(?m)^bob\s+bob@example\.com\s+.+\s+suspended\s*$`, out)

			out, errOut, err = cli.tryIn("yes\n", "users", "activate", "bob")
			require.NoError(t, err, "coder users activate bob\nstdout:\n%s\nstderr:\n%s", out, errOut)
			out, _ = cli.run("users", "list")
			assert.Regexp(t, `(?m)^bob\s+bob@example\.com\s+.+\s+active\s*$`, out)

			_, errOut = cli.run("users", "delete", "bob")
			assert.Contains(t, errOut, "Successfully deleted bob.")
			out, _ = cli.run("users", "list")
			assert.NotContains(t, out, "bob")
		})

		t.Run("tokens", func(t *testing.T) {
			cli := cli.in(t)
			// The password session is not a named token.
			_, errOut := cli.run("tokens", "list")
			assert.Contains(t, errOut, "No tokens found.")

			out, _ := cli.run("tokens", "create", "--name", "compat-cli", "--lifetime", "1h")
			token := strings.TrimSpace(out)
			require.Regexp(t, tokenPattern, token)
			id := token[:10]

			out, _ = cli.run("tokens", "list")
			assert.Regexp(t, `(?m)^ID\s+NAME\s+SCOPES\s+ALLOW LIST\s+LAST USED\s+EXPIRES AT\s+CREATED AT`, out)
			assert.Regexp(t, `(?m)^`+id+`\s+compat-cli\s+`, out)

			out, _ = cli.run("tokens", "list", "-o", "json")
			var keys []struct {
				ID              string `json:"id"`
				TokenName       string `json:"token_name"`
				LifetimeSeconds int64  `json:"lifetime_seconds"`
				LoginType       string `json:"login_type"`
			}
			require.NoError(t, json.Unmarshal([]byte(out), &keys), "tokens list -o json: %s", out)
			require.Len(t, keys, 1)
			assert.Equal(t, id, keys[0].ID)
			assert.Equal(t, "compat-cli", keys[0].TokenName)
			assert.EqualValues(t, 3600, keys[0].LifetimeSeconds)
			assert.Equal(t, "token", keys[0].LoginType)

			out, _ = cli.run("tokens", "view", "compat-cli")
			assert.Contains(t, out, id)

			// The new token authenticates another CLI: `login --token`
			// trades it for a fresh session key (POST /users/me/keys).
			other := &coderCLI{t: t, bin: cli.bin, configDir: t.TempDir(), home: t.TempDir()}
			out, _ = other.run("login", url, "--token", token)
			assert.Contains(t, out, "Welcome to Coder, admin! You're authenticated.")
			otherSession, err := os.ReadFile(filepath.Join(other.configDir, "session"))
			require.NoError(t, err)
			assert.NotEqual(t, token, strings.TrimSpace(string(otherSession)), "login --token stores a new session key")
			out, _ = other.run("whoami")
			assert.Contains(t, out, "authenticated as admin")

			// Without --delete, v2.36.1 expires the token
			// (PUT /users/me/keys/{id}/expire).
			out, errOut, err = cli.try("tokens", "remove", "compat-cli")
			if assert.NoError(t, err, "coder tokens remove compat-cli\nstdout:\n%s\nstderr:\n%s", out, errOut) {
				assert.Contains(t, out, "Token has been expired.")
				out, _ = cli.run("tokens", "list", "--include-expired", "-o", "json")
				assert.Contains(t, out, id)
				_, _, err = other.try("whoami")
				assert.NoError(t, err, "expiring a token leaves the session made from it alone")
			}

			// With --delete it calls DELETE /users/me/keys/{id}.
			out, _ = cli.run("tokens", "create", "--name", "compat-cli-2", "--lifetime", "1h")
			id2 := strings.TrimSpace(out)[:10]
			out, _ = cli.run("tokens", "remove", "--delete", "compat-cli-2")
			assert.Contains(t, out, "Token has been deleted.")
			out, _ = cli.run("tokens", "list", "--include-expired", "-o", "json")
			assert.NotContains(t, out, id2)
		})

		t.Run("logout", func(t *testing.T) {
			cli := cli.in(t)
			other := &coderCLI{t: t, bin: cli.bin, configDir: t.TempDir(), home: t.TempDir()}
			// A second session of the same user, so that the main one stays.
			tok, _ := cli.run("tokens", "create", "--name", "compat-logout", "--lifetime", "1h")
			other.run("login", url, "--token", strings.TrimSpace(tok))
			out, _ := other.run("logout", "--yes")
			assert.Contains(t, out, "You are no longer logged in.")
			_, _, err := other.try("whoami")
			assert.Error(t, err, "whoami after logout")
		})
	})
}

// releaseGantry is a gantry binary built with a release version, as `make
// build` does, so that the coder CLI's version check sees a version that is
// neither a development build nor v2.36.
var releaseGantry = sync.OnceValues(func() (string, error) {
	bin := filepath.Join(binDir, "gantry-release")
	err := buildGantry(gantryRoot, bin, "-ldflags", "-X gantry/internal/buildinfo.tag="+releaseTag)
	return bin, err
})

const releaseTag = "0.9.0"

// TestCoderCLIVersionMismatch: against a gantry release, whose version the
// CLI cannot match with its own, every command still works and the CLI
// prints the deployment's --cli-upgrade-message in its mismatch warning.
func TestCoderCLIVersionMismatch(t *testing.T) {
	t.Parallel()
	cli := newCoderCLI(t)
	bin, err := releaseGantry()
	require.NoError(t, err)
	const advice = "This is gantry: Coder CLI v2.36 works with it, no upgrade needed."
	s := startGantry(t, serverConfig{bin: bin, extraArgs: []string{"--cli-upgrade-message", advice}})

	out, errOut := cli.run("login", s.URL.String(),
		"--first-user-username", "admin", "--first-user-email", "admin@example.com",
		"--first-user-password", "correct-Horse-battery-42", "--first-user-trial=false")
	assert.Contains(t, out, "Welcome to Coder, admin!")
	assert.Contains(t, errOut, "version mismatch: client v2.36.1, server v"+releaseTag)
	assert.Contains(t, errOut, advice)
	assert.NotContains(t, errOut, "install.sh", "the CLI must not suggest installing Coder over gantry")

	out, errOut = cli.run("whoami")
	assert.Contains(t, out, "You're authenticated as admin")
	assert.Contains(t, errOut, advice)
}

// gantryCLI runs the gantry binary's client commands with their own config
// directory.
func gantryCLI(t *testing.T, configDir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gantryBin, args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "GANTRY_CONFIG_DIR=" + configDir}
	var so, se bytes.Buffer
	cmd.Stdout, cmd.Stderr = &so, &se
	require.NoError(t, cmd.Run(), "gantry %s\nstdout:\n%s\nstderr:\n%s", strings.Join(args, " "), so.String(), se.String())
	return so.String()
}

// TestGantryAndCoderCLIShareTokens: gantry's own CLI (the built binary) sets
// the deployment up, and tokens made by either CLI work in the other.
func TestGantryAndCoderCLIShareTokens(t *testing.T) {
	t.Parallel()
	coder := newCoderCLI(t)
	s := startGantry(t, serverConfig{})
	url := s.URL.String()
	gantryDir := t.TempDir()

	out := gantryCLI(t, gantryDir, "login", url, "--first-user-username", "admin",
		"--first-user-email", "admin@example.com", "--first-user-password", "correct-Horse-battery-42")
	assert.Contains(t, out, "Welcome to gantry, admin!")
	token := strings.TrimSpace(gantryCLI(t, gantryDir, "tokens", "create", "--name", "for-coder", "--lifetime", "1h"))
	require.Regexp(t, tokenPattern, token)

	out, _ = coder.run("login", url, "--token", token)
	assert.Contains(t, out, "Welcome to Coder, admin! You're authenticated.")
	out, _ = coder.run("tokens", "list")
	assert.Regexp(t, `(?m)^`+token[:10]+`\s+for-coder\s+`, out)

	out, _ = coder.run("tokens", "create", "--name", "for-gantry", "--lifetime", "1h")
	coderToken := strings.TrimSpace(out)
	require.Regexp(t, tokenPattern, coderToken)
	out = gantryCLI(t, t.TempDir(), "whoami", "--url", url, "--token", coderToken)
	assert.Contains(t, out, "you're authenticated as admin")

	out = gantryCLI(t, gantryDir, "tokens", "remove", "for-gantry")
	assert.Contains(t, out, "has been deleted")
	out, _ = coder.run("tokens", "list")
	assert.NotContains(t, out, "for-gantry")
	assert.Contains(t, out, "for-coder")
}
