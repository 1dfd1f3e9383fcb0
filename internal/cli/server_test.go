package cli_test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"

	"gantry/internal/cli"
	"gantry/internal/config"
)

var updateGolden = flag.Bool("update", false, "rewrite golden files")

type serverResult struct {
	code           int
	stdout, stderr string
}

// runServer invokes the real command line in-process.
func runServer(t *testing.T, environ []string, args ...string) serverResult {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cli.Main(args, environ, strings.NewReader(""), &stdout, &stderr)
	return serverResult{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

func writeServerYAML(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
	return path
}

// requireRefused asserts a start refused for configuration problems: exit 2,
// nothing on stdout, a header line, one line per problem and no stack trace.
func requireRefused(t *testing.T, r serverResult, lines ...string) {
	t.Helper()
	require.Equal(t, 2, r.code, r.stderr)
	require.Empty(t, r.stdout)
	require.NotContains(t, r.stderr, "panic")
	require.NotContains(t, r.stderr, "goroutine")
	got := strings.Split(strings.TrimRight(r.stderr, "\n"), "\n")
	require.Equal(t, fmt.Sprintf("error: invalid configuration (%d %s):", len(lines), map[bool]string{true: "problem", false: "problems"}[len(lines) == 1]), got[0])
	require.Len(t, got, len(lines)+1, r.stderr)
	for i, want := range lines {
		require.Equal(t, "  "+want, got[i+1])
	}
}

func TestServerRefusesInvalidConfiguration(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "missing.yaml")
	dir := t.TempDir()
	wrongType := writeServerYAML(t, "networking:\n  tls:\n    enable: [yes]\n")

	cases := []struct {
		name    string
		environ []string
		args    []string
		want    string
	}{
		{
			name: "bad duration",
			args: []string{"--session-duration", "10 parsecs"},
			want: `option "Session Duration" (flag --session-duration): invalid value "10 parsecs": time: unknown unit " parsecs" in duration "10 parsecs"`,
		},
		{
			name:    "bad URL",
			environ: []string{"CODER_ACCESS_URL=://gantry"},
			want:    `option "Access URL" (env CODER_ACCESS_URL): invalid value "://gantry": parse "://gantry": missing protocol scheme`,
		},
		{
			name: "unknown enum value",
			args: []string{"--postgres-auth=kerberos"},
			want: `option "Postgres Auth" (flag --postgres-auth): invalid value "kerberos": invalid choice: kerberos, should be one of [password awsiamrds]`,
		},
		{
			name:    "non-numeric provider index",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_ONE_TYPE=openai"},
			want:    `option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): parse number: CODER_AIBRIDGE_PROVIDER_ONE_TYPE`,
		},
		{
			name:    "gap in provider indices",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_2_TYPE=anthropic"},
			want:    `option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider num 1 skipped: CODER_AIBRIDGE_PROVIDER_2_TYPE`,
		},
		{
			name:    "duplicate provider names",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_1_TYPE=openai"},
			want:    `option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider 1: duplicate NAME "openai" (multiple providers of the same type require explicit NAME fields)`,
		},
		{
			name:    "unknown provider type",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=gemini"},
			want:    `option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider 0: unknown TYPE "gemini" (must be openai, anthropic, or copilot)`,
		},
		{
			name: "YAML value of the wrong type",
			args: []string{"--config", wrongType},
			want: fmt.Sprintf(`option "TLS Enable" (YAML networking.tls.enable at %s:3): invalid value "[yes]": expected a bool, got a list`, wrongType),
		},
		{
			name: "missing --config file",
			args: []string{"-c", missing},
			want: fmt.Sprintf(`option "Config Path" (flag --config): invalid value %q: cannot read config file: no such file or directory`, missing),
		},
		{
			name:    "unreadable --config path",
			environ: []string{"CODER_CONFIG_PATH=" + dir},
			want:    fmt.Sprintf(`option "Config Path" (env CODER_CONFIG_PATH): invalid value %q: cannot read config file: is a directory`, dir),
		},
		{
			name:    "TLS without a certificate",
			environ: []string{"CODER_TLS_ENABLE=true"},
			want:    `option "TLS Enable" (env CODER_TLS_ENABLE): invalid value "true": TLS is enabled but no certificate is set (--tls-cert-file / CODER_TLS_CERT_FILE)`,
		},
		{
			name: "refresh lifetime not longer than the session",
			args: []string{"--session-duration=48h", "--default-oauth-refresh-lifetime=24h"},
			want: `option "Default OAuth Refresh Lifetime" (flag --default-oauth-refresh-lifetime): invalid value "24h0m0s": must be longer than the session duration (--session-duration, 48h0m0s)`,
		},
		{
			name: "SSH config option without separator",
			args: []string{"--ssh-config-options=ForwardAgent"},
			want: `option "SSH Config Options" (flag --ssh-config-options): invalid value "ForwardAgent": parse ssh config options "ForwardAgent": config-ssh option "ForwardAgent" is missing a key/value separator ('=' or ' ')`,
		},
		{
			name:    "forbidden SSH config key",
			environ: []string{"CODER_SSH_CONFIG_OPTIONS=ProxyCommand=nc evil 22"},
			want:    `option "SSH Config Options" (env CODER_SSH_CONFIG_OPTIONS): invalid value "ProxyCommand=nc evil 22": config-ssh option "ProxyCommand=nc evil 22" uses the forbidden key "ProxyCommand"`,
		},
		{
			name: "workspace hostname suffix",
			args: []string{"--workspace-hostname-suffix=.coder"},
			want: `option "Workspace Hostname Suffix" (flag --workspace-hostname-suffix): invalid value ".coder": must not start with '.'`,
		},
		{
			name:    "invalid provider name",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_NAME=Open_AI"},
			want:    `option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider 0: invalid NAME "Open_AI" (must match ^[a-z0-9]+(-[a-z0-9]+)*$)`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := runServer(t, tc.environ, append([]string{"server"}, tc.args...)...)
			requireRefused(t, r, tc.want)
		})
	}
}

// All problems of one start are reported together, in one run.
func TestServerReportsEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	cfg := writeServerYAML(t, "networking:\n  tls:\n    enable: [yes]\nnope: 1\n")
	r := runServer(t, []string{
		"CODER_ACCESS_URL=://gantry",
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=gemini",
		"CODER_AIBRIDGE_PROVIDER_2_TYPE=openai",
	}, "server", "--config", cfg, "--session-duration=soon", "--postgres-auth=kerberos")
	requireRefused(t, r,
		`option "Access URL" (env CODER_ACCESS_URL): invalid value "://gantry": parse "://gantry": missing protocol scheme`,
		`option "Session Duration" (flag --session-duration): invalid value "soon": time: invalid duration "soon"`,
		`option "Postgres Auth" (flag --postgres-auth): invalid value "kerberos": invalid choice: kerberos, should be one of [password awsiamrds]`,
		fmt.Sprintf(`option "TLS Enable" (YAML networking.tls.enable at %s:3): invalid value "[yes]": expected a bool, got a list`, cfg),
		fmt.Sprintf(`YAML nope at %s:4: unknown option "nope"`, cfg),
		`option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider num 1 skipped: CODER_AIBRIDGE_PROVIDER_2_TYPE`,
		`option "AI Bridge providers" (env CODER_AIBRIDGE_PROVIDER_<N>_<KEY>): provider 0: unknown TYPE "gemini" (must be openai, anthropic, or copilot)`,
	)
}

// Cross-field rules are checked in the same run as the values themselves;
// a rule whose inputs include a refused value stays quiet.
func TestServerReportsValueAndRuleProblemsTogether(t *testing.T) {
	t.Parallel()
	r := runServer(t, []string{"CODER_TLS_ENABLE=true"}, "server",
		"--session-duration=soon", "--default-oauth-refresh-lifetime=1h",
		"--ssh-config-options=ForwardAgent", "--workspace-hostname-suffix=*.coder")
	requireRefused(t, r,
		`option "Session Duration" (flag --session-duration): invalid value "soon": time: invalid duration "soon"`,
		`option "TLS Enable" (env CODER_TLS_ENABLE): invalid value "true": TLS is enabled but no certificate is set (--tls-cert-file / CODER_TLS_CERT_FILE)`,
		`option "SSH Config Options" (flag --ssh-config-options): invalid value "ForwardAgent": parse ssh config options "ForwardAgent": config-ssh option "ForwardAgent" is missing a key/value separator ('=' or ' ')`,
		`option "Workspace Hostname Suffix" (flag --workspace-hostname-suffix): invalid value "*.coder": must not contain '*' or '?'`,
	)
}

func TestServerWriteConfig(t *testing.T) {
	t.Parallel()
	var environ, secrets []string
	for _, opt := range config.New().Options() {
		if config.IsSecret(opt) {
			v := "s3cr3t-" + opt.Flag
			environ = append(environ, opt.Env+"="+v)
			secrets = append(secrets, v)
		}
	}
	environ = append(environ,
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai",
		"CODER_AIBRIDGE_PROVIDER_0_NAME=openai-eu",
		"CODER_AIBRIDGE_PROVIDER_0_KEY=s3cr3t-indexed",
		"CODER_ACCESS_URL=https://gantry.example.com",
		"CODER_PG_CONN_MAX_OPEN=", // empty counts as unset (it would not parse)
	)
	secrets = append(secrets, "s3cr3t-indexed")

	first := runServer(t, environ, "server", "--write-config", "--oidc-scopes=openid,groups", "--aibridge-retention=30d")
	require.Equal(t, 0, first.code, first.stderr)
	for _, s := range secrets {
		require.NotContains(t, first.stdout, s)
	}
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(first.stdout), &doc))
	require.Equal(t, "https://gantry.example.com", doc["networking"].(map[string]any)["accessURL"])
	require.Equal(t, 10, doc["pgConnMaxOpen"])
	require.Equal(t, "720h0m0s", doc["aibridge"].(map[string]any)["retention"])

	// Fed back through --config, the file yields the same configuration.
	path := writeServerYAML(t, first.stdout)
	second := runServer(t, nil, "server", "--config", path, "--write-config")
	require.Equal(t, 0, second.code, second.stderr)
	require.Equal(t, first.stdout, second.stdout)
}

// Every flag of the table goes through the command line: giving each one
// its default value changes nothing.
func TestServerAcceptsEveryFlag(t *testing.T) {
	t.Parallel()
	args := []string{"server", "--write-config"}
	n := 0
	for _, opt := range config.New().Options() {
		if opt.Flag == "" || opt.Flag == "write-config" || opt.Flag == "config" {
			continue
		}
		value := opt.Default
		if value == "" && len(opt.UseInstead) > 0 {
			continue // an alias: its replacement carries the default
		}
		if value == "" {
			// Unset options get their zero value.
			switch opt.Value.Type() {
			case "bool":
				value = "false"
			case "string", "url", "string-array":
			default:
				continue
			}
		}
		args = append(args, "--"+opt.Flag+"="+value)
		n++
	}
	require.GreaterOrEqual(t, n, 220)
	withFlags := runServer(t, nil, args...)
	require.Equal(t, 0, withFlags.code, withFlags.stderr)
	plain := runServer(t, nil, "server", "--write-config")
	require.Equal(t, 0, plain.code, plain.stderr)

	var got, want map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(withFlags.stdout), &got))
	require.NoError(t, yaml.Unmarshal([]byte(plain.stdout), &want))
	var walk func(prefix string, w, g map[string]any)
	walk = func(prefix string, w, g map[string]any) {
		for k, wv := range w {
			gv, ok := g[k]
			require.True(t, ok, "missing %s%s", prefix, k)
			if wm, isMap := wv.(map[string]any); isMap && !strings.HasPrefix(k, "authURLParams") {
				walk(prefix+k+".", wm, gv.(map[string]any))
				continue
			}
			require.Equal(t, wv, gv, "%s%s", prefix, k)
		}
	}
	walk("", want, got)
	// The deprecated options given explicitly are warned about.
	require.Contains(t, withFlags.stderr, "WARN: Redirect HTTP to HTTPS is deprecated")
}

func TestServerDeprecationWarnings(t *testing.T) {
	t.Parallel()
	r := runServer(t, []string{"CODER_NOTIFICATIONS_EMAIL_HELLO=relay.example.com"}, "server", "--write-config")
	require.Equal(t, 0, r.code, r.stderr)
	require.Equal(t, "WARN: Notifications: Email: Hello is deprecated, please use Email: Hello instead.\n", r.stderr)
	require.Contains(t, r.stdout, "hello: relay.example.com")
}

func TestServerUnexpectedArguments(t *testing.T) {
	t.Parallel()
	r := runServer(t, nil, "server", "--tls-enable", "false")
	require.Equal(t, 2, r.code)
	require.Contains(t, r.stderr, "unexpected arguments: false")
}

// TestGoldenServerHelp keeps `gantry server --help` stable: grouped like
// Coder's, with env names and defaults, hidden options left out.
func TestGoldenServerHelp(t *testing.T) {
	t.Parallel()
	r := runServer(t, nil, "server", "--help")
	require.Equal(t, 0, r.code, r.stderr)
	got := strings.ReplaceAll(r.stdout, config.DefaultCacheDir(), "[user cache dir]/gantry")

	path := filepath.Join("testdata", "server_help.golden")
	if *updateGolden {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, []byte(got), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `make update-golden`")
	require.Equal(t, string(want), got, "server help changed: run `make update-golden`")

	for _, opt := range config.New().Options() {
		if opt.Flag == "" {
			continue
		}
		if opt.Hidden {
			require.NotContains(t, got, "--"+opt.Flag+" ", "hidden option %q is listed", opt.Name)
			continue
		}
		require.Contains(t, got, "--"+opt.Flag, opt.Name)
		if opt.Env != "" {
			require.Contains(t, got, "$"+opt.Env, opt.Name)
		}
	}
	require.Contains(t, got, "NETWORKING / TLS OPTIONS:")
}
