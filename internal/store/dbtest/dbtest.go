// Package dbtest gives tests a fresh, isolated store.Store on a real database:
// a temporary SQLite file by default or, when GANTRY_TEST_POSTGRES_URL is set,
// a private PostgreSQL schema that is dropped when the test ends.
//
// With the variable set, any failure to reach PostgreSQL fails the test: a
// CI run that was meant to cover PostgreSQL must not quietly pass on SQLite.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver

	"gantry/internal/store"
	"gantry/internal/store/postgres"
	"gantry/internal/store/sqlite"
)

// EnvPostgresURL names the variable that switches tests to PostgreSQL.
const EnvPostgresURL = "GANTRY_TEST_POSTGRES_URL"

// SchemaPrefix starts the name of every schema PostgresURL creates.
const SchemaPrefix = "gantry_test_"

// WillUsePostgres reports whether New returns PostgreSQL stores.
func WillUsePostgres() bool { return os.Getenv(EnvPostgresURL) != "" }

// New returns a migrated store private to this test, closed at cleanup.
func New(t testing.TB) store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var (
		s   store.Store
		err error
	)
	if WillUsePostgres() {
		// Small pools: packages run in parallel and each test has its own.
		s, err = postgres.Open(ctx, PostgresURL(t), postgres.Options{MaxOpenConns: 4, MaxIdleConns: 1})
	} else {
		s, err = openSQLite(ctx, SQLitePath(t))
	}
	if err != nil {
		t.Fatalf("dbtest: open store: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// openSQLite writes a copy of a migrated database image to path and opens
// it: copying ~100 KiB is an order of magnitude faster than running the
// migrations again for every test.
func openSQLite(ctx context.Context, path string) (store.Store, error) {
	img, err := sqliteImage()
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, img, 0o600); err != nil {
		return nil, err
	}
	return sqlite.Open(ctx, path)
}

var sqliteTemplate struct {
	once sync.Once
	img  []byte
	err  error
}

// sqliteImage migrates one database per test binary and keeps its bytes.
// Closing the store checkpoints the WAL, so the main file is complete.
func sqliteImage() ([]byte, error) {
	t := &sqliteTemplate
	t.once.Do(func() {
		dir, err := os.MkdirTemp("", "gantry-dbtest-")
		if err != nil {
			t.err = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "template.db")
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		s, err := sqlite.Open(ctx, path)
		if err != nil {
			t.err = fmt.Errorf("migrate template: %w", err)
			return
		}
		if err := s.Close(); err != nil {
			t.err = fmt.Errorf("close template: %w", err)
			return
		}
		t.img, t.err = os.ReadFile(path)
	})
	return t.img, t.err
}

// SQLitePath returns a database file path in a directory removed after the
// test, for tests that start a whole gantry process on SQLite.
func SQLitePath(t testing.TB) string {
	t.Helper()
	return filepath.Join(t.TempDir(), "gantry.db")
}

// PostgresURL creates an empty schema and returns GANTRY_TEST_POSTGRES_URL
// with search_path pointing at it, for tests that start whole gantry
// processes. The schema and everything in it is dropped at cleanup, after the
// cleanups the caller registers later (such as closing a store opened on it).
// It skips the test when the variable is unset.
func PostgresURL(t testing.TB) string {
	t.Helper()
	base := os.Getenv(EnvPostgresURL)
	if base == "" {
		t.Skipf("%s is not set", EnvPostgresURL)
	}
	admin, err := adminDB(base)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	schema := SchemaPrefix + hex.EncodeToString(b[:])

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("dbtest: create schema (is PostgreSQL at %s reachable?): %v", EnvPostgresURL, err)
	}
	// Registered before the caller opens anything, so it runs after the
	// caller's own cleanups (t.Cleanup is last-in, first-out).
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, `DROP SCHEMA IF EXISTS `+schema+` CASCADE`); err != nil {
			t.Errorf("dbtest: drop schema %s: %v", schema, err)
		}
	})
	u, err := withSearchPath(base, schema)
	if err != nil {
		t.Fatalf("dbtest: %v", err)
	}
	return u
}

// withSearchPath adds search_path to a URL or key=value connection string.
func withSearchPath(base, schema string) (string, error) {
	if !strings.HasPrefix(base, "postgres://") && !strings.HasPrefix(base, "postgresql://") {
		return base + " search_path=" + schema, nil
	}
	u, err := url.Parse(base)
	if err != nil {
		return "", fmt.Errorf("parse %s: %w", EnvPostgresURL, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String(), nil
}

var (
	adminMu  sync.Mutex
	adminDBs = map[string]*sql.DB{}
)

// adminDB is one small pool per base URL shared by all tests of a package
// for creating and dropping schemas. It lives until the test binary exits.
func adminDB(base string) (*sql.DB, error) {
	adminMu.Lock()
	defer adminMu.Unlock()
	if db, ok := adminDBs[base]; ok {
		return db, nil
	}
	db, err := sql.Open("pgx", base)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", EnvPostgresURL, err)
	}
	db.SetMaxOpenConns(2)
	db.SetMaxIdleConns(2)
	adminDBs[base] = db
	return db, nil
}
