package app_test

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/sdk"
)

// testCA is a throw-away certificate authority for TLS tests.
type testCA struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pool *x509.CertPool
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "gantry test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(der)
	require.NoError(t, err)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, pool: pool}
}

// issue writes a certificate and key signed by the CA to dir and returns
// their paths.
func (ca *testCA) issue(t *testing.T, dir, name string, usage x509.ExtKeyUsage) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	require.NoError(t, err)
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	require.NoError(t, err)
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	require.NoError(t, err)
	keyDER, err := x509.MarshalECPrivateKey(key)
	require.NoError(t, err)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	require.NoError(t, os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600))
	require.NoError(t, os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600))
	return certFile, keyFile
}

func (ca *testCA) caFile(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "ca.crt")
	require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.cert.Raw}), 0o600))
	return p
}

func noRedirect(_ *http.Request, _ []*http.Request) error { return http.ErrUseLastResponse }

func TestTLSListener(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	cert, key := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	d := deploy(t, withFlags(
		"tls-enable", "true", "tls-address", "127.0.0.1:0",
		"tls-cert-file", cert, "tls-key-file", key, "tls-min-version", "tls13",
	))
	require.Equal(t, "https", d.url.Scheme, "the access URL prefers the TLS listener")

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
	}}
	resp, err := httpGet(t, client, d.url.String()+"/api/v2/buildinfo")
	require.NoError(t, err)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, uint16(tls.VersionTLS13), resp.TLS.Version)

	// Below the minimum version the handshake fails.
	old := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, MaxVersion: tls.VersionTLS12},
	}}
	_, err = httpGet(t, old, d.url.String()+"/api/v2/buildinfo")
	require.Error(t, err)

	// Plain HTTP redirects to the HTTPS access URL.
	plain := &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	resp, err = httpGet(t, plain, "http://"+d.srv.Addr("http")+"/api/v2/buildinfo?x=1")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, d.url.String()+"/api/v2/buildinfo?x=1", resp.Header.Get("Location"))
	require.NotEmpty(t, resp.Header.Get("X-Coder-Build-Version"))
}

func TestTLSClientAuth(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	dir := t.TempDir()
	cert, key := ca.issue(t, dir, "server", x509.ExtKeyUsageServerAuth)
	clientCert, clientKey := ca.issue(t, dir, "client", x509.ExtKeyUsageClientAuth)
	d := deploy(t, withFlags(
		"http-address", "", "tls-enable", "true", "tls-address", "127.0.0.1:0",
		"tls-cert-file", cert, "tls-key-file", key,
		"tls-client-auth", "require-and-verify", "tls-client-ca-file", ca.caFile(t, dir),
	))
	require.Empty(t, d.srv.Addr("http"))

	anonymous := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool},
	}}
	_, err := httpGet(t, anonymous, d.url.String()+"/healthz")
	require.Error(t, err, "a client without a certificate is refused")

	pair, err := tls.LoadX509KeyPair(clientCert, clientKey)
	require.NoError(t, err)
	withCert := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.pool, Certificates: []tls.Certificate{pair}},
	}}
	resp, err := httpGet(t, withCert, d.url.String()+"/healthz")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "OK", string(body))
}

func TestHSTS(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags("strict-transport-security", "3600", "strict-transport-security-options", "includeSubDomains,preload"))
	_, h, _ := get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Equal(t, "max-age=3600; includeSubDomains; preload", h.Get("Strict-Transport-Security"))

	off := deploy(t)
	_, h, _ = get(t, off.client, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Empty(t, h.Get("Strict-Transport-Security"))
}

func TestCORS(t *testing.T) {
	t.Parallel()
	preflight := func(t *testing.T, d *deployment) *http.Response {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodOptions, d.url.String()+"/api/v2/users/me", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://elsewhere.example")
		req.Header.Set("Access-Control-Request-Method", "GET")
		req.Header.Set("Access-Control-Request-Headers", "Coder-Session-Token")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	t.Run("Default", func(t *testing.T) {
		t.Parallel()
		d := deploy(t)
		resp := preflight(t, d)
		require.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
		_, h, _ := get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
		require.Contains(t, h.Values("Vary"), "Origin")
	})
	t.Run("AllowAll", func(t *testing.T) {
		t.Parallel()
		d := deploy(t, withFlags("dangerous-allow-cors-requests", "true"))
		resp := preflight(t, d)
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.Equal(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
		require.Equal(t, "GET", resp.Header.Get("Access-Control-Allow-Methods"))
		require.Equal(t, "Coder-Session-Token", resp.Header.Get("Access-Control-Allow-Headers"))

		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, d.url.String()+"/api/v2/buildinfo", nil)
		require.NoError(t, err)
		req.Header.Set("Origin", "https://elsewhere.example")
		r2, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		r2.Body.Close()
		require.Equal(t, "*", r2.Header.Get("Access-Control-Allow-Origin"))
		require.Contains(t, r2.Header.Get("Access-Control-Expose-Headers"), "X-Coder-Build-Version")
	})
}

func TestCSPHeader(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags(
		"additional-csp-policy", "media-src media.com media2.com",
		"additional-csp-policy", "script-src https://cdn.example.com",
		"additional-csp-policy", "broken",
	))
	status, h, body := get(t, d.client, http.MethodGet, "/", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), "<title>gantry</title>")
	require.Equal(t, "text/html; charset=utf-8", h.Get("Content-Type"))
	csp := h.Get("Content-Security-Policy")
	host := d.url.Host
	for _, want := range []string{
		"default-src 'self';",
		"media-src 'self' media.com media2.com;",
		"script-src 'self' https://cdn.example.com;",
		"connect-src 'self' wss://" + host + " ws://" + host + ";",
		"frame-ancestors 'none'",
		"report-uri /api/v2/csp/reports;",
	} {
		require.Contains(t, csp, want)
	}
	require.NotContains(t, csp, "broken")
	require.Contains(t, d.logs.String(), "broken", "the malformed entry is logged")

	_, h, _ = get(t, d.client, http.MethodGet, "/cli-auth", nil)
	require.NotEmpty(t, h.Get("Content-Security-Policy"))
	// JSON API responses carry no CSP (as in Coder).
	_, h, _ = get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Empty(t, h.Get("Content-Security-Policy"))
}

func scrape(t *testing.T, addr string) string {
	t.Helper()
	resp, err := httpGet(t, http.DefaultClient, "http://"+addr+"/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func TestPrometheusListener(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags("prometheus-enable", "true", "prometheus-address", "127.0.0.1:0"))
	addr := d.srv.Addr("prometheus")
	require.NotEmpty(t, addr)
	get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
	get(t, d.client, http.MethodGet, "/api/v2/users/00000000-0000-0000-0000-000000000000", nil)
	get(t, d.client, http.MethodGet, "/no/such/page", nil)

	body := scrape(t, addr)
	for _, want := range []string{
		`coderd_api_requests_processed_total{code="200",method="GET",path="/api/v2/buildinfo"} 1`,
		// Route patterns, not raw paths, label the metrics.
		`path="/api/v2/users/{user}"`,
		`path="unknown"`,
		`coderd_api_request_latencies_seconds_bucket{method="GET",path="/api/v2/buildinfo"`,
		"coderd_api_concurrent_requests",
		"go_goroutines",
		"process_", // process collector
		`go_sql_open_connections{db_name="sqlite_writer"}`,
	} {
		if strings.HasPrefix(want, "go_sql") && !strings.Contains(body, "sqlite_writer") && strings.Contains(body, "go_sql_") {
			continue // PostgreSQL run: a single pool with another name
		}
		require.Contains(t, body, want)
	}
	require.NotContains(t, body, "00000000-0000-0000-0000-000000000000")

	// Disabled by default.
	require.Empty(t, deploy(t).srv.Addr("prometheus"))
}

func TestPprofListener(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags("pprof-enable", "true", "pprof-address", "127.0.0.1:0"))
	addr := d.srv.Addr("pprof")
	require.NotEmpty(t, addr)
	resp, err := httpGet(t, http.DefaultClient, "http://"+addr+"/debug/pprof/")
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(b), "goroutine")

	resp, err = httpGet(t, http.DefaultClient, "http://"+addr+"/debug/pprof/goroutine?debug=1")
	require.NoError(t, err)
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Contains(t, string(b), "goroutine profile")
	// Not on the API listener.
	status, _, _ := get(t, d.client, http.MethodGet, "/debug/pprof/", nil)
	require.Equal(t, http.StatusNotFound, status)
}

// fakeGateway stands in for the AI Bridge gateway mount.
type fakeGateway struct {
	hits    atomic.Int64
	started chan struct{}
	release chan struct{}
}

func (g *fakeGateway) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	g.hits.Add(1)
	if g.started != nil {
		g.started <- struct{}{}
		<-g.release
	}
	rw.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(rw, "gateway:"+r.URL.Path)
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	gw := &fakeGateway{}
	d := deploy(t, withFlags("api-rate-limit", "3"), withAPI(func(o *api.Options) { o.AIBridge.Gateway = gw }))
	owner := d.withToken("")
	apitest.CreateFirstUser(t, owner)
	member, _ := apitest.CreateUser(t, owner, "member")

	anon := d.withToken("")
	for i := 2; i >= 0; i-- {
		status, h, _ := get(t, anon, http.MethodGet, "/api/v2/buildinfo", nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "3", h.Get("X-Ratelimit-Limit"))
		require.Equal(t, itoa(i), h.Get("X-Ratelimit-Remaining"))
		reset := h.Get("X-Ratelimit-Reset")
		require.NotEmpty(t, reset)
	}
	status, h, body := get(t, anon, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Equal(t, http.StatusTooManyRequests, status)
	require.Equal(t, "You've been rate limited for sending more than 3 requests in 1m0s.", decode[sdk.Response](t, body).Message)
	require.Equal(t, "0", h.Get("X-Ratelimit-Remaining"))
	require.NotEmpty(t, h.Get("Retry-After"))

	// Per endpoint: another path has its own budget.
	status, _, _ = get(t, anon, http.MethodGet, "/api/v2/updatecheck", nil)
	require.Equal(t, http.StatusOK, status)
	// Per caller: a signed-in user is keyed by user id, not by address.
	status, h, _ = get(t, member, http.MethodGet, "/api/v2/buildinfo", nil)
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "2", h.Get("X-Ratelimit-Remaining"))

	// The owner bypass header works for owners only.
	for range 5 {
		req := ownerBypass(t, d, owner.SessionToken)
		require.Equal(t, http.StatusOK, req)
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, d.url.String()+"/api/v2/buildinfo", nil)
	require.NoError(t, err)
	req.Header.Set("Coder-Session-Token", member.SessionToken)
	req.Header.Set("X-Coder-Bypass-Ratelimit", "true")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusPreconditionRequired, resp.StatusCode)
	require.Contains(t, decode[sdk.Response](t, b).Message, "X-Coder-Bypass-Ratelimit")

	// The gateway mount is outside the API limiter.
	for range 6 {
		status, h, body := get(t, anon, http.MethodPost, "/api/v2/aibridge/openai/v1/chat/completions", nil)
		require.Equal(t, http.StatusOK, status)
		require.Equal(t, "gateway:/api/v2/aibridge/openai/v1/chat/completions", string(body))
		require.Empty(t, h.Get("X-Ratelimit-Limit"))
		require.Empty(t, h.Values("Set-Cookie"), "no CSRF cookie on gateway responses")
		require.NotEmpty(t, h.Get("X-Coder-Request-Id"))
	}
	require.EqualValues(t, 6, gw.hits.Load())
}

func ownerBypass(t *testing.T, d *deployment, token string) int {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, d.url.String()+"/api/v2/buildinfo", nil)
	require.NoError(t, err)
	req.Header.Set("Coder-Session-Token", token)
	req.Header.Set("X-Coder-Bypass-Ratelimit", "true")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Empty(t, resp.Header.Get("X-Ratelimit-Limit"))
	return resp.StatusCode
}

func itoa(i int) string { return string(rune('0' + i)) }

func TestRateLimitsDisabled(t *testing.T) {
	t.Parallel()
	for _, flags := range [][]string{
		{"api-rate-limit", "1", "dangerous-disable-rate-limits", "true"},
		{"api-rate-limit", "-1"},
	} {
		d := deploy(t, withFlags(flags...))
		for range 4 {
			status, h, _ := get(t, d.client, http.MethodGet, "/api/v2/buildinfo", nil)
			require.Equal(t, http.StatusOK, status, "%v", flags)
			require.Empty(t, h.Get("X-Ratelimit-Limit"))
		}
	}
}

func TestSwagger(t *testing.T) {
	t.Parallel()
	off := deploy(t)
	for _, p := range []string{"/swagger", "/swagger/index.html", "/swagger/doc.json"} {
		status, _, body := get(t, off.client, http.MethodGet, p, nil)
		require.Equal(t, http.StatusNotFound, status)
		require.Equal(t, "Swagger documentation is disabled.", decode[sdk.Response](t, body).Message)
	}

	on := deploy(t, withFlags("swagger-enable", "true"))
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	resp, err := httpGet(t, c, on.url.String()+"/swagger")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Equal(t, "/swagger/index.html", resp.Header.Get("Location"))

	status, h, body := get(t, on.client, http.MethodGet, "/swagger/index.html", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), "/assets/swagger.js")
	require.NotEmpty(t, h.Get("Content-Security-Policy"))
	status, _, body = get(t, on.client, http.MethodGet, "/assets/swagger.js", nil)
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, string(body), "doc.json")

	status, _, body = get(t, on.client, http.MethodGet, "/swagger/doc.json", nil)
	require.Equal(t, http.StatusOK, status)
	var doc struct {
		OpenAPI string                    `json:"openapi"`
		Paths   map[string]map[string]any `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))
	require.Equal(t, "3.0.3", doc.OpenAPI)
	for _, p := range []string{"/buildinfo", "/deployment/config", "/users/{user}/keys/tokens/tokenconfig", "/csp/reports"} {
		require.Contains(t, doc.Paths, p)
	}
}

func TestRedirectToAccessURL(t *testing.T) {
	t.Parallel()
	d := deploy(t, withFlags("access-url", "https://gantry.example.com", "redirect-to-access-url", "true"))
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: noRedirect}
	base := "http://" + d.srv.Addr("http")
	resp, err := httpGet(t, c, base+"/api/v2/buildinfo?a=b")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, "https://gantry.example.com/api/v2/buildinfo?a=b", resp.Header.Get("Location"))

	resp, err = httpGet(t, c, base+"/healthz")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "health checks are not redirected")

	// A request already addressed to the access URL's host is served.
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+"/api/v2/buildinfo", nil)
	require.NoError(t, err)
	req.Host = "gantry.example.com"
	resp, err = c.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestGracefulShutdownDrainsInFlight(t *testing.T) {
	t.Parallel()
	gw := &fakeGateway{started: make(chan struct{}, 1), release: make(chan struct{})}
	d := deploy(t, withAPI(func(o *api.Options) { o.AIBridge.Gateway = gw }))
	addr := d.srv.Addr("http")

	type result struct {
		status int
		body   string
		err    error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := httpPost(t, "http://"+addr+"/api/v2/aibridge/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		res <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	select {
	case <-gw.started:
	case <-time.After(10 * time.Second):
		t.Fatal("request did not reach the handler")
	}

	d.cancel() // SIGINT/SIGTERM in production: Serve starts draining
	// New connections are refused while the in-flight request finishes.
	require.Eventually(t, func() bool {
		dialer := &net.Dialer{Timeout: 200 * time.Millisecond}
		conn, err := dialer.DialContext(t.Context(), "tcp", addr)
		if err != nil {
			return true
		}
		conn.Close()
		return false
	}, 10*time.Second, 20*time.Millisecond)
	select {
	case err := <-d.done:
		t.Fatalf("Serve returned (%v) before the in-flight request finished", err)
	default:
	}
	close(gw.release)
	r := <-res
	require.NoError(t, r.err)
	require.Equal(t, http.StatusOK, r.status)
	require.Equal(t, "gateway:/api/v2/aibridge/slow", r.body)
	select {
	case err := <-d.done:
		require.NoError(t, err)
		d.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after draining")
	}
}

func TestShutdownGracePeriodIsBounded(t *testing.T) {
	t.Parallel()
	gw := &fakeGateway{started: make(chan struct{}, 1), release: make(chan struct{})}
	t.Cleanup(func() { close(gw.release) })
	d := deploy(t, withShutdownTimeout(300*time.Millisecond), withAPI(func(o *api.Options) { o.AIBridge.Gateway = gw }))

	errc := make(chan error, 1)
	go func() {
		resp, err := httpPost(t, d.url.String()+"/api/v2/aibridge/stuck")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		errc <- err
	}()
	<-gw.started
	start := time.Now()
	d.cancel()
	select {
	case err := <-d.done:
		require.NoError(t, err)
		d.done <- err
	case <-time.After(10 * time.Second):
		t.Fatal("shutdown was not bounded")
	}
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, <-errc, "the stuck request was cut off")
}

func TestLogSinks(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	jsonPath, sdPath, humanPath := filepath.Join(dir, "gantry.json"), filepath.Join(dir, "sd.json"), filepath.Join(dir, "human.log")
	d := deploy(t, withConfiguredLogger(), withFlags(
		"log-human", humanPath, "log-json", jsonPath, "log-stackdriver", sdPath,
		"log-filter", "CSP violation|http request",
	))
	owner := d.withToken("")
	first := apitest.CreateFirstUser(t, owner)
	_, h, _ := get(t, owner, http.MethodGet, "/api/v2/deployment/ssh", nil)
	reqID := h.Get("X-Coder-Request-Id")
	get(t, owner, http.MethodPost, "/api/v2/csp/reports", sdk.CSPViolation{Report: map[string]any{"blocked-uri": "https://evil.example"}})
	d.stop(t) // flush and close the files

	lines := readJSONLines(t, jsonPath)
	var access map[string]any
	for _, l := range lines {
		if l["msg"] == "http request" && l["request_id"] == reqID {
			access = l
		}
	}
	require.NotNil(t, access, "an access log line with the request id")
	require.Equal(t, "/api/v2/deployment/ssh", access["path"])
	require.EqualValues(t, 200, access["status"])
	require.Equal(t, first.UserID, access["user_id"])
	require.Equal(t, "admin", access["username"])
	require.Contains(t, access, "duration")

	var csp map[string]any
	for _, l := range lines {
		if l["msg"] == "CSP violation reported" {
			csp = l
		}
	}
	require.NotNil(t, csp, "debug lines matching --log-filter are written")
	require.Equal(t, "DEBUG", csp["level"])
	require.Equal(t, "https://evil.example", csp["blocked-uri"])

	sd := readJSONLines(t, sdPath)
	require.NotEmpty(t, sd)
	require.Contains(t, sd[0], "severity")
	require.Contains(t, sd[0], "message")
	require.Contains(t, sd[0], "timestamp")

	human, err := os.ReadFile(humanPath)
	require.NoError(t, err)
	require.Contains(t, string(human), "request_id="+reqID)
	require.NotContains(t, string(human), first.SessionToken[11:], "no token secrets in logs")
}

func TestLogFilterDropsOtherDebugLines(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.json")
	d := deploy(t, withConfiguredLogger(), withFlags("log-human", "", "log-json", path, "log-filter", "^nothing-matches$"))
	get(t, d.client, http.MethodPost, "/api/v2/csp/reports", sdk.CSPViolation{Report: map[string]any{"a": "b"}})
	d.stop(t)
	for _, l := range readJSONLines(t, path) {
		require.NotEqual(t, "DEBUG", l["level"], "%v", l)
	}
}

func readJSONLines(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "line %q", sc.Text())
		out = append(out, m)
	}
	require.NoError(t, sc.Err())
	return out
}
