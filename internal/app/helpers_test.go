package app_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/userpassword"
	"gantry/sdk"
)

// deployment is a gantry server built by app.New and served on loopback
// listeners, with a real store (SQLite, or PostgreSQL when
// GANTRY_TEST_POSTGRES_URL is set).
type deployment struct {
	srv    *app.Server
	store  store.Store
	client *sdk.Client // unauthenticated
	url    *url.URL
	logs   *apitest.LogBuffer
	done   chan error
	cancel context.CancelFunc
}

type deployOpts struct {
	flags     []config.FlagValue
	environ   []string
	configure func(*api.Options)
	shutdown  time.Duration
	// configLogger builds the logger from the logging flags instead of
	// capturing logs.
	configLogger  bool
	traceExporter sdktrace.SpanExporter
}

type deployOption func(*deployOpts)

// withFlags sets server flags ("name", "value" pairs).
func withFlags(kv ...string) deployOption {
	return func(o *deployOpts) {
		for i := 0; i+1 < len(kv); i += 2 {
			o.flags = append(o.flags, config.FlagValue{Name: kv[i], Value: kv[i+1]})
		}
	}
}

// withEnviron sets environment variables ("NAME=value") for the option
// parser, as the process environment would.
func withEnviron(env ...string) deployOption {
	return func(o *deployOpts) { o.environ = append(o.environ, env...) }
}

func withShutdownTimeout(d time.Duration) deployOption {
	return func(o *deployOpts) { o.shutdown = d }
}

// withTraceExporter sends the spans of --trace to exp.
func withTraceExporter(exp sdktrace.SpanExporter) deployOption {
	return func(o *deployOpts) { o.traceExporter = exp }
}

func withConfiguredLogger() deployOption {
	return func(o *deployOpts) { o.configLogger = true }
}

func withAPI(f func(*api.Options)) deployOption {
	return func(o *deployOpts) { o.configure = f }
}

// loadValues parses flags (and environ, if any) through the real option
// table (defaults applied).
func loadValues(t *testing.T, flags []config.FlagValue, environ ...string) *config.Loaded {
	t.Helper()
	base := []config.FlagValue{
		{Name: "http-address", Value: "127.0.0.1:0"},
		{Name: "cache-dir", Value: t.TempDir()},
	}
	loaded, err := config.Load(config.Inputs{Flags: append(base, flags...), Environ: environ})
	require.NoError(t, err)
	return loaded
}

// loadValuesTB is loadValues for benchmarks, with rate limits off.
func loadValuesTB(tb testing.TB) (*config.Loaded, error) {
	return config.Load(config.Inputs{Flags: []config.FlagValue{
		{Name: "http-address", Value: "127.0.0.1:0"},
		{Name: "cache-dir", Value: tb.TempDir()},
		{Name: "dangerous-disable-rate-limits", Value: "true"},
	}})
}

// deploy builds and serves a deployment until the test ends.
func deploy(t *testing.T, opts ...deployOption) *deployment {
	t.Helper()
	var o deployOpts
	for _, f := range opts {
		f(&o)
	}
	loaded := loadValues(t, o.flags, o.environ...)
	st := dbtest.New(t)
	logger, logs := apitest.NewCapturingLogger(io.Discard)
	if o.configLogger {
		logger = nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	srv, err := app.New(ctx, app.Config{
		Values:          loaded.Values,
		Options:         loaded.Options,
		Store:           st,
		Logger:          logger,
		ShutdownTimeout: o.shutdown,
		TraceExporter:   o.traceExporter,
		ConfigureAPI: func(ao *api.Options) {
			ao.Identity.PasswordParams = userpassword.Params{Memory: 64, Time: 1, Threads: 1}
			if o.configure != nil {
				o.configure(ao)
			}
		},
	})
	if err != nil {
		cancel()
		require.NoError(t, err)
	}
	d := &deployment{srv: srv, store: st, logs: logs, done: make(chan error, 1), cancel: cancel}
	go func() { d.done <- srv.Serve(ctx) }()
	t.Cleanup(func() { d.stop(t) })

	d.url = srv.AccessURL()
	d.client = sdk.New(d.url)
	d.client.HTTPClient = &http.Client{Timeout: 30 * time.Second}
	return d
}

// stop shuts the deployment down and waits for Serve to return.
func (d *deployment) stop(t *testing.T) {
	t.Helper()
	d.cancel()
	select {
	case err := <-d.done:
		require.NoError(t, err)
		d.done <- err // later calls see it too
	case <-time.After(30 * time.Second):
		t.Fatal("server did not shut down within 30s")
	}
}

// withToken is a client of d authenticating with token.
func (d *deployment) withToken(token string) *sdk.Client {
	c := sdk.New(d.url)
	c.HTTPClient = d.client.HTTPClient
	c.SessionToken = token
	return c
}

// get sends a request with the token in Coder-Session-Token and returns the
// status, headers and body.
func get(t *testing.T, c *sdk.Client, method, path string, body any) (int, http.Header, []byte) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	resp, err := c.Request(ctx, method, path, body)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header, b
}

// httpGet is c.Get bound to the test's context, for requests that go
// around the SDK (TLS clients, redirects, other listeners).
func httpGet(t *testing.T, c *http.Client, url string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	return c.Do(req)
}

// httpPost sends an empty JSON POST bound to the test's context. It reports
// every failure as an error (no require), so goroutines may call it.
func httpPost(t *testing.T, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return http.DefaultClient.Do(req)
}

func decode[T any](t *testing.T, b []byte) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(b, &v), "body: %s", b)
	return v
}

// referenceDir holds the captured Coder v2.36.1 responses the tests
// compare against (copies of ../shared/spec/reference-v2.36.1, kept in the
// repository so the comparisons never depend on a checkout layout;
// TestReferenceCopiesMatchSpec guards the copies). The 100 KB deployment
// config capture is not duplicated: referenceFile reads it from
// internal/config/testdata.
func referenceDir(t *testing.T) string {
	t.Helper()
	return filepath.Join("testdata", "reference-v2.36.1")
}

// referenceFile reads one captured response by its name in the spec.
func referenceFile(t *testing.T, name string) []byte {
	t.Helper()
	path := filepath.Join(referenceDir(t), name)
	if name == "deployment_config.json" {
		path = filepath.Join("..", "config", "testdata", "reference_deployment_config.json")
	}
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	return raw
}
