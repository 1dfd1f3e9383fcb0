package sqlite_test

import (
	"context"
	"database/sql"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/store"
	"gantry/internal/store/sqlite"
	"gantry/internal/store/storetest"
)

func open(t *testing.T, path string) *sqlite.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, filepath.Join(t.TempDir(), "gantry.db"))
	})
}

// rawDB opens the file without the store, to look at what the store did.
func rawDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func TestOpenCreatesDirectoryAndUsesWAL(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "nested", "dir with space", "gantry.db")
	s := open(t, path)
	require.Equal(t, "sqlite", s.Backend())
	require.NoError(t, s.Ping(t.Context()))

	var mode string
	require.NoError(t, rawDB(t, path).QueryRowContext(t.Context(), "PRAGMA journal_mode").Scan(&mode))
	require.Equal(t, "wal", mode)

	pools := s.Pools()
	require.Len(t, pools, 2)
	require.Equal(t, 1, pools[0].DB.Stats().MaxOpenConnections, "a single writer connection")
	require.Equal(t, "sqlite_writer", pools[0].Name)
}

func TestReopenKeepsDataAndSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.db")
	ctx := t.Context()
	s, err := sqlite.Open(ctx, path)
	require.NoError(t, err)
	u, err := s.InsertUser(ctx, store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(t, err)
	id, err := s.EnsureSiteConfig(ctx, "deployment_id", "d1")
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2 := open(t, path)
	got, err := s2.GetUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)
	id2, err := s2.EnsureSiteConfig(ctx, "deployment_id", "d2")
	require.NoError(t, err)
	require.Equal(t, id, id2, "the deployment ID is stable across restarts")

	var versions int
	require.NoError(t, rawDB(t, path).QueryRowContext(ctx, "SELECT count(*) FROM schema_migrations").Scan(&versions))
	require.Positive(t, versions)
}

func TestTwoStoresShareOneFile(t *testing.T) {
	t.Parallel()
	// Like two gantry processes on one file: both migrate, both write, each
	// sees the other's rows.
	path := filepath.Join(t.TempDir(), "gantry.db")
	ctx := t.Context()
	type res struct {
		s   *sqlite.Store
		err error
	}
	ch := make(chan res, 2)
	for range 2 {
		go func() {
			s, err := sqlite.Open(ctx, path)
			ch <- res{s, err}
		}()
	}
	var stores []*sqlite.Store
	for range 2 {
		r := <-ch
		require.NoError(t, r.err)
		t.Cleanup(func() { _ = r.s.Close() })
		stores = append(stores, r.s)
	}
	a, err := stores[0].InsertUser(ctx, store.User{Username: "a", Email: "a@example.com"})
	require.NoError(t, err)
	b, err := stores[1].InsertUser(ctx, store.User{Username: "b", Email: "b@example.com"})
	require.NoError(t, err)
	_, err = stores[1].GetUserByID(ctx, a.ID)
	require.NoError(t, err)
	_, err = stores[0].GetUserByID(ctx, b.ID)
	require.NoError(t, err)
	_, err = stores[1].InsertUser(ctx, store.User{Username: "A", Email: "x@example.com"})
	require.ErrorIs(t, err, store.ErrConflict)
}

func TestRefusesNewerSchema(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.db")
	s, err := sqlite.Open(t.Context(), path)
	require.NoError(t, err)
	require.NoError(t, s.Close())
	_, err = rawDB(t, path).ExecContext(t.Context(),
		"INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, 'future', 0)")
	require.NoError(t, err)
	_, err = sqlite.Open(t.Context(), path)
	require.ErrorContains(t, err, "newer than this binary")
}

func TestOpenErrors(t *testing.T) {
	t.Parallel()
	_, err := sqlite.Open(t.Context(), "")
	require.Error(t, err)
	// A directory where the file should be.
	_, err = sqlite.Open(t.Context(), t.TempDir())
	require.Error(t, err)
}
