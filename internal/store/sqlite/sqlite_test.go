package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"github.com/google/uuid"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
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

// TestConcurrentOpenOfNewFile: several processes starting at once on a file
// that does not exist yet all open it. SQLite answers the loser of the WAL
// switch or of the first CREATE TABLE with SQLITE_BUSY without waiting,
// which once failed one of two replicas started together in CI.
func TestConcurrentOpenOfNewFile(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	const rounds, openers = 20, 4
	for round := range rounds {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("gantry-%d.db", round))
		errs := make(chan error, openers)
		for range openers {
			go func() {
				s, err := sqlite.Open(ctx, path)
				if err == nil {
					err = s.Close()
				}
				errs <- err
			}()
		}
		for range openers {
			require.NoError(t, <-errs, "round %d", round)
		}
	}
}

// TestUsageBatchIsPaced: a large usage batch is written as short statements
// with a pause before each but the first and before the commit (so a
// request that arrives meanwhile is not held behind the whole batch), and
// every row of it lands.
func TestUsageBatchIsPaced(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	var pauses atomic.Int64
	s, err := sqlite.OpenWithOptions(ctx, filepath.Join(t.TempDir(), "gantry.db"), sqlite.Options{
		BatchPause: func() { pauses.Add(1) },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	started := time.Now().UTC().Add(-time.Minute)
	one := func(i int, ended bool) store.AIBridgeBatch {
		id := uuid.New()
		in := store.Interception{ID: id, InitiatorID: uuid.New(), APIKeyID: "key", Provider: "openai",
			ProviderName: "openai", Model: "gpt-4o", StartedAt: started.Add(time.Duration(i) * time.Millisecond)}
		if ended {
			end := in.StartedAt.Add(time.Second)
			in.EndedAt = &end
		}
		return store.AIBridgeBatch{
			Interceptions: []store.Interception{in},
			TokenUsages:   []store.TokenUsage{{ID: uuid.New(), InterceptionID: id, InputTokens: int64(i), OutputTokens: 1, CreatedAt: in.StartedAt}},
			UserPrompts:   []store.UserPrompt{{ID: uuid.New(), InterceptionID: id, Prompt: fmt.Sprint("prompt ", i), CreatedAt: in.StartedAt}},
		}
	}

	// Three interceptions started in an earlier batch end in the big one.
	var open store.AIBridgeBatch
	for i := range 3 {
		b := one(i, false)
		open.Interceptions = append(open.Interceptions, b.Interceptions...)
	}
	require.NoError(t, s.InsertAIBridgeBatch(ctx, open))
	require.EqualValues(t, 1, pauses.Load(), "one statement, then a pause before the commit")
	pauses.Store(0)

	var big store.AIBridgeBatch
	const n = 41 // not a multiple of any statement's rows: the last statements are shorter
	for i := range n {
		b := one(3+i, true)
		big.Interceptions = append(big.Interceptions, b.Interceptions...)
		big.TokenUsages = append(big.TokenUsages, b.TokenUsages...)
		big.UserPrompts = append(big.UserPrompts, b.UserPrompts...)
	}
	for _, in := range open.Interceptions {
		big.Ends = append(big.Ends, store.InterceptionEnd{ID: in.ID, EndedAt: in.StartedAt.Add(time.Second)})
	}
	require.NoError(t, s.InsertAIBridgeBatch(ctx, big))
	// 48 parameters per statement: 41 interceptions (12 columns) take 11
	// statements, 41 token usages (9) take 9, 41 prompts (6) take 6, and
	// each of the 3 ends is one UPDATE: 29 statements, so 28 pauses
	// between them and one before the commit.
	require.EqualValues(t, 29, pauses.Load())

	list, total, err := s.ListInterceptions(ctx, store.InterceptionFilter{})
	require.NoError(t, err)
	require.EqualValues(t, n+3, total, "every interception of both batches is stored and ended")
	var tokens int64
	for _, d := range list {
		for _, u := range d.TokenUsages {
			tokens += u.InputTokens
		}
		if d.StartedAt.After(open.Interceptions[2].StartedAt) {
			require.Len(t, d.UserPrompts, 1)
			require.Len(t, d.TokenUsages, 1)
		}
	}
	require.EqualValues(t, (3+n+2)*(n)/2, tokens, "the token usages of the 41 ended interceptions (3..43)")
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

// TestQueriesUseIndexes checks the plans of the lookups that run per request
// or per page: none may scan a whole table.
func TestQueriesUseIndexes(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.db")
	open(t, path)
	db := rawDB(t, path)
	queries := map[string]string{
		"api key by id": `SELECT * FROM api_keys WHERE id = 'x'`,
		"user by id":    `SELECT * FROM users WHERE id = 'x'`,
		"user by name":  `SELECT * FROM users WHERE lower(username) = lower('x') AND NOT deleted`,
		"user by email": `SELECT * FROM users WHERE lower(email) = lower('x') AND NOT deleted AND email <> ''`,
		"token by name": `SELECT * FROM api_keys WHERE user_id = 'u' AND token_name = 'n' AND login_type = 'token'`,
		"keys of user":  `SELECT * FROM api_keys WHERE user_id = 'u' ORDER BY created_at, id`,
		"children":      `SELECT * FROM aibridge_tool_usages WHERE interception_id IN ('a', 'b') ORDER BY created_at, id`,
		"retention":     `SELECT id FROM aibridge_interceptions WHERE started_at < 5 ORDER BY started_at, id LIMIT 10`,
		"expired keys":  `SELECT id FROM api_keys WHERE expires_at < 5 ORDER BY expires_at LIMIT 10`,
	}
	// The check itself can fail: an unindexed filter shows up as a scan.
	require.True(t, hasFullScan(t, db, `SELECT * FROM users WHERE name = 'x'`))
	for name, q := range queries {
		require.False(t, hasFullScan(t, db, q), name)
	}
	// A page of interceptions walks the (started_at, id) index in order and
	// stops at the limit.
	plan := queryPlan(t, db, `SELECT * FROM aibridge_interceptions WHERE ended_at IS NOT NULL
		AND (started_at, id) < (5, 'x') ORDER BY started_at DESC, id DESC LIMIT 10`)
	require.Len(t, plan, 1)
	require.Contains(t, plan[0], "USING INDEX aibridge_interceptions_started_idx")
}

// hasFullScan reports whether SQLite's plan for q walks a whole table or a
// whole index ("SCAN ...") instead of searching one ("SEARCH ...").
func hasFullScan(t *testing.T, db *sql.DB, q string) bool {
	t.Helper()
	return slices.ContainsFunc(queryPlan(t, db, q), func(step string) bool { return strings.HasPrefix(step, "SCAN ") })
}

func queryPlan(t *testing.T, db *sql.DB, q string) []string {
	t.Helper()
	rows, err := db.QueryContext(t.Context(), "EXPLAIN QUERY PLAN "+q)
	require.NoError(t, err)
	defer rows.Close()
	var plan []string
	for rows.Next() {
		var id, parent, notused int
		var detail string
		require.NoError(t, rows.Scan(&id, &parent, &notused, &detail))
		plan = append(plan, detail)
	}
	require.NoError(t, rows.Err())
	t.Logf("%s\n  -> %q", q, plan)
	return plan
}

func BenchmarkGetAPIKeyByID(b *testing.B) {
	ctx := b.Context()
	s, err := sqlite.Open(ctx, filepath.Join(b.TempDir(), "gantry.db"))
	require.NoError(b, err)
	b.Cleanup(func() { _ = s.Close() })
	u, err := s.InsertUser(ctx, store.User{Username: "alice", Email: "a@example.com"})
	require.NoError(b, err)
	_, err = s.InsertAPIKey(ctx, store.APIKey{ID: "abcdefghij", HashedSecret: make([]byte, 32), UserID: u.ID, ExpiresAt: time.Now().Add(time.Hour)})
	require.NoError(b, err)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.GetAPIKeyByID(ctx, "abcdefghij"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}
