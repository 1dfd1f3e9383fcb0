package app_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/config"
	"gantry/sdk"
)

// TestSecretsAbsentFromConfigAndLogs starts a server with all 13 secret
// options, indexed AI Bridge providers with keys and an external auth
// provider with a client secret, all from the environment, and the gateway
// enabled. After a session of requests (sign-in, the deployment config as
// owner, a proxied gateway call, failed authentications) no secret value
// appears in the served config or in any log line at debug level.
func TestSecretsAbsentFromConfigAndLogs(t *testing.T) {
	t.Parallel()
	var upstreamHits atomic.Int64
	upstream := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		upstreamHits.Add(1)
		_, _ = io.Copy(io.Discard, r.Body)
		rw.Header().Set("Content-Type", "application/json")
		rw.WriteHeader(http.StatusBadRequest)
		_, _ = io.WriteString(rw, `{"type":"error","error":{"type":"invalid_request_error","message":"no"}}`)
	}))
	t.Cleanup(upstream.Close)

	var environ, secrets []string
	for _, opt := range config.New().Options() {
		if !config.IsSecret(opt) {
			continue
		}
		v := "s3cr3t-" + opt.Flag
		if opt.Flag == "postgres-url" {
			// The test store is injected; the URL is only reported.
			v = "postgres://gantry:s3cr3t-pg-password@127.0.0.1:1/gantry"
			secrets = append(secrets, "s3cr3t-pg-password")
		} else {
			secrets = append(secrets, v)
		}
		environ = append(environ, opt.Env+"="+v)
	}
	require.Len(t, secrets, 13, "the table's secret options")
	for k, v := range map[string]string{
		"CODER_AIBRIDGE_PROVIDER_0_TYPE":      "anthropic",
		"CODER_AIBRIDGE_PROVIDER_0_NAME":      "anthropic-eu",
		"CODER_AIBRIDGE_PROVIDER_0_KEY":       "s3cr3t-indexed-anthropic",
		"CODER_AIBRIDGE_PROVIDER_0_BASE_URL":  upstream.URL,
		"CODER_AIBRIDGE_PROVIDER_1_TYPE":      "openai",
		"CODER_AIBRIDGE_PROVIDER_1_NAME":      "openai-2",
		"CODER_AIBRIDGE_PROVIDER_1_KEY":       "s3cr3t-indexed-openai",
		"CODER_AIBRIDGE_PROVIDER_1_BASE_URL":  upstream.URL,
		"CODER_EXTERNAL_AUTH_0_TYPE":          "github",
		"CODER_EXTERNAL_AUTH_0_CLIENT_ID":     "client",
		"CODER_EXTERNAL_AUTH_0_CLIENT_SECRET": "s3cr3t-external-auth",
	} {
		environ = append(environ, k+"="+v)
		if strings.HasPrefix(v, "s3cr3t-") {
			secrets = append(secrets, v)
		}
	}

	d := deploy(t, withEnviron(environ...), withFlags("aibridge-enabled", "true", "verbose", "true"))
	owner := d.withToken("")
	first := apitest.CreateFirstUser(t, owner)

	status, _, body := get(t, owner, http.MethodGet, "/api/v2/deployment/config", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), `"name":"anthropic-eu"`, "providers are listed")

	// A proxied call: the gateway swaps the gantry token for the provider key.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost,
		d.url.String()+"/api/v2/aibridge/anthropic-eu/v1/messages",
		strings.NewReader(`{"model":"claude-x","max_tokens":8,"messages":[{"role":"user","content":"hi"}]}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", first.SessionToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Positive(t, upstreamHits.Load(), "the gateway call reached the upstream (status %d)", resp.StatusCode)

	// Refused authentications log too.
	_, err = apitest.WithToken(owner, first.SessionToken[:11]+strings.Repeat("x", 22)).User(t.Context(), sdk.Me)
	require.Error(t, err)

	d.stop(t)
	logs := d.logs.String()
	require.Contains(t, logs, "http request", "the access log was captured")
	for _, s := range secrets {
		require.NotContains(t, string(body), s, "secret in /deployment/config")
		require.NotContains(t, logs, s, "secret in the logs")
	}
	require.NotContains(t, logs, first.SessionToken[11:], "session secret in the logs")
}
