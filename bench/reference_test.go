package main

import (
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
)

// The bench drops and re-creates the reference's database, so it must
// refuse any URL that points at a database it does not own.
func TestRefDBRefusesSharedDatabases(t *testing.T) {
	t.Parallel()
	const gantryURL = "postgres://postgres@127.0.0.1:5432/gantry_bench?sslmode=disable"
	for _, tc := range []struct {
		url, errPart string
	}{
		{"postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable", "system database"},
		{"postgres://postgres@127.0.0.1:5432/template1?sslmode=disable", "system database"},
		{"postgres://postgres@127.0.0.1:5432/gantry_bench?sslmode=disable", "also gantry's"},
		{"::not a url", "-reference-postgres-url"},
	} {
		_, err := newRefDB(tc.url, gantryURL)
		require.Error(t, err, tc.url)
		require.Contains(t, err.Error(), tc.errPart, tc.url)
	}
	d, err := newRefDB("postgres://postgres@127.0.0.1:5432/gantry_bench_ref?sslmode=disable", gantryURL)
	require.NoError(t, err)
	require.Equal(t, "gantry_bench_ref", d.name)
	require.Equal(t, "postgres", d.admin.Database)
}

// METHOD.md §11 fixes part of the reference's command line.
func TestReferenceArgv(t *testing.T) {
	t.Parallel()
	argv := strings.Join(referenceArgv("/x/coder", 4242, "postgres://db", "/tmp/ref"), " ")
	for _, want := range []string{
		"/x/coder server ",
		"--http-address 127.0.0.1:4242",
		"--access-url http://127.0.0.1:4242",
		"--postgres-url postgres://db",
		"--telemetry=false",
		"--update-check=false",
		"--dangerous-disable-rate-limits",
		"--provisioner-daemons=0",
		"--cache-dir /tmp/ref/cache",
	} {
		require.Contains(t, argv, want)
	}
}

// reset must work on a fresh and on an existing database (cold starts run
// it before each start). It needs a PostgreSQL server it may create a
// database on: GANTRY_TEST_POSTGRES_URL, as for the store tests.
func TestRefDBReset(t *testing.T) {
	pgURL := os.Getenv("GANTRY_TEST_POSTGRES_URL")
	if pgURL == "" {
		t.Skip("GANTRY_TEST_POSTGRES_URL not set")
	}
	cfg, err := pgx.ParseConfig(pgURL)
	require.NoError(t, err)
	u, err := url.Parse(pgURL)
	require.NoError(t, err)
	u.Path = "/gantry_bench_reftest"
	d, err := newRefDB(u.String(), "")
	require.NoError(t, err)
	require.Equal(t, cfg.Host, d.admin.Host)
	for range 2 {
		require.NoError(t, d.reset(t.Context()))
	}
	pids, err := d.backendPids(t.Context())
	require.NoError(t, err)
	require.Empty(t, pids)
	require.NoError(t, d.exec(t.Context(), func(c *pgx.Conn) error {
		_, err := c.Exec(t.Context(), "DROP DATABASE "+pgx.Identifier{d.name}.Sanitize())
		return err
	}))
}
