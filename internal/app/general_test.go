package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/store"
	"gantry/sdk"
)

const signedOut = "You are signed out or your session has expired. Please sign in again to continue."

// principals are the callers of the endpoint matrix.
var principals = []string{"none", "malformed", "expired", "member", "auditor", "user-admin", "owner"}

// matrixDeployment is a deployment with one session token per principal.
func matrixDeployment(t *testing.T) (*deployment, map[string]string) {
	t.Helper()
	d := deploy(t)
	owner := d.withToken("")
	apitest.CreateFirstUser(t, owner)
	tokens := map[string]string{"none": "", "malformed": "notavalidtoken", "owner": owner.SessionToken}
	for _, role := range []string{"member", "auditor", "user-admin"} {
		c, _ := apitest.CreateUser(t, owner, role)
		tokens[role] = c.SessionToken
	}
	// An expired token: a member's token whose expiry is moved into the past
	// before it is ever used (so no cache holds it).
	mc, _ := apitest.CreateUser(t, owner, "member")
	exp := apitest.CreateToken(t, mc, "me", "soon-expired", time.Hour)
	require.NoError(t, d.store.UpdateAPIKeyUsage(t.Context(), exp[:10], store.APIKeyUsage{
		LastUsed: time.Now().Add(-2 * time.Hour), ExpiresAt: time.Now().Add(-time.Hour),
	}))
	tokens["expired"] = exp

	// Stats are served after the first background refresh.
	require.Eventually(t, func() bool {
		status, _, _ := get(t, owner, http.MethodGet, "/api/v2/deployment/stats", nil)
		return status == http.StatusOK
	}, 10*time.Second, 20*time.Millisecond)
	return d, tokens
}

func TestGeneralEndpointMatrix(t *testing.T) {
	t.Parallel()
	d, tokens := matrixDeployment(t)

	type expect struct {
		status int
		check  func(t *testing.T, body []byte)
	}
	unauthorized := func(detailPrefix string) expect {
		return expect{http.StatusUnauthorized, func(t *testing.T, b []byte) {
			r := decode[sdk.Response](t, b)
			require.Equal(t, signedOut, r.Message)
			require.True(t, strings.HasPrefix(r.Detail, detailPrefix), "detail %q, want prefix %q", r.Detail, detailPrefix)
		}}
	}
	forbidden := expect{http.StatusForbidden, func(t *testing.T, b []byte) {
		r := decode[sdk.Response](t, b)
		require.Equal(t, "Forbidden.", r.Message)
		require.Contains(t, r.Detail, "You don't have permission")
	}}
	authFailures := map[string]expect{
		"none":      unauthorized(`Cookie "coder_session_token" or query parameter must be provided.`),
		"malformed": unauthorized("Invalid API key format: incorrect amount of API key parts, expected 2 got 1"),
		"expired":   unauthorized(`API key expired at "`),
	}
	// everyone answers the same for every principal.
	everyone := func(e expect) map[string]expect {
		m := map[string]expect{}
		for _, p := range principals {
			m[p] = e
		}
		return m
	}
	// signedIn answers e to every signed-in principal and 401 otherwise.
	signedIn := func(e expect, overrides map[string]expect) map[string]expect {
		m := map[string]expect{}
		for _, p := range principals {
			if f, ok := authFailures[p]; ok {
				m[p] = f
			} else if o, ok := overrides[p]; ok {
				m[p] = o
			} else {
				m[p] = e
			}
		}
		return m
	}
	ok := func(check func(t *testing.T, b []byte)) expect { return expect{http.StatusOK, check} }

	buildInfo := ok(func(t *testing.T, b []byte) {
		bi := decode[sdk.BuildInfoResponse](t, b)
		require.Equal(t, d.url.String(), bi.DashboardURL)
		require.NotEmpty(t, bi.Version)
		require.NotEmpty(t, bi.DeploymentID)
		require.Equal(t, "1.0", bi.AgentAPIVersion)
		require.False(t, bi.WorkspaceProxy)
	})
	configOK := ok(func(t *testing.T, b []byte) {
		var c struct {
			Config  map[string]any   `json:"config"`
			Options []map[string]any `json:"options"`
		}
		require.NoError(t, json.Unmarshal(b, &c))
		require.Equal(t, d.url.String(), c.Config["access_url"])
		require.NotEmpty(t, c.Options)
		require.True(t, sort.SliceIsSorted(c.Options, func(i, j int) bool {
			return c.Options[i]["name"].(string) < c.Options[j]["name"].(string)
		}), "options sorted by name")
	})
	statsOK := ok(func(t *testing.T, b []byte) {
		s := decode[sdk.DeploymentStats](t, b)
		require.Equal(t, -1.0, s.Workspaces.ConnectionLatencyMS.P50)
		require.Equal(t, -1.0, s.Workspaces.ConnectionLatencyMS.P95)
		require.Zero(t, s.Workspaces.Running)
		require.Equal(t, 15*time.Minute, s.CollectedAt.Sub(s.AggregatedFrom))
		require.True(t, s.NextUpdateAt.After(s.CollectedAt))
	})
	sshOK := ok(func(t *testing.T, b []byte) {
		require.JSONEq(t, `{"hostname_prefix":"coder.","hostname_suffix":"coder","ssh_config_options":{}}`, string(b))
	})
	tokenConfig := func(want time.Duration) expect {
		return ok(func(t *testing.T, b []byte) {
			require.Equal(t, want, decode[sdk.TokenConfig](t, b).MaxTokenLifetime)
		})
	}

	endpoints := []struct {
		method, path string
		body         any
		want         map[string]expect
	}{
		{"GET", "/api/v2/", nil, everyone(ok(func(t *testing.T, b []byte) {
			require.Equal(t, "{\"message\":\"👋\"}\n", string(b))
		}))},
		{"GET", "/api/v2/buildinfo", nil, everyone(buildInfo)},
		{"GET", "/api/v2/updatecheck", nil, everyone(ok(func(t *testing.T, b []byte) {
			u := decode[sdk.UpdateCheckResponse](t, b)
			require.True(t, u.Current, "the update check is disabled in dev builds")
			require.NotEmpty(t, u.Version)
		}))},
		{"POST", "/api/v2/csp/reports", sdk.CSPViolation{Report: map[string]any{"document-uri": "http://x/", "violated-directive": "script-src"}},
			everyone(ok(func(t *testing.T, b []byte) { require.Equal(t, "\"ok\"\n", string(b)) }))},
		{"GET", "/api/v2/deployment/config", nil, signedIn(configOK, map[string]expect{"member": forbidden, "user-admin": forbidden})},
		{"GET", "/api/v2/deployment/stats", nil, signedIn(statsOK, map[string]expect{"member": forbidden, "user-admin": forbidden})},
		{"GET", "/api/v2/deployment/ssh", nil, signedIn(sshOK, nil)},
		{"GET", "/api/v2/experiments", nil, signedIn(ok(func(t *testing.T, b []byte) { require.Equal(t, "[]\n", string(b)) }), nil)},
		{"GET", "/api/v2/experiments/available", nil, signedIn(ok(func(t *testing.T, b []byte) {
			require.JSONEq(t, `{"safe":["minimum-implicit-member"]}`, string(b))
		}), nil)},
		{"GET", "/api/v2/users/me/keys/tokens/tokenconfig", nil, signedIn(tokenConfig(876600*time.Hour),
			map[string]expect{"owner": tokenConfig(7 * 24 * time.Hour)})},
	}
	for _, ep := range endpoints {
		for _, p := range principals {
			want := ep.want[p]
			t.Run(ep.method+" "+ep.path+" as "+p, func(t *testing.T) {
				t.Parallel()
				status, h, body := get(t, d.withToken(tokens[p]), ep.method, ep.path, ep.body)
				require.Equal(t, want.status, status, "body: %s", body)
				require.Equal(t, "application/json; charset=utf-8", h.Get("Content-Type"))
				require.NotEmpty(t, h.Get("X-Coder-Build-Version"))
				require.Len(t, h.Get("X-Coder-Request-Id"), 36)
				require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
				require.Equal(t, "512", h.Get("X-Ratelimit-Limit"))
				want.check(t, body)
			})
		}
	}
}

// keyPaths lists the recursive key structure of a JSON value: object keys
// as dotted paths, array elements as "[]".
func keyPaths(v any, prefix string, out map[string]bool) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			p := prefix + "." + k
			out[p] = true
			keyPaths(e, p, out)
		}
	case []any:
		for _, e := range x {
			keyPaths(e, prefix+"[]", out)
		}
	}
}

func paths(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	var v any
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	out := map[string]bool{}
	keyPaths(v, "", out)
	return out
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestBodiesMatchReferenceKeyStructure(t *testing.T) {
	t.Parallel()
	d, tokens := matrixDeployment(t)
	owner := d.withToken(tokens["owner"])

	for _, tc := range []struct {
		file, path string
		// omitted are reference keys gantry leaves out by design.
		omitted []string
	}{
		{"buildinfo.json", "/api/v2/buildinfo", []string{".webpush_public_key"}}, // no web push: omitempty
		{"deployment_ssh.json", "/api/v2/deployment/ssh", nil},
		{"deployment_stats.json", "/api/v2/deployment/stats", nil},
		{"experiments.json", "/api/v2/experiments", nil},
		{"experiments_available.json", "/api/v2/experiments/available", nil},
		{"updatecheck.json", "/api/v2/updatecheck", nil},
		{"users_me_keys_tokens_tokenconfig.json", "/api/v2/users/me/keys/tokens/tokenconfig", nil},
	} {
		t.Run(tc.file, func(t *testing.T) {
			t.Parallel()
			want := paths(t, referenceFile(t, tc.file))
			for _, k := range tc.omitted {
				require.True(t, want[k], "reference has %s", k)
				delete(want, k)
			}
			status, _, body := get(t, owner, http.MethodGet, tc.path, nil)
			require.Equal(t, http.StatusOK, status, "body: %s", body)
			require.Equal(t, sortedKeys(want), sortedKeys(paths(t, body)))
		})
	}

	// The API root and CSP reports were not captured; their shapes come from
	// the spec: {"message":"👋"} and the JSON string "ok".
	t.Run("deployment_config.json", func(t *testing.T) {
		t.Parallel()
		ref := referenceFile(t, "deployment_config.json")
		status, _, body := get(t, owner, http.MethodGet, "/api/v2/deployment/config", nil)
		require.Equal(t, http.StatusOK, status)

		type cfg struct {
			Config  json.RawMessage   `json:"config"`
			Options []json.RawMessage `json:"options"`
		}
		var refCfg, got cfg
		require.NoError(t, json.Unmarshal(ref, &refCfg))
		require.NoError(t, json.Unmarshal(body, &got))

		// config: gantry implements the 239 options of the seed; every key it
		// sends exists at the same place in the reference.
		refPaths, gotPaths := paths(t, refCfg.Config), paths(t, got.Config)
		for p := range gotPaths {
			require.True(t, refPaths[p], "config key %s is not in the reference", p)
		}
		// options: each option gantry shares with the reference has the same
		// recursive key structure, with two exceptions that are not about
		// shape: value_source depends on how each server was started, and
		// where v2.36.1 deprecates an option in favour of one only newer
		// releases have (hidden + use_instead), gantry keeps it current.
		type option struct {
			Name        string
			Annotations map[string]string
			UseInstead  []struct{ Name string } `json:"use_instead"`
		}
		gotNames := map[string]bool{}
		for _, raw := range got.Options {
			var o option
			require.NoError(t, json.Unmarshal(raw, &o))
			gotNames[o.Name] = true
		}
		dropDeprecation := func(p map[string]bool) {
			for k := range p {
				if k == ".hidden" || strings.HasPrefix(k, ".use_instead") {
					delete(p, k)
				}
			}
		}
		refOpts := map[string]map[string]bool{}
		newerOnly := map[string]bool{}
		for _, raw := range refCfg.Options {
			var o option
			require.NoError(t, json.Unmarshal(raw, &o))
			p := paths(t, raw)
			delete(p, ".value_source")
			for _, u := range o.UseInstead {
				if !gotNames[u.Name] {
					newerOnly[o.Name] = true
					dropDeprecation(p)
				}
			}
			refOpts[o.Name] = p
		}
		shared := 0
		for _, raw := range got.Options {
			var o option
			require.NoError(t, json.Unmarshal(raw, &o))
			want, ok := refOpts[o.Name]
			if !ok {
				require.Equal(t, "true", o.Annotations["gantry"], "option %q is neither Coder's nor a gantry extension", o.Name)
				continue
			}
			shared++
			p := paths(t, raw)
			delete(p, ".value_source")
			if newerOnly[o.Name] {
				dropDeprecation(p)
			}
			assert.Equal(t, sortedKeys(want), sortedKeys(p), "option %q", o.Name)
		}
		require.GreaterOrEqual(t, shared, 200, "options shared with the reference")
	})
}

func TestUpdateCheckEndpoint(t *testing.T) {
	t.Parallel()
	feed := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "application/json")
		_, _ = rw.Write([]byte(`{"tag_name":"v99.999.999","html_url":"https://someurl.com"}`))
	}))
	t.Cleanup(feed.Close)
	d := deploy(t, withFlags("update-check", "true", "update-check-url", feed.URL+"/releases/latest"))
	u, err := d.client.UpdateCheck(t.Context())
	require.NoError(t, err)
	require.Equal(t, sdk.UpdateCheckResponse{Current: false, Version: "v99.999.999", URL: "https://someurl.com"}, u)

	// A feed that never answered successfully: gantry's own version, current.
	down := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) {
		rw.WriteHeader(http.StatusBadGateway)
	}))
	t.Cleanup(down.Close)
	d2 := deploy(t, withFlags("update-check", "true", "update-check-url", down.URL))
	u, err = d2.client.UpdateCheck(t.Context())
	require.NoError(t, err)
	require.True(t, u.Current)
	bi, err := d2.client.BuildInfo(t.Context())
	require.NoError(t, err)
	require.Equal(t, bi.Version, u.Version)
	require.Equal(t, bi.ExternalURL, u.URL)
}

func TestCSPReports(t *testing.T) {
	t.Parallel()
	d := deploy(t)
	status, _, body := get(t, d.client, http.MethodPost, "/api/v2/csp/reports",
		map[string]any{"csp-report": map[string]any{"padding": strings.Repeat("a", 128<<10)}})
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	r := decode[sdk.Response](t, body)
	require.Equal(t, "Request body too large.", r.Message)
	require.Equal(t, "Maximum CSP report size is 65536 bytes.", r.Detail)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, d.url.String()+"/api/v2/csp/reports", strings.NewReader("{not json"))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusBadRequest, resp.StatusCode)
	require.Equal(t, "Failed to read body, invalid json.", decode[sdk.Response](t, b).Message)

	require.NoError(t, d.client.ReportCSPViolation(t.Context(), sdk.CSPViolation{Report: map[string]any{"document-uri": "http://x"}}))
}

func TestConfiguredGeneralValues(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags(
		"experiments", "*,FOO,bar",
		"workspace-hostname-suffix", "gantry",
		"ssh-config-options", "ForwardAgent=yes,ServerAliveInterval 30",
		"cli-upgrade-message", "run the installer",
		"oidc-client-secret", "oidc-s3cret-value",
		"postgres-url", "postgres://gantry:pg-s3cret-value@127.0.0.1:1/gantry",
	))
	owner := d.withToken("")
	apitest.CreateFirstUser(t, owner)

	exps, err := owner.Experiments(t.Context())
	require.NoError(t, err)
	require.Equal(t, []string{"minimum-implicit-member", "foo", "bar"}, exps)

	ssh, err := owner.SSHConfiguration(t.Context())
	require.NoError(t, err)
	require.Equal(t, "gantry", ssh.HostnameSuffix)
	require.Equal(t, map[string]string{"ForwardAgent": "yes", "ServerAliveInterval": "30"}, ssh.SSHConfigOptions)

	bi, err := owner.BuildInfo(t.Context())
	require.NoError(t, err)
	require.Equal(t, "run the installer", bi.UpgradeMessage)

	status, _, body := get(t, owner, http.MethodGet, "/api/v2/deployment/config", nil)
	require.Equal(t, http.StatusOK, status)
	require.NotContains(t, string(body), "s3cret-value", "secrets never leave the server")
	cfg, err := owner.DeploymentConfig(t.Context())
	require.NoError(t, err)
	require.Equal(t, "", cfg.Values["oidc"].(map[string]any)["client_secret"])
	require.NotContains(t, cfg.Values, "pg_connection_url")
	for _, o := range cfg.Options {
		if o.Name == "Postgres Connection URL" {
			require.Nil(t, o.Value, "secret options carry no value")
		}
	}
}

func TestUnknownRoutesCarryCoderHeaders(t *testing.T) {
	t.Parallel()
	d := deploy(t)
	for _, tc := range []struct{ method, path string }{
		{http.MethodGet, "/api/v2/nope"},
		{http.MethodDelete, "/api/v2/buildinfo"},
		{http.MethodGet, "/no/such/page"},
		{http.MethodGet, "/api/v2/users/first"}, // 404 before the first user exists
	} {
		status, h, body := get(t, d.client, tc.method, tc.path, nil)
		require.Equal(t, http.StatusNotFound, status, "%s %s", tc.method, tc.path)
		require.Equal(t, "application/json; charset=utf-8", h.Get("Content-Type"))
		require.NotEmpty(t, h.Get("X-Coder-Build-Version"), "Coder clients need the version header on 404s")
		require.NotEmpty(t, h.Get("X-Coder-Request-Id"))
		require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"))
		require.NotEmpty(t, decode[sdk.Response](t, body).Message)
	}
	has, err := d.client.HasFirstUser(t.Context())
	require.NoError(t, err)
	require.False(t, has)
}

// TestHeadersMatchReference compares the response header set of each
// endpoint with the captured v2.36.1 response: the same header names, the
// same Vary values and the same csrf_token cookie attributes.
func TestHeadersMatchReference(t *testing.T) {
	t.Parallel()
	d, tokens := matrixDeployment(t)
	owner := d.withToken(tokens["owner"])
	for file, path := range map[string]string{
		"buildinfo.headers":                        "/api/v2/buildinfo",
		"deployment_config.headers":                "/api/v2/deployment/config",
		"deployment_ssh.headers":                   "/api/v2/deployment/ssh",
		"deployment_stats.headers":                 "/api/v2/deployment/stats",
		"experiments.headers":                      "/api/v2/experiments",
		"experiments_available.headers":            "/api/v2/experiments/available",
		"updatecheck.headers":                      "/api/v2/updatecheck",
		"users_me_keys_tokens_tokenconfig.headers": "/api/v2/users/me/keys/tokens/tokenconfig",
	} {
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			raw := referenceFile(t, file)
			want := http.Header{}
			for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\r\n")[1:] {
				k, v, ok := strings.Cut(line, ": ")
				require.True(t, ok, "header line %q", line)
				want.Add(k, v)
			}
			status, got, _ := get(t, owner, http.MethodGet, path, nil)
			require.Equal(t, http.StatusOK, status)

			names := func(h http.Header) []string {
				var out []string
				for k := range h {
					// Framing headers depend on the body size.
					if k != "Content-Length" && k != "Transfer-Encoding" {
						out = append(out, k)
					}
				}
				slices.Sort(out)
				return out
			}
			require.Equal(t, names(want), names(got))
			require.Equal(t, want.Values("Vary"), got.Values("Vary"))
			require.Equal(t, want.Get("X-Content-Type-Options"), got.Get("X-Content-Type-Options"))
			require.Equal(t, want.Get("Content-Type"), got.Get("Content-Type"))
			cookieAttrs := func(v string) string {
				_, attrs, _ := strings.Cut(v, ";")
				return attrs
			}
			require.Equal(t, cookieAttrs(want.Get("Set-Cookie")), cookieAttrs(got.Get("Set-Cookie")))
			require.True(t, strings.HasPrefix(got.Get("Set-Cookie"), "csrf_token="))
		})
	}
}
