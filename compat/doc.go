// Package compat proves that Coder's own clients work against gantry
// unchanged. It is a separate Go module so that gantry never depends on
// github.com/coder/coder/v2 (AGPL): only these tests import it.
//
// The tests build the gantry binary from the parent directory, start it as a
// real process on a loopback port and drive it with codersdk v2.36.1 and with
// the `coder` CLI v2.36.1 built from the same module. They run on the
// embedded SQLite store, and also on PostgreSQL when GANTRY_TEST_POSTGRES_URL
// is set (each server gets an isolated schema that is dropped afterwards).
//
// Knobs:
//
//	GANTRY_TEST_POSTGRES_URL  also run every test on PostgreSQL
//	COMPAT_GANTRY_DIR         build gantry from this checkout instead of ..
//	COMPAT_CODER_BIN          use this coder binary instead of building one
//	COMPAT_SKIP_CODER_CLI=1   skip the coder CLI tests (no coder build)
//
// The built coder binary is cached in compat/.cache/, keyed by version,
// platform and build tags.
package compat
