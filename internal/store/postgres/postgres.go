// Package postgres is the store.Store for production deployments where
// several gantry replicas share one PostgreSQL database.
//
// It uses pgx through its database/sql adapter (pgx/v5/stdlib) rather than
// pgxpool: the query code is shared with the SQLite backend through
// database/sql, the pool statistics plug straight into Prometheus'
// DBStatsCollector, and pgx still caches a prepared statement per connection
// for every query text, so repeated queries skip parsing and planning.
package postgres

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"embed"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"

	"gantry/internal/store"
	"gantry/internal/store/internal/sqldb"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// Store is the PostgreSQL store. It implements store.Store; Pools exposes the
// connection pool for metrics.
type Store struct {
	*sqldb.Store
}

// Options tune the connection pool (Coder's pg_conn_max_open and
// pg_conn_max_idle).
type Options struct {
	// MaxOpenConns bounds open connections; 0 means 10.
	MaxOpenConns int
	// MaxIdleConns bounds idle connections; 0 means "auto" (MaxOpenConns/3,
	// at least 1) and a negative value keeps no idle connection.
	MaxIdleConns int
	// ConnMaxIdleTime closes connections idle for longer; 0 means 5 minutes.
	ConnMaxIdleTime time.Duration
}

// DefaultMaxOpenConns is Coder's pg_conn_max_open default.
const DefaultMaxOpenConns = 10

// lockClass is the first key of every advisory lock gantry takes ("gant").
const lockClass = 0x67616e74

// Open connects to the database at url (a postgres:// URL or a key=value
// DSN; a search_path parameter selects the schema) and applies pending
// migrations under an advisory lock, so replicas starting together migrate
// once.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		// pgx's message masks the password.
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	if opts.MaxOpenConns <= 0 {
		opts.MaxOpenConns = DefaultMaxOpenConns
	}
	if opts.MaxIdleConns == 0 {
		opts.MaxIdleConns = max(1, opts.MaxOpenConns/3)
	}
	if opts.ConnMaxIdleTime <= 0 {
		opts.ConnMaxIdleTime = 5 * time.Minute
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(opts.MaxOpenConns)
	db.SetMaxIdleConns(min(opts.MaxIdleConns, opts.MaxOpenConns))
	db.SetConnMaxIdleTime(opts.ConnMaxIdleTime)

	if err := migrate(ctx, db); err != nil {
		_ = db.Close()
		return nil, err
	}
	s, err := sqldb.New(ctx, sqldb.Config{
		Dialect: &dialect,
		Writer:  db,
		Reader:  db,
		Pools:   []store.Pool{{Name: "postgres", DB: db}},
	})
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open postgres: %w", err)
	}
	return &Store{Store: s}, nil
}

// migrate applies the embedded migrations while holding a session-level
// advisory lock on one dedicated connection. The lock key includes the
// current schema, so deployments (and tests) in different schemas of one
// database do not wait for each other.
func migrate(ctx context.Context, db *sql.DB) error {
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("connect postgres: %w", err)
	}
	defer conn.Close()
	const lockArgs = `$1, hashtext('migrate:' || coalesce(current_schema(), ''))`
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(`+lockArgs+`)`, lockClass); err != nil {
		return fmt.Errorf("migrate postgres: take advisory lock: %w", err)
	}
	defer func() {
		// Use a fresh context: the caller's may be done, and a lock left
		// behind would block every other replica until this session ends.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, uerr := conn.ExecContext(uctx, `SELECT pg_advisory_unlock(`+lockArgs+`)`, lockClass); uerr != nil {
			// Drop the connection; ending the session releases the lock.
			_ = conn.Raw(func(any) error { return driver.ErrBadConn })
		}
	}()
	if err := sqldb.Migrate(ctx, conn, &dialect, migrationFS); err != nil {
		return fmt.Errorf("migrate postgres: %w", err)
	}
	return nil
}

var dialect = sqldb.Dialect{
	Name:     "postgres",
	Numbered: true,
	TimeArg:  func(t time.Time) any { return t },
	Classify: classify,
	// Serialise first-user creation per schema for the transaction only.
	FirstUserLock: fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d, hashtext('first_user:' || coalesce(current_schema(), '')))`, lockClass),
	SkipLocked:    " FOR UPDATE SKIP LOCKED",
	HasRole:       "roles @> jsonb_build_array(?::text)",
	MigrationsTable: `CREATE TABLE IF NOT EXISTS schema_migrations (
		version    bigint PRIMARY KEY,
		name       text NOT NULL,
		applied_at timestamptz NOT NULL
	)`,
}

func classify(err error) (sqldb.Violation, string) {
	var e *pgconn.PgError
	if !errors.As(err, &e) {
		return sqldb.NoViolation, ""
	}
	switch e.Code {
	case "23505": // unique_violation
		return sqldb.UniqueViolation, e.ConstraintName
	case "23503": // foreign_key_violation
		return sqldb.ForeignKeyViolation, e.ConstraintName
	}
	return sqldb.NoViolation, ""
}
