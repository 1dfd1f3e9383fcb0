package sqldb_test

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/require"

	"gantry/internal/store/internal/sqldb"
)

func TestRebind(t *testing.T) {
	t.Parallel()
	pg := sqldb.Dialect{Numbered: true}
	lite := sqldb.Dialect{}
	const q = `SELECT a FROM t WHERE b = ? AND (c, d) < (?, ?) LIMIT ?`
	require.Equal(t, `SELECT a FROM t WHERE b = $1 AND (c, d) < ($2, $3) LIMIT $4`, pg.Rebind(q))
	require.Equal(t, q, lite.Rebind(q))
	require.Equal(t, `SELECT 1`, pg.Rebind(`SELECT 1`))
}

func TestLoadMigrations(t *testing.T) {
	t.Parallel()
	file := func(s string) *fstest.MapFile { return &fstest.MapFile{Data: []byte(s)} }
	ms, err := sqldb.LoadMigrations(fstest.MapFS{
		"migrations/000002_more.up.sql": file("B"),
		"migrations/000001_init.up.sql": file("A"),
	}, "migrations")
	require.NoError(t, err)
	require.Equal(t, []sqldb.Migration{{Version: 1, Name: "init", SQL: "A"}, {Version: 2, Name: "more", SQL: "B"}}, ms)

	cases := map[string]fstest.MapFS{
		"gap":      {"migrations/000001_a.up.sql": file(""), "migrations/000003_c.up.sql": file("")},
		"bad name": {"migrations/1_a.sql": file("")},
		"down":     {"migrations/000001_a.down.sql": file("")},
		"dup":      {"migrations/000001_a.up.sql": file(""), "migrations/000001_b.up.sql": file("")},
	}
	for name, fsys := range cases {
		_, err := sqldb.LoadMigrations(fsys, "migrations")
		require.Error(t, err, name)
	}
}
