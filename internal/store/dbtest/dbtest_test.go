package dbtest_test

import (
	"database/sql"
	"net/url"
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/store/postgres"
)

func TestNewIsIsolated(t *testing.T) {
	t.Parallel()
	a, b := dbtest.New(t), dbtest.New(t)
	want := "sqlite"
	if dbtest.WillUsePostgres() {
		want = "postgres"
	}
	require.Equal(t, want, a.Backend())
	_, err := a.InsertUser(t.Context(), store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(t, err)
	n, err := b.CountUsers(t.Context())
	require.NoError(t, err)
	require.Zero(t, n, "stores do not share data")
	_, err = b.InsertUser(t.Context(), store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(t, err)
}

func TestPostgresURLDropsSchema(t *testing.T) {
	t.Parallel()
	if !dbtest.WillUsePostgres() {
		t.Skipf("%s is not set", dbtest.EnvPostgresURL)
	}
	var schema string
	t.Run("user", func(t *testing.T) {
		u := dbtest.PostgresURL(t)
		parsed, err := url.Parse(u)
		require.NoError(t, err)
		schema = parsed.Query().Get("search_path")
		require.Regexp(t, "^"+dbtest.SchemaPrefix+"[0-9a-f]{16}$", schema)
		s, err := postgres.Open(t.Context(), u, postgres.Options{MaxOpenConns: 2})
		require.NoError(t, err)
		t.Cleanup(func() { _ = s.Close() })
		_, err = s.InsertUser(t.Context(), store.User{Username: "alice", Email: "a@example.com"})
		require.NoError(t, err)
	})
	db, err := sql.Open("pgx", os.Getenv(dbtest.EnvPostgresURL))
	require.NoError(t, err)
	defer db.Close()
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, schema).Scan(&n))
	require.Zero(t, n, "the schema is dropped after the test")
}
