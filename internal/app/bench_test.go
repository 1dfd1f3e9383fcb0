package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store/dbtest"
	"gantry/internal/userpassword"
	"gantry/sdk"
)

// BenchmarkBuildInfo measures the full middleware stack and handler of
// GET /api/v2/buildinfo in process (no network), with the access log
// written by a text handler to io.Discard and rate limits off, as in the
// General API benchmark.
func BenchmarkBuildInfo(b *testing.B) {
	for _, path := range []string{"/api/v2/buildinfo", "/healthz"} {
		b.Run(path, func(b *testing.B) {
			loaded, err := loadValuesTB(b)
			require.NoError(b, err)
			srv, err := app.New(context.Background(), app.Config{
				Values: loaded.Values, Options: loaded.Options, Store: dbtest.New(b),
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
			})
			require.NoError(b, err)
			b.Cleanup(func() { _ = srv.Close() })
			h := srv.Handler()
			req := httptest.NewRequestWithContext(b.Context(), http.MethodGet, path, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d", rec.Code)
				}
			}
		})
	}
}

// BenchmarkUsersMe measures the authenticated GET /api/v2/users/me through
// the whole stack (token validation, rate limiter on, access log, metrics,
// the user lookup and JSON), in process and over a real loopback server
// with parallel keep-alive clients (as the General API benchmark at c16).
func BenchmarkUsersMe(b *testing.B) {
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{
		{Name: "http-address", Value: "127.0.0.1:0"},
		{Name: "cache-dir", Value: b.TempDir()},
		// A limit no benchmark reaches: the limiter runs, never refuses.
		{Name: "api-rate-limit", Value: "1000000000"},
	}})
	require.NoError(b, err)
	srv, err := app.New(context.Background(), app.Config{
		Values: loaded.Values, Options: loaded.Options, Store: dbtest.New(b),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		ConfigureAPI: func(ao *api.Options) {
			ao.Identity.PasswordParams = userpassword.Params{Memory: 64, Time: 1, Threads: 1}
		},
	})
	require.NoError(b, err)
	b.Cleanup(func() { _ = srv.Close() })
	ts := httptest.NewServer(srv.Handler())
	b.Cleanup(ts.Close)
	u, err := url.Parse(ts.URL)
	require.NoError(b, err)
	owner := apitest.CreateFirstUser(b, sdk.New(u))
	h := srv.Handler()

	b.Run("inproc", func(b *testing.B) {
		req := httptest.NewRequestWithContext(b.Context(), http.MethodGet, "/api/v2/users/me", nil)
		req.Header.Set("Coder-Session-Token", owner.SessionToken)
		b.ReportAllocs()
		for b.Loop() {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
	b.Run("loopback", func(b *testing.B) {
		client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 10 * time.Second}
		b.Cleanup(client.CloseIdleConnections)
		b.ReportAllocs()
		b.SetParallelism(8) // 16 clients on 2 cores
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, ts.URL+"/api/v2/users/me", nil)
				if err != nil {
					b.Error(err)
					return
				}
				req.Header.Set("Coder-Session-Token", owner.SessionToken)
				resp, err := client.Do(req)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
			}
		})
	})
}
