// Package sqldb is the one database/sql implementation of store.Store that
// both backends share. Queries are written once, in the SQL both SQLite and
// PostgreSQL understand (ON CONFLICT, RETURNING, row values, partial indexes);
// the few places where the engines differ are described by a Dialect.
//
// Column conventions the two schemas follow so that one scan path serves both:
//   - UUIDs: TEXT (canonical lower-case form) in SQLite, uuid in PostgreSQL.
//   - Times: INTEGER Unix microseconds in SQLite (exact, sortable, compact),
//     timestamptz in PostgreSQL. Both are truncated to microseconds in Go
//     before they are written, so what a method returns equals what a later
//     read returns.
//   - Booleans: INTEGER 0/1 in SQLite, boolean in PostgreSQL.
//   - JSON (metadata, role and scope lists): TEXT in SQLite, jsonb in
//     PostgreSQL. jsonb normalises whitespace and key order, so metadata
//     comes back semantically equal, not byte-for-byte.
package sqldb

import (
	"strconv"
	"strings"
	"time"
)

// Violation classifies a constraint error.
type Violation int

const (
	NoViolation Violation = iota
	UniqueViolation
	ForeignKeyViolation
)

// Dialect is what differs between the engines.
type Dialect struct {
	// Name is what Store.Backend reports.
	Name string
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// TimeArg converts an already-normalised UTC time to the value bound for a
	// time column.
	TimeArg func(time.Time) any
	// Classify says whether err is a constraint violation and returns the
	// constraint (or message) that names the offending column.
	Classify func(err error) (Violation, string)
	// FirstUserLock, when set, runs first inside the InsertFirstUser
	// transaction to serialise racing callers (SQLite already serialises
	// writers with BEGIN IMMEDIATE on its single writer connection).
	FirstUserLock string
	// SkipLocked is appended to the SELECT that picks a retention batch so
	// that replicas purging at the same time take disjoint batches.
	SkipLocked string
	// HasRole is a boolean SQL expression with one placeholder: the roles JSON
	// array column contains that role name.
	HasRole string
	// MigrationsTable creates the version table if it is missing.
	MigrationsTable string
}

// Rebind rewrites "?" placeholders for the dialect. Queries never contain a
// literal "?" inside a string, so no quoting rules are needed.
func (d *Dialect) Rebind(q string) string {
	if !d.Numbered || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// NormTime is how every time is normalised before it is stored: UTC,
// truncated to microseconds (the precision both engines keep).
func NormTime(t time.Time) time.Time {
	return t.UTC().Truncate(time.Microsecond)
}
