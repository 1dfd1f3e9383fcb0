package app_test

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/app"
	"gantry/internal/store/dbtest"
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
