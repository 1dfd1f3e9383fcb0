package sqldb

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"slices"
	"strconv"
	"time"
)

// Migration is one embedded, numbered schema change.
type Migration struct {
	Version int64
	Name    string
	SQL     string
}

var migrationName = regexp.MustCompile(`^(\d{6})_([a-z0-9_]+)\.up\.sql$`)

// LoadMigrations reads NNNNNN_name.up.sql files from dir in fsys, ordered by
// version. Versions must be unique and start at 1 without gaps, so a missing
// file is caught at build time by the tests rather than in production.
func LoadMigrations(fsys fs.FS, dir string) ([]Migration, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, fmt.Errorf("read migrations: %w", err)
	}
	var ms []Migration
	for _, e := range entries {
		m := migrationName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migration file %q is not named NNNNNN_name.up.sql", e.Name())
		}
		v, _ := strconv.ParseInt(m[1], 10, 64) // six digits always parse
		body, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", e.Name(), err)
		}
		ms = append(ms, Migration{Version: v, Name: m[2], SQL: string(body)})
	}
	slices.SortFunc(ms, func(a, b Migration) int { return int(a.Version - b.Version) })
	for i, m := range ms {
		if m.Version != int64(i+1) {
			return nil, fmt.Errorf("migration versions must run 1..N without gaps; found %06d at position %d", m.Version, i+1)
		}
	}
	return ms, nil
}

// Migrate applies the migrations in fsys's "migrations" directory newer than the recorded version, each in its
// own transaction together with its version row. The caller serialises
// concurrent migrators (SQLite: the single writer connection with BEGIN
// IMMEDIATE; PostgreSQL: a session advisory lock held on conn).
func Migrate(ctx context.Context, conn *sql.Conn, d *Dialect, fsys fs.FS) error {
	ms, err := LoadMigrations(fsys, "migrations")
	if err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, d.MigrationsTable); err != nil {
		return fmt.Errorf("create migrations table: %w", err)
	}
	var current int64
	if err := conn.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("read schema version: %w", err)
	}
	if latest := int64(len(ms)); current > latest {
		return fmt.Errorf("database schema version %d is newer than this binary knows (%d): upgrade gantry", current, latest)
	}
	for _, m := range ms[current:] {
		if err := applyMigration(ctx, conn, d, m, d.TimeArg(NormTime(time.Now()))); err != nil {
			return err
		}
	}
	return nil
}

func applyMigration(ctx context.Context, conn *sql.Conn, d *Dialect, m Migration, appliedAt any) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migration %06d: begin: %w", m.Version, err)
	}
	defer func() { _ = tx.Rollback() }()
	// Re-check inside the transaction: another SQLite process may have
	// applied it between our read and our (immediate) BEGIN.
	var current int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&current); err != nil {
		return fmt.Errorf("migration %06d: read schema version: %w", m.Version, err)
	}
	if current >= m.Version {
		return nil
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return fmt.Errorf("migration %06d_%s: %w", m.Version, m.Name, err)
	}
	if _, err := tx.ExecContext(ctx, d.Rebind(`INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)`),
		m.Version, m.Name, appliedAt); err != nil {
		return fmt.Errorf("migration %06d: record version: %w", m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("migration %06d: commit: %w", m.Version, err)
	}
	return nil
}
