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

// secretEnviron sets every secret option (all 13) and every provider
// credential to a distinct recognisable value.
func secretEnviron(t *testing.T) (environ, secrets []string) {
	t.Helper()
	for _, opt := range config.New().Options() {
		if !config.IsSecret(opt) {
			continue
		}
		v := "s3cr3t-" + opt.Flag
		if opt.Flag == "postgres-url" {
			v = "postgres://admin:s3cr3t-pg@db.example.com/gantry"
			secrets = append(secrets, "s3cr3t-pg")
		} else {
			secrets = append(secrets, v)
		}
		environ = append(environ, opt.Env+"="+v)
	}
	require.Len(t, environ, 13)
	providers := map[string]string{
		"CODER_AIBRIDGE_PROVIDER_0_TYPE":                      "anthropic",
		"CODER_AIBRIDGE_PROVIDER_0_NAME":                      "anthropic-eu",
		"CODER_AIBRIDGE_PROVIDER_0_KEY":                       "s3cr3t-provider-key",
		"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_ACCESS_KEY":        "s3cr3t-bedrock-ak",
		"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_ACCESS_KEY_SECRET": "s3cr3t-bedrock-sk",
		"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_BASE_URL":          "https://s3cr3t-bedrock-url.example.com",
		"CODER_EXTERNAL_AUTH_0_TYPE":                          "gitlab",
		"CODER_EXTERNAL_AUTH_0_CLIENT_ID":                     "client",
		"CODER_EXTERNAL_AUTH_0_CLIENT_SECRET":                 "s3cr3t-ext-env",
	}
	for k, v := range providers {
		environ = append(environ, k+"="+v)
		if strings.Contains(v, "s3cr3t") {
			secrets = append(secrets, strings.TrimPrefix(strings.TrimSuffix(v, ".example.com"), "https://"))
		}
	}
	// The deprecated legacy provider names in the table would conflict with
	// an indexed provider named "anthropic"; ours is "anthropic-eu".
	return environ, secrets
}

func TestSecretsNeverServedOrWritten(t *testing.T) {
	t.Parallel()
	environ, secrets := secretEnviron(t)
	yamlPath := filepath.Join(t.TempDir(), "gantry.yaml")
	require.NoError(t, os.WriteFile(yamlPath, []byte(
		"externalAuthProviders:\n  - type: github\n    client_id: yaml-client\n    client_secret: s3cr3t-ext-yaml\n"), 0o600))
	secrets = append(secrets, "s3cr3t-ext-yaml")
	environ = append(environ, "CODER_CONFIG_PATH="+yamlPath)

	loaded, err := config.Load(config.Inputs{Environ: environ})
	require.NoError(t, err)
	before, err := json.Marshal(loaded.Values)
	require.NoError(t, err)

	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)
	raw, err := json.Marshal(resp)
	require.NoError(t, err)
	for _, s := range secrets {
		require.NotContains(t, string(raw), s)
	}

	var body struct {
		Config  map[string]any   `json:"config"`
		Options []map[string]any `json:"options"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	secretCount := 0
	for _, o := range body.Options {
		ann, _ := o["annotations"].(map[string]any)
		if ann["secret"] == "true" {
			secretCount++
			_, has := o["value"]
			require.False(t, has, "secret option %v must have no value key", o["name"])
			require.Equal(t, "env", o["value_source"], "metadata is kept")
		}
		for _, u := range asSlice(o["use_instead"]) {
			um := u.(map[string]any)
			if a, _ := um["annotations"].(map[string]any); a["secret"] == "true" {
				require.Equal(t, "", um["value"], "nested secret copies carry an empty value")
			}
		}
	}
	require.Equal(t, 13, secretCount)
	// Nested secrets are blanked, top-level omitempty secrets disappear.
	require.Equal(t, "", dig(body.Config, "oidc", "client_secret"))
	require.Equal(t, "", dig(body.Config, "notifications", "email", "auth", "password"))
	require.Equal(t, "", dig(body.Config, "ai", "bridge", "openai", "key"))
	for _, k := range []string{"pg_connection_url", "scim_api_key", "external_token_encryption_keys"} {
		require.NotContains(t, body.Config, k)
	}

	// Redaction works on a copy.
	after, err := json.Marshal(loaded.Values)
	require.NoError(t, err)
	require.JSONEq(t, string(before), string(after))
	require.Equal(t, "s3cr3t-oidc-client-secret", loaded.Values.OIDC.ClientSecret.String())
	require.Equal(t, "s3cr3t-ext-yaml", loaded.Values.ExternalAuthConfigs.Value[0].ClientSecret)

	var out bytes.Buffer
	require.NoError(t, loaded.WriteYAML(&out))
	for _, s := range secrets {
		require.NotContains(t, out.String(), s)
	}
	require.Contains(t, out.String(), "yaml-client")
}

func TestProblemsRedactSecretValues(t *testing.T) {
	t.Parallel()
	_, err := config.Load(config.Inputs{Environ: []string{`CODER_EXTERNAL_TOKEN_ENCRYPTION_KEYS="s3cr3t`}})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cr3t")
	require.Contains(t, err.Error(), `option "External Token Encryption Keys" (env CODER_EXTERNAL_TOKEN_ENCRYPTION_KEYS): invalid value "<redacted>"`)
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

func dig(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}
