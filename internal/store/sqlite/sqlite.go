// Package sqlite is the embedded, zero-set-up store.Store: one database file
// (plus its WAL) driven by the pure-Go modernc.org/sqlite driver, so the
// gantry binary needs no cgo.
//
// Connections are split the way SQLite wants them: one writer pool with a
// single connection (every write transaction starts with BEGIN IMMEDIATE, so
// writers queue in Go instead of failing with SQLITE_BUSY) and a reader pool
// of query-only connections that run concurrently thanks to WAL.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"gantry/internal/store"
	"gantry/internal/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the SQLite store. It implements store.Store; Pools exposes the
// connection pools for metrics.
type Store struct {
	*sqldb.Store
}

// Options tune Open. The zero value is sensible.
type Options struct {
	// MaxReaders bounds the reader pool; 0 means max(4, GOMAXPROCS).
	MaxReaders int
	// BusyTimeout is how long a connection waits on a lock held by another
	// process before failing; 0 means 5s.
	BusyTimeout time.Duration
	// BatchPause runs between the short statements a usage batch is split
	// into (sqldb.Pacing); nil means a 20 µs sleep.
	BatchPause func()
}

// batchParams bounds the bind parameters of one statement of a usage batch:
// four interceptions, five token usages or eight prompts, a few tens of
// microseconds of SQLite work each.
const batchParams = 48

// pause parks the writer goroutine briefly, so that the scheduler polls the
// network and runs the requests that became ready meanwhile. Any sleep
// parks; 20 µs is long enough that the timer has not fired yet when the
// scheduler looks for work, so the poll comes first.
func pause() { time.Sleep(20 * time.Microsecond) }

// Open opens (creating if needed) the database file at path, with its parent
// directory, and applies pending migrations.
func Open(ctx context.Context, path string) (*Store, error) {
	return OpenWithOptions(ctx, path, Options{})
}

// OpenWithOptions is Open with tuning.
func OpenWithOptions(ctx context.Context, path string, opts Options) (*Store, error) {
	if path == "" {
		return nil, errors.New("open sqlite: empty path")
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open sqlite: create directory: %w", err)
	}
	if opts.MaxReaders <= 0 {
		opts.MaxReaders = max(4, runtime.GOMAXPROCS(0))
	}
	if opts.BusyTimeout <= 0 {
		opts.BusyTimeout = 5 * time.Second
	}
	if opts.BatchPause == nil {
		opts.BatchPause = pause
	}

	w, err := sql.Open("sqlite", dsn(path, opts, true))
	if err != nil {
		return nil, fmt.Errorf("open sqlite writer: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)

	if err := retryBusy(ctx, opts.BusyTimeout, func() error { return migrate(ctx, w) }); err != nil {
		_ = w.Close()
		return nil, err
	}

	r, err := sql.Open("sqlite", dsn(path, opts, false))
	if err != nil {
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite reader: %w", err)
	}
	r.SetMaxOpenConns(opts.MaxReaders)
	r.SetMaxIdleConns(opts.MaxReaders)
	r.SetConnMaxIdleTime(5 * time.Minute)

	s, err := sqldb.New(ctx, sqldb.Config{
		Dialect: &dialect,
		Writer:  w,
		Reader:  r,
		Pools:   []store.Pool{{Name: "sqlite_writer", DB: w}, {Name: "sqlite_reader", DB: r}},
		Pacing:  sqldb.Pacing{MaxParams: batchParams, Pause: opts.BatchPause},
	})
	if err != nil {
		_ = r.Close()
		_ = w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	return &Store{Store: s}, nil
}

// dsn builds the modernc connection string. The driver runs busy_timeout
// before every other setting, so a connection opened while another process
// holds a lock waits instead of failing on the journal_mode switch.
func dsn(path string, opts Options, writer bool) string {
	q := url.Values{}
	q.Set("_busy_timeout", fmt.Sprint(opts.BusyTimeout.Milliseconds()))
	q.Set("_journal_mode", "WAL")
	q.Set("_foreign_keys", "1")
	q.Set("_synchronous", "NORMAL")
	// A multi-row INSERT inside a transaction keeps a statement journal;
	// once it outgrows a few pages SQLite spills it to a temporary file,
	// which cost an open, writes and a close per usage batch (8% of the
	// gateway's CPU in a profile at 1,000 recorded requests/s). Keep
	// temporary storage in memory: these journals are small and short-lived.
	q.Add("_pragma", "temp_store(memory)")
	if writer {
		// Take the write lock at BEGIN: a deferred transaction that reads
		// first and upgrades later can fail with SQLITE_BUSY_SNAPSHOT.
		q.Set("_txlock", "immediate")
	} else {
		q.Set("_query_only", "1")
	}
	u := url.URL{Scheme: "file", Opaque: escapePath(path), RawQuery: q.Encode()}
	return u.String()
}

// escapePath keeps the characters that would end the path part of a URI.
func escapePath(p string) string {
	return strings.NewReplacer("%", "%25", "?", "%3F", "#", "%23").Replace(p)
}

// retryBusy runs fn again while it fails with SQLITE_BUSY, for up to limit.
// SQLite does not call the busy handler where waiting could deadlock: a
// connection that has read the file and then needs the write lock, as the
// journal_mode switch to WAL and the CREATE TABLE IF NOT EXISTS of a fresh
// database do. Two processes opening one new file at the same moment hit
// exactly that, so the open and the migrations are retried as a whole;
// each migration is its own transaction and re-checks the version, so a
// retry never applies one twice.
func retryBusy(ctx context.Context, limit time.Duration, fn func() error) error {
	deadline := time.Now().Add(limit)
	wait := time.Millisecond
	for {
		err := fn()
		if err == nil || !isBusy(err) || time.Now().Add(wait).After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(wait):
		}
		wait = min(2*wait, 100*time.Millisecond)
	}
}

// isBusy reports whether err is SQLITE_BUSY or one of its extended codes.
func isBusy(err error) bool {
	var e *sqlite.Error
	return errors.As(err, &e) && e.Code()&0xff == sqlite3.SQLITE_BUSY
}

func migrate(ctx context.Context, w *sql.DB) error {
	conn, err := w.Conn(ctx)
	if err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	defer conn.Close()
	if err := sqldb.Migrate(ctx, conn, &dialect, migrationFS); err != nil {
		return fmt.Errorf("migrate sqlite: %w", err)
	}
	return nil
}

// dialect describes SQLite to the shared implementation.
var dialect = sqldb.Dialect{
	Name:       "sqlite",
	TimeArg:    func(t time.Time) any { return t.UnixMicro() },
	Classify:   classify,
	SkipLocked: "",
	HasRole:    "EXISTS (SELECT 1 FROM json_each(roles) WHERE json_each.value = ?)",
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    INTEGER PRIMARY KEY,
		name       TEXT NOT NULL,
		applied_at INTEGER NOT NULL
	) STRICT`,
}

func classify(err error) (sqldb.Violation, string) {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return sqldb.NoViolation, ""
	}
	switch e.Code() {
	case sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY:
		return sqldb.UniqueViolation, e.Error()
	case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
		return sqldb.ForeignKeyViolation, e.Error()
	}
	return sqldb.NoViolation, ""
}
