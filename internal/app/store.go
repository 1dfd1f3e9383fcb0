package app

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strconv"

	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/store/postgres"
	"gantry/internal/store/sqlite"
)

// SQLiteFile is the database file name under the cache directory.
const SQLiteFile = "gantry.db"

// OpenStore opens the store the deployment values select: PostgreSQL when
// --postgres-url is set, otherwise the embedded SQLite database
// <cache-dir>/gantry.db. Migrations are applied. The caller closes it.
func OpenStore(ctx context.Context, vals *config.DeploymentValues) (store.Store, error) {
	st, _, err := openStore(ctx, vals)
	return st, err
}

// dbPool is a connection pool to export metrics for.
type dbPool struct {
	name string
	db   *sql.DB
}

func openStore(ctx context.Context, vals *config.DeploymentValues) (store.Store, []dbPool, error) {
	if url := vals.PostgresURL.Value(); url != "" {
		opts := postgres.Options{MaxOpenConns: int(vals.PostgresConnMaxOpen.Value())}
		if idle := vals.PostgresConnMaxIdle.Value(); idle != "" && idle != "auto" {
			n, err := strconv.Atoi(idle)
			if err != nil || n < 0 {
				return nil, nil, fmt.Errorf("--postgres-conn-max-idle must be \"auto\" or a number, got %q", idle)
			}
			opts.MaxIdleConns = n
		}
		st, err := postgres.Open(ctx, url, opts)
		if err != nil {
			// The error never contains the password (pgx masks it).
			return nil, nil, fmt.Errorf("open postgres: %w", err)
		}
		return st, poolsOf(st), nil
	}
	dir := vals.CacheDir.Value()
	if dir == "" {
		dir = config.DefaultCacheDir()
	}
	st, err := sqlite.Open(ctx, filepath.Join(dir, SQLiteFile))
	if err != nil {
		return nil, nil, err
	}
	return st, poolsOf(st), nil
}

// poolsOf returns the connection pools of gantry's store backends (none for
// other implementations, such as test wrappers).
func poolsOf(st store.Store) []dbPool {
	var pools []dbPool
	switch s := st.(type) {
	case *sqlite.Store:
		for _, p := range s.Pools() {
			pools = append(pools, dbPool{name: p.Name, db: p.DB})
		}
	case *postgres.Store:
		for _, p := range s.Pools() {
			pools = append(pools, dbPool{name: p.Name, db: p.DB})
		}
	}
	return pools
}
