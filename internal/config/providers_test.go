package config_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/config"
)

func TestReadAIBridgeProvidersFromEnv(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name    string
		environ []string
		want    []config.AIBridgeProviderConfig
		err     string
	}{
		{name: "none", environ: []string{"HOME=/root", "CODER_AIBRIDGE_OPENAI_KEY=sk"}, want: []config.AIBridgeProviderConfig{}},
		{
			name: "two anthropic instances (seed example)",
			environ: []string{
				"CODER_AIBRIDGE_PROVIDER_0_TYPE=anthropic",
				"CODER_AIBRIDGE_PROVIDER_0_NAME=anthropic-corp",
				"CODER_AIBRIDGE_PROVIDER_0_KEY=k0",
				"CODER_AIBRIDGE_PROVIDER_0_BASE_URL=https://llm-proxy.internal.example.com/anthropic",
				"CODER_AIBRIDGE_PROVIDER_1_TYPE=anthropic",
				"CODER_AIBRIDGE_PROVIDER_1_NAME=anthropic-direct",
				"CODER_AIBRIDGE_PROVIDER_1_KEY=k1",
			},
			want: []config.AIBridgeProviderConfig{
				{Type: "anthropic", Name: "anthropic-corp", Key: "k0", BaseURL: "https://llm-proxy.internal.example.com/anthropic"},
				{Type: "anthropic", Name: "anthropic-direct", Key: "k1"},
			},
		},
		{
			name: "name defaults to type, bedrock fields, lower-case names, unknown keys ignored, empty values unset",
			environ: []string{
				"coder_aibridge_provider_0_type=anthropic",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_REGION=us-west-2",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_BASE_URL=https://bedrock.example.com",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_ACCESS_KEY=AK",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_ACCESS_KEY_SECRET=SK",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_MODEL=m",
				"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_SMALL_FAST_MODEL=s",
				"CODER_AIBRIDGE_PROVIDER_0_COLOUR=blue",
				"CODER_AIBRIDGE_PROVIDER_0_NAME=",
			},
			want: []config.AIBridgeProviderConfig{{
				Type: "anthropic", Name: "anthropic", BedrockRegion: "us-west-2", BedrockBaseURL: "https://bedrock.example.com",
				BedrockAccessKey: "AK", BedrockAccessKeySecret: "SK", BedrockModel: "m", BedrockSmallFastModel: "s",
			}},
		},
		{name: "non-numeric index", environ: []string{"CODER_AIBRIDGE_PROVIDER_XXX_TYPE=openai"}, err: "parse number: CODER_AIBRIDGE_PROVIDER_XXX_TYPE"},
		{name: "leading zero index", environ: []string{"CODER_AIBRIDGE_PROVIDER_00_TYPE=openai"}, err: "parse number: CODER_AIBRIDGE_PROVIDER_00_TYPE"},
		{name: "negative index", environ: []string{"CODER_AIBRIDGE_PROVIDER_-1_TYPE=openai"}, err: "parse number: CODER_AIBRIDGE_PROVIDER_-1_TYPE"},
		{name: "no key", environ: []string{"CODER_AIBRIDGE_PROVIDER_0=openai"}, err: "invalid env var: CODER_AIBRIDGE_PROVIDER_0"},
		{name: "gap", environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_2_TYPE=anthropic"}, err: "provider num 1 skipped: CODER_AIBRIDGE_PROVIDER_2_TYPE"},
		{name: "not starting at zero", environ: []string{"CODER_AIBRIDGE_PROVIDER_1_TYPE=openai"}, err: "provider num 0 skipped: CODER_AIBRIDGE_PROVIDER_1_TYPE"},
		{name: "type required", environ: []string{"CODER_AIBRIDGE_PROVIDER_0_NAME=x"}, err: "provider 0: TYPE is required"},
		{name: "unknown type", environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=gemini"}, err: `provider 0: unknown TYPE "gemini" (must be openai, anthropic, or copilot)`},
		{
			name:    "duplicate defaulted names",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_1_TYPE=openai"},
			err:     `provider 1: duplicate NAME "openai" (multiple providers of the same type require explicit NAME fields)`,
		},
		{
			name:    "duplicate explicit names",
			environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_NAME=llm", "CODER_AIBRIDGE_PROVIDER_1_TYPE=anthropic", "CODER_AIBRIDGE_PROVIDER_1_NAME=llm"},
			err:     `provider 1: duplicate NAME "llm" (multiple providers of the same type require explicit NAME fields)`,
		},
		{name: "invalid name", environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_NAME=My_LLM"}, err: `provider 0: invalid NAME "My_LLM" (must match ^[a-z0-9]+(-[a-z0-9]+)*$)`},
		{name: "reserved name", environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_NAME=interceptions"}, err: `provider 0: NAME "interceptions" is reserved`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := config.ReadAIBridgeProvidersFromEnv(tc.environ)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

// Coder sorted the raw variables as strings, so index 10 came before 1 and
// eleven or more providers failed. gantry orders indices numerically.
func TestReadAIBridgeProvidersNumericOrder(t *testing.T) {
	t.Parallel()
	var environ []string
	// Give the variables in a scrambled order.
	for _, i := range []int{11, 2, 10, 0, 9, 1, 8, 3, 7, 4, 6, 5} {
		environ = append(environ,
			fmt.Sprintf("CODER_AIBRIDGE_PROVIDER_%d_TYPE=openai", i),
			fmt.Sprintf("CODER_AIBRIDGE_PROVIDER_%d_NAME=llm-%d", i, i),
		)
	}
	got, err := config.ReadAIBridgeProvidersFromEnv(environ)
	require.NoError(t, err)
	require.Len(t, got, 12)
	for i, p := range got {
		require.Equal(t, fmt.Sprintf("llm-%d", i), p.Name)
	}
}

func TestReadAIBridgeProvidersReportsEveryProblem(t *testing.T) {
	t.Parallel()
	_, err := config.ReadAIBridgeProvidersFromEnv([]string{
		"CODER_AIBRIDGE_PROVIDER_X_TYPE=openai",
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=nope",
		"CODER_AIBRIDGE_PROVIDER_1_NAME=a",
	})
	require.EqualError(t, err, strings.Join([]string{
		"parse number: CODER_AIBRIDGE_PROVIDER_X_TYPE",
		`provider 0: unknown TYPE "nope" (must be openai, anthropic, or copilot)`,
		"provider 1: TYPE is required",
	}, "\n"))
}

func TestUnknownAIBridgeProviderKeys(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"CODER_AIBRIDGE_PROVIDER_0_BASEURL"}, config.UnknownAIBridgeProviderKeys([]string{
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai",
		"CODER_AIBRIDGE_PROVIDER_0_BASEURL=https://typo.example.com",
	}))
}

func TestBuildAIBridgeProviders(t *testing.T) {
	t.Parallel()
	legacy := func(t *testing.T, environ ...string) config.AIBridgeConfig {
		t.Helper()
		loaded, err := config.Load(config.Inputs{Environ: environ})
		require.NoError(t, err)
		return loaded.Values.AI.BridgeConfig
	}

	t.Run("legacy then indexed", func(t *testing.T) {
		t.Parallel()
		cfg := legacy(t,
			"CODER_AIBRIDGE_OPENAI_KEY=sk-legacy",
			"CODER_AIBRIDGE_BEDROCK_REGION=eu-west-1",
			"CODER_AIBRIDGE_PROVIDER_0_TYPE=copilot",
		)
		got, err := config.BuildAIBridgeProviders(cfg)
		require.NoError(t, err)
		require.Equal(t, []config.AIBridgeProviderConfig{
			{Type: "openai", Name: "openai", Key: "sk-legacy", BaseURL: "https://api.openai.com/v1/"},
			{
				Type: "anthropic", Name: "anthropic", BaseURL: "https://api.anthropic.com/", BedrockRegion: "eu-west-1",
				BedrockModel: "global.anthropic.claude-sonnet-4-5-20250929-v1:0", BedrockSmallFastModel: "global.anthropic.claude-haiku-4-5-20251001-v1:0",
			},
			{Type: "copilot", Name: "copilot"},
		}, got)
		require.True(t, got[1].UsesBedrock())
	})

	t.Run("legacy openai conflicts", func(t *testing.T) {
		t.Parallel()
		_, err := config.Load(config.Inputs{Environ: []string{"CODER_AIBRIDGE_OPENAI_KEY=sk", "CODER_AIBRIDGE_PROVIDER_0_TYPE=openai"}})
		require.ErrorContains(t, err, `legacy CODER_AIBRIDGE_OPENAI_KEY conflicts with indexed provider named "openai"; remove one or the other`)
	})

	t.Run("legacy anthropic conflicts, also through bedrock", func(t *testing.T) {
		t.Parallel()
		for _, env := range []string{"CODER_AIBRIDGE_ANTHROPIC_KEY=sk", "CODER_AIBRIDGE_BEDROCK_BASE_URL=https://bedrock.example.com"} {
			_, err := config.Load(config.Inputs{Environ: []string{env, "CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_NAME=anthropic"}})
			require.ErrorContains(t, err, `legacy CODER_AIBRIDGE_ANTHROPIC_KEY conflicts with indexed provider named "anthropic"; remove one or the other`)
		}
	})

	t.Run("unknown type", func(t *testing.T) {
		t.Parallel()
		_, err := config.BuildAIBridgeProviders(config.AIBridgeConfig{Providers: []config.AIBridgeProviderConfig{{Type: "gemini", Name: "g"}}})
		require.EqualError(t, err, `unknown provider type "gemini" for provider "g"`)
	})
}

func TestProvidersInConfigJSONWithoutKeys(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{Environ: []string{
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=anthropic",
		"CODER_AIBRIDGE_PROVIDER_0_NAME=anthropic-eu",
		"CODER_AIBRIDGE_PROVIDER_0_KEY=sk-ant-secret",
		"CODER_AIBRIDGE_PROVIDER_0_BASE_URL=https://eu.example.com",
		"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_REGION=eu-west-1",
		"CODER_AIBRIDGE_PROVIDER_0_BEDROCK_ACCESS_KEY_SECRET=aws-secret",
		"CODER_AIBRIDGE_PROVIDER_1_TYPE=openai",
	}})
	require.NoError(t, err)
	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)
	raw, err := json.Marshal(resp)
	require.NoError(t, err)
	var body struct {
		Config struct {
			AI struct {
				Bridge struct {
					Providers []map[string]string `json:"providers"`
				} `json:"bridge"`
			} `json:"ai"`
		} `json:"config"`
	}
	require.NoError(t, json.Unmarshal(raw, &body))
	require.Equal(t, []map[string]string{
		{"type": "anthropic", "name": "anthropic-eu", "base_url": "https://eu.example.com", "bedrock_region": "eu-west-1"},
		{"type": "openai", "name": "openai", "base_url": ""},
	}, body.Config.AI.Bridge.Providers)
	require.NotContains(t, string(raw), "sk-ant-secret")
	require.NotContains(t, string(raw), "aws-secret")
}

func TestReadExternalAuthProvidersFromEnv(t *testing.T) {
	t.Parallel()
	got, err := config.ReadExternalAuthProvidersFromEnv([]string{
		"CODER_EXTERNAL_AUTH_0_TYPE=github",
		"CODER_EXTERNAL_AUTH_0_CLIENT_ID=id0",
		"CODER_EXTERNAL_AUTH_0_CLIENT_SECRET=secret0",
		"CODER_EXTERNAL_AUTH_0_SCOPES=repo read:org",
		"CODER_EXTERNAL_AUTH_0_DEVICE_FLOW=true",
		"CODER_EXTERNAL_AUTH_1_ID=gl",
		"CODER_EXTERNAL_AUTH_1_TYPE=gitlab",
		"CODER_EXTERNAL_AUTH_GITHUB_DEFAULT_PROVIDER_ENABLE=false", // an ordinary option
		"CODER_GITAUTH_0_TYPE=bitbucket-cloud",
	})
	require.NoError(t, err)
	require.Equal(t, []config.ExternalAuthConfig{
		{Type: "github", ClientID: "id0", ClientSecret: "secret0", Scopes: []string{"repo", "read:org"}, DeviceFlow: true},
		{ID: "gl", Type: "gitlab"},
		{Type: "bitbucket-cloud"},
	}, got)

	_, err = config.ReadExternalAuthProvidersFromEnv([]string{"CODER_EXTERNAL_AUTH_0_NO_REFRESH=maybe"})
	require.EqualError(t, err, "parse bool: maybe")
	_, err = config.ReadExternalAuthProvidersFromEnv([]string{"CODER_EXTERNAL_AUTH_0_TYPE=github", "CODER_EXTERNAL_AUTH_3_TYPE=gitlab"})
	require.EqualError(t, err, "provider num 1 skipped: CODER_EXTERNAL_AUTH_3_TYPE")
	_, err = config.ReadExternalAuthProvidersFromEnv([]string{"CODER_EXTERNAL_AUTH_A_TYPE=github"})
	require.EqualError(t, err, "parse number: CODER_EXTERNAL_AUTH_A_TYPE")
}

func TestValidateExternalAuthConfigs(t *testing.T) {
	t.Parallel()
	errs := config.ValidateExternalAuthConfigs([]config.ExternalAuthConfig{
		{Type: "github", ClientID: "a"},
		{Type: "github", ClientID: "b"},
		{Type: "gitlab", ID: "x"},
		{Type: "gitea", ID: "x", ClientID: "c"},
	})
	var msgs []string
	for _, e := range errs {
		msgs = append(msgs, e.Error())
	}
	require.Equal(t, []string{
		"multiple github external auth providers provided. you must specify a unique id for each",
		`"x" external auth provider: client_id must be provided`,
		`multiple external auth providers exist with the id "x". specify a unique id for each`,
	}, msgs)
}

// FuzzReadAIBridgeProvidersFromEnv feeds arbitrary environments (one
// variable per line) to the parser: it must never panic, and what it accepts
// must be a valid provider list.
func FuzzReadAIBridgeProvidersFromEnv(f *testing.F) {
	f.Add("CODER_AIBRIDGE_PROVIDER_0_TYPE=openai\nCODER_AIBRIDGE_PROVIDER_0_KEY=sk")
	f.Add("CODER_AIBRIDGE_PROVIDER_0_TYPE=anthropic\nCODER_AIBRIDGE_PROVIDER_1_TYPE=anthropic\nCODER_AIBRIDGE_PROVIDER_1_NAME=b")
	f.Add("CODER_AIBRIDGE_PROVIDER_10_TYPE=copilot\nCODER_AIBRIDGE_PROVIDER_X_TYPE=openai")
	f.Add("coder_aibridge_provider_0_name=x\nCODER_AIBRIDGE_PROVIDER_0=\n=\n")
	f.Fuzz(func(t *testing.T, blob string) {
		environ := strings.Split(blob, "\n")
		providers, err := config.ReadAIBridgeProvidersFromEnv(environ)
		if err != nil {
			require.Nil(t, providers)
			return
		}
		names := map[string]bool{}
		for _, p := range providers {
			require.Contains(t, []string{"openai", "anthropic", "copilot"}, p.Type)
			require.NoError(t, config.ValidateProviderName(p.Name))
			require.False(t, names[p.Name], "duplicate name %q accepted", p.Name)
			names[p.Name] = true
		}
		_, err = config.BuildAIBridgeProviders(config.AIBridgeConfig{Providers: providers})
		require.NoError(t, err)
	})
}

// FuzzReadExternalAuthProvidersFromEnv: never panic; accepted input yields
// one entry per contiguous index.
func FuzzReadExternalAuthProvidersFromEnv(f *testing.F) {
	f.Add("CODER_EXTERNAL_AUTH_0_TYPE=github\nCODER_EXTERNAL_AUTH_0_SCOPES=a b")
	f.Add("CODER_EXTERNAL_AUTH_0_DEVICE_FLOW=yes\nCODER_GITAUTH_1_ID=x")
	f.Add("CODER_EXTERNAL_AUTH_GITHUB_DEFAULT_PROVIDER_ENABLE=true\nCODER_GITAUTH_0_NO_REFRESH=1")
	f.Fuzz(func(t *testing.T, blob string) {
		environ := strings.Split(blob, "\n")
		got, err := config.ReadExternalAuthProvidersFromEnv(environ)
		if err != nil {
			require.Nil(t, got)
			return
		}
		require.LessOrEqual(t, len(got), len(environ))
	})
}
