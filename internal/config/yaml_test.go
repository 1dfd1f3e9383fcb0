package config_test

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/config"
)

func loadYAML(t *testing.T, doc string, environ ...string) (*config.Loaded, error) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
	return config.Load(config.Inputs{Environ: append(environ, "CODER_CONFIG_PATH="+path)})
}

func problemLines(t *testing.T, err error) []string {
	t.Helper()
	require.Error(t, err)
	var ps config.Problems
	require.ErrorAs(t, err, &ps)
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return lines
}

func TestYAMLErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		doc  string
		want string
	}{
		{"wrong type mapping", "networking:\n  accessURL:\n    a: 1\n", `option "Access URL" (YAML networking.accessURL at `},
		{"wrong type list", "pgConnMaxOpen: [1, 2]\n", `invalid value "[1, 2]": expected a int, got a list`},
		{"bad int", "pgConnMaxOpen: many\n", `option "Postgres Connection Max Open" (YAML pgConnMaxOpen at `},
		{"bad duration", "networking:\n  http:\n    sessionDuration: forever\n", `time: invalid duration "forever"`},
		{"unknown key", "networking:\n  nope: 1\n", `unknown option "networking.nope"`},
		{"secret keys are not YAML options", "oidc:\n  clientSecret: x\n", `unknown option "oidc.clientSecret"`},
		{"not a mapping", "- a\n- b\n", "config file must be a YAML mapping"},
		{"two documents", "cacheDir: a\n---\ncacheDir: b\n", "more than one YAML document"},
		{"syntax", "cacheDir: [\n", "cannot parse config file"},
		{"group with a scalar", "networking: 5\n", `"networking" is a group of options and must be a mapping`},
		{"nested group with a list", "networking:\n  tls: [a]\n", `"networking.tls" is a group of options and must be a mapping`},
		{"list of objects for array", "oidc:\n  scopes:\n    - {a: 1}\n", "expected a list of strings"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := loadYAML(t, tc.doc)
			lines := problemLines(t, err)
			require.Len(t, lines, 1, "%v", lines)
			require.Contains(t, lines[0], tc.want)
		})
	}
}

func TestYAMLAllProblemsAtOnce(t *testing.T) {
	t.Parallel()
	_, err := loadYAML(t, "networking:\n  accessURL: '::'\n  tls:\n    enable: maybe\nbogus: 1\n",
		"CODER_SESSION_DURATION=1 fortnight", "CODER_AIBRIDGE_PROVIDER_0_TYPE=bard")
	lines := problemLines(t, err)
	require.Len(t, lines, 5, strings.Join(lines, "\n"))
}

func TestEmptyYAMLFile(t *testing.T) {
	t.Parallel()
	for _, doc := range []string{"", "# only a comment\n", "~\n"} {
		loaded, err := loadYAML(t, doc)
		require.NoError(t, err)
		require.Equal(t, "127.0.0.1:3000", loaded.Values.HTTPAddress.String())
	}
}

func TestWriteYAMLRoundTrip(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{
		Environ: []string{
			"CODER_ACCESS_URL=https://gantry.example.com",
			"CODER_OIDC_SCOPES=openid,groups",
			"CODER_SUPPORT_LINKS=[{name: Runbook, target: 'https://example.com', icon: docs}]",
			"CODER_OIDC_GROUP_REGEX_FILTER=^eng-.*$",
			"CODER_AIBRIDGE_RETENTION=30d",
			"CODER_NOTIFICATIONS_EMAIL_HELLO=relay.example.com",
		},
		Flags: []config.FlagValue{{Name: "tls-redirect-http-to-https", Value: "false"}, {Name: "postgres-auth", Value: "awsiamrds"}},
	})
	require.NoError(t, err)
	var out bytes.Buffer
	require.NoError(t, loaded.WriteYAML(&out))

	again, err := loadYAML(t, out.String())
	require.NoError(t, err, out.String())
	require.Equal(t, valuesJSON(t, loaded.Values), valuesJSON(t, again.Values))
}

// FuzzYAMLConfig loads arbitrary YAML files. Loading must never panic; a file
// that loads must survive --write-config and load again to the same values.
func FuzzYAMLConfig(f *testing.F) {
	f.Add("networking:\n  accessURL: https://x.example.com\n  tls:\n    enable: false\n")
	f.Add("oidc:\n  scopes: [a, b]\n  authURLParams: {k: v}\n")
	f.Add("supportLinks:\n  - name: a\n    target: b\n    icon: bug\n")
	f.Add("externalAuthProviders:\n  - type: github\n    client_id: x\n")
	f.Add("aibridge:\n  retention: 7d\n  enabled: true\n")
	f.Add("a: &x 1\nb: *x\n")
	f.Add("networking: 5\n")
	f.Fuzz(func(t *testing.T, doc string) {
		dir := t.TempDir()
		path := filepath.Join(dir, "gantry.yaml")
		require.NoError(t, os.WriteFile(path, []byte(doc), 0o600))
		loaded, err := config.Load(config.Inputs{Environ: []string{"CODER_CONFIG_PATH=" + path}})
		if err != nil {
			require.NotPanics(t, func() { _ = err.Error() })
			return
		}
		var out bytes.Buffer
		require.NoError(t, loaded.WriteYAML(&out))
		again := filepath.Join(dir, "again.yaml")
		require.NoError(t, os.WriteFile(again, out.Bytes(), 0o600))
		reloaded, err := config.Load(config.Inputs{Environ: []string{"CODER_CONFIG_PATH=" + again}})
		require.NoError(t, err, out.String())
		require.Equal(t, valuesJSON(t, loaded.Values), valuesJSON(t, reloaded.Values))
	})
}

// valuesJSON renders values for comparison, without the config file path.
func valuesJSON(t *testing.T, v *config.DeploymentValues) string {
	t.Helper()
	cpy := *v
	cpy.Config = ""
	raw, err := json.Marshal(&cpy)
	require.NoError(t, err)
	return string(raw)
}
