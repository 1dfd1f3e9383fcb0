package postgres_test

import (
	"context"
	"database/sql"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/store/postgres"
	"gantry/internal/store/storetest"
)

// pgURL returns an isolated schema URL. It skips when GANTRY_TEST_POSTGRES_URL
// is unset (the SQLite pass of CI) and fails, never skips, when it is set but
// the server cannot be reached.
func pgURL(t *testing.T) string {
	t.Helper()
	return dbtest.PostgresURL(t)
}

func open(t *testing.T, url string, opts postgres.Options) *postgres.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	s, err := postgres.Open(ctx, url, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	t.Parallel()
	pgURL(t) // skip the whole suite early when unset
	storetest.Run(t, func(t *testing.T) store.Store {
		return open(t, pgURL(t), postgres.Options{MaxOpenConns: 4})
	})
}

func TestPoolOptions(t *testing.T) {
	t.Parallel()
	s := open(t, pgURL(t), postgres.Options{MaxOpenConns: 7})
	require.Equal(t, "postgres", s.Backend())
	pools := s.Pools()
	require.Len(t, pools, 1)
	require.Equal(t, 7, pools[0].DB.Stats().MaxOpenConnections)

	// Idle connections: "auto" keeps a third of the maximum, negative none.
	ctx := t.Context()
	busy := func(s *postgres.Store, n int) int {
		t.Helper()
		db := s.Pools()[0].DB
		var conns []*sql.Conn
		for range n {
			c, err := db.Conn(ctx)
			require.NoError(t, err)
			conns = append(conns, c)
		}
		for _, c := range conns {
			require.NoError(t, c.Close())
		}
		return db.Stats().Idle
	}
	require.Equal(t, 2, busy(s, 7), "auto = 7/3")
	none := open(t, pgURL(t), postgres.Options{MaxOpenConns: 3, MaxIdleConns: -1})
	require.Equal(t, 0, busy(none, 3))
}

// TestConcurrentMigration is two replicas starting at the same moment on one
// fresh schema: separate pools, both migrate, both work, each sees the
// other's writes.
func TestConcurrentMigration(t *testing.T) {
	t.Parallel()
	url := pgURL(t)
	ctx := t.Context()
	const replicas = 3
	stores := make([]*postgres.Store, replicas)
	errs := make(chan error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		go func() {
			<-start
			s, err := postgres.Open(ctx, url, postgres.Options{MaxOpenConns: 2})
			stores[i] = s
			errs <- err
		}()
	}
	close(start)
	for range replicas {
		require.NoError(t, <-errs)
	}
	for _, s := range stores {
		t.Cleanup(func() { _ = s.Close() })
	}

	// The first user is created once even when replicas race for it.
	firstErrs := make(chan error, replicas)
	for i, s := range stores {
		go func() {
			_, err := s.InsertFirstUser(ctx, store.User{
				Username: "admin" + strconv.Itoa(i), Email: "admin" + strconv.Itoa(i) + "@example.com",
			})
			firstErrs <- err
		}()
	}
	winners := 0
	for range replicas {
		if err := <-firstErrs; err == nil {
			winners++
		} else {
			require.ErrorIs(t, err, store.ErrConflict)
		}
	}
	require.Equal(t, 1, winners)

	var versions int
	db := stores[0].Pools()[0].DB
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(*) FROM schema_migrations`).Scan(&versions))
	var distinct int
	require.NoError(t, db.QueryRowContext(ctx, `SELECT count(DISTINCT version) FROM schema_migrations`).Scan(&distinct))
	require.Equal(t, distinct, versions, "each migration recorded once")

	a, err := stores[0].InsertUser(ctx, store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(t, err)
	k, err := stores[1].InsertAPIKey(ctx, store.APIKey{
		ID: "abcdefghij", HashedSecret: make([]byte, 32), UserID: a.ID,
		ExpiresAt: time.Now().Add(time.Hour), LoginType: store.LoginTypeToken, TokenName: "t",
	})
	require.NoError(t, err)
	got, err := stores[2].GetAPIKeyByID(ctx, k.ID)
	require.NoError(t, err)
	require.Equal(t, k, got)
	u, err := stores[1].GetUserByUsername(ctx, "ALICE")
	require.NoError(t, err)
	require.Equal(t, a, u)
	_, err = stores[2].InsertUser(ctx, store.User{Username: "Alice", Email: "b@example.com"})
	require.ErrorIs(t, err, store.ErrConflict)

	// The first user, the default organization and the deployment ID stay
	// single across replicas too.
	orgs := make([]store.Organization, replicas)
	ids := make([]string, replicas)
	for i, s := range stores {
		orgs[i], err = s.DefaultOrganization(ctx)
		require.NoError(t, err)
		ids[i], err = s.EnsureSiteConfig(ctx, "deployment_id", uuid.NewString())
		require.NoError(t, err)
	}
	for i := range replicas {
		require.Equal(t, orgs[0].ID, orgs[i].ID)
		require.Equal(t, ids[0], ids[i])
	}
}

func TestReopenAndNewerSchema(t *testing.T) {
	t.Parallel()
	url := pgURL(t)
	ctx := t.Context()
	s, err := postgres.Open(ctx, url, postgres.Options{})
	require.NoError(t, err)
	u, err := s.InsertUser(ctx, store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(t, err)
	require.NoError(t, s.Close())

	s2 := open(t, url, postgres.Options{})
	got, err := s2.GetUserByID(ctx, u.ID)
	require.NoError(t, err)
	require.Equal(t, u, got)

	db, err := sql.Open("pgx", url)
	require.NoError(t, err)
	defer db.Close()
	_, err = db.ExecContext(ctx, `INSERT INTO schema_migrations (version, name, applied_at) VALUES (999999, 'future', now())`)
	require.NoError(t, err)
	_, err = postgres.Open(ctx, url, postgres.Options{})
	require.ErrorContains(t, err, "newer than this binary")
}

func TestOpenErrorsHidePassword(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	// Nothing listens on port 1; the password must not appear in the error.
	_, err := postgres.Open(ctx, "postgres://gantry:s3cret-pw@127.0.0.1:1/db?sslmode=disable&connect_timeout=2", postgres.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
	_, err = postgres.Open(ctx, "postgres://gantry:s3cret-pw@127.0.0.1:1/db?sslmode=bogus", postgres.Options{})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "s3cret-pw")
}
