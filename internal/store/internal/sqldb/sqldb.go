package sqldb

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gantry/internal/store"
)

// Store implements store.Store over database/sql.
type Store struct {
	d *Dialect
	// w takes every write; r every read. They are the same pool on
	// PostgreSQL; on SQLite w is the single-connection writer.
	w, r   *sql.DB
	pools  []store.Pool
	now    func() time.Time
	pacing Pacing

	// Prepared hot-path lookups (token validation on every request).
	stmtAPIKeyByID *sql.Stmt
	stmtUserByID   *sql.Stmt
	// batchStmts are the writer's prepared statements of paced usage
	// batches (nil when unpaced); read-only after New.
	batchStmts map[batchShape]*sql.Stmt

	defaultOrg atomic.Pointer[store.Organization]
}

var (
	_ store.Store      = (*Store)(nil)
	_ store.PoolLister = (*Store)(nil)
)

// Config is what a backend hands to New.
type Config struct {
	Dialect *Dialect
	Writer  *sql.DB
	Reader  *sql.DB
	Pools   []store.Pool
	// Now is the clock (UTC); nil means time.Now.
	Now func() time.Time
	// Pacing spreads usage batch writes over short statements; the zero
	// value writes each table with as few statements as possible.
	Pacing Pacing
}

// New prepares the hot-path statements and returns the store. The schema must
// already be migrated.
func New(ctx context.Context, cfg Config) (*Store, error) {
	s := &Store{d: cfg.Dialect, w: cfg.Writer, r: cfg.Reader, pools: cfg.Pools, now: cfg.Now, pacing: cfg.Pacing}
	if s.now == nil {
		s.now = time.Now
	}
	var err error
	if s.stmtAPIKeyByID, err = s.r.PrepareContext(ctx, s.d.Rebind(`SELECT `+apiKeyCols+` FROM api_keys WHERE id = ?`)); err != nil {
		return nil, fmt.Errorf("prepare api key lookup: %w", err)
	}
	if s.stmtUserByID, err = s.r.PrepareContext(ctx, s.d.Rebind(`SELECT `+userCols+` FROM users WHERE id = ?`)); err != nil {
		_ = s.stmtAPIKeyByID.Close()
		return nil, fmt.Errorf("prepare user lookup: %w", err)
	}
	if err := s.prepareBatchStmts(ctx); err != nil {
		_ = s.closeStmts()
		return nil, err
	}
	return s, nil
}

// Backend names the engine.
func (s *Store) Backend() string { return s.d.Name }

// Pools lists the connection pools, for metrics.
func (s *Store) Pools() []store.Pool { return s.pools }

// Ping checks every pool.
func (s *Store) Ping(ctx context.Context) error {
	for _, p := range s.pools {
		if err := p.DB.PingContext(ctx); err != nil {
			return fmt.Errorf("ping %s: %w", p.Name, err)
		}
	}
	return nil
}

// Close closes the prepared statements and every pool.
func (s *Store) Close() error {
	errs := make([]error, 0, 1+len(s.pools))
	errs = append(errs, s.closeStmts())
	for _, p := range s.pools {
		errs = append(errs, p.DB.Close())
	}
	return errors.Join(errs...)
}

// closeStmts closes the prepared statements.
func (s *Store) closeStmts() error {
	errs := make([]error, 0, 2+len(s.batchStmts))
	errs = append(errs, s.stmtAPIKeyByID.Close(), s.stmtUserByID.Close())
	for _, stmt := range s.batchStmts {
		errs = append(errs, stmt.Close())
	}
	return errors.Join(errs...)
}

// clock returns the current time, normalised.
func (s *Store) clock() time.Time { return NormTime(s.now()) }

// t converts a time to its bound value.
func (s *Store) t(t time.Time) any { return s.d.TimeArg(NormTime(t)) }

// querier is what *sql.DB, *sql.Tx and *sql.Conn have in common.
type querier interface {
	ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error)
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) exec(ctx context.Context, q querier, query string, args ...any) (sql.Result, error) {
	return q.ExecContext(ctx, s.d.Rebind(query), args...)
}

func (s *Store) query(ctx context.Context, q querier, query string, args ...any) (*sql.Rows, error) {
	return q.QueryContext(ctx, s.d.Rebind(query), args...)
}

func (s *Store) queryRow(ctx context.Context, q querier, query string, args ...any) *sql.Row {
	return q.QueryRowContext(ctx, s.d.Rebind(query), args...)
}

// inTx runs fn in a write transaction and commits when it returns nil.
func (s *Store) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// mapErr turns driver errors into the store's sentinels and adds op context.
func (s *Store) mapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	switch v, where := s.d.Classify(err); v {
	case UniqueViolation:
		return fmt.Errorf("%s: %w", op, &store.ConflictError{Field: conflictField(where)})
	case ForeignKeyViolation:
		return fmt.Errorf("%s: referenced row: %w", op, store.ErrNotFound)
	}
	return fmt.Errorf("%s: %w", op, err)
}

// conflictField maps a constraint name or message to the field it guards.
// Index names in both schemas contain the column they make unique.
func conflictField(where string) string {
	for _, f := range []string{"username", "email", "token_name", "name"} {
		if strings.Contains(where, f) {
			return f
		}
	}
	return "id"
}

// timeCol scans a time column of either engine into a UTC time.
type timeCol struct{ dst *time.Time }

func (c timeCol) Scan(src any) error {
	switch v := src.(type) {
	case int64:
		*c.dst = time.UnixMicro(v).UTC()
	case time.Time:
		*c.dst = v.UTC()
	default:
		return fmt.Errorf("scan time: unexpected %T", src)
	}
	return nil
}

// nullTimeCol scans a nullable time column.
type nullTimeCol struct{ dst **time.Time }

func (c nullTimeCol) Scan(src any) error {
	if src == nil {
		*c.dst = nil
		return nil
	}
	var t time.Time
	if err := (timeCol{&t}).Scan(src); err != nil {
		return err
	}
	*c.dst = &t
	return nil
}

// jsonCol scans a JSON column (TEXT or jsonb) into a nullable RawMessage.
type jsonCol struct{ dst *json.RawMessage }

func (c jsonCol) Scan(src any) error {
	switch v := src.(type) {
	case nil:
		*c.dst = nil
	case string:
		*c.dst = json.RawMessage(v)
	case []byte:
		*c.dst = json.RawMessage(append([]byte(nil), v...))
	default:
		return fmt.Errorf("scan json: unexpected %T", src)
	}
	return nil
}

// listCol scans a JSON array of strings; the result is never nil.
type listCol struct{ dst *[]string }

func (c listCol) Scan(src any) error {
	var raw json.RawMessage
	if err := (jsonCol{&raw}).Scan(src); err != nil {
		return err
	}
	out := []string{}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return fmt.Errorf("scan string list: %w", err)
		}
	}
	*c.dst = out
	return nil
}

// jsonArg binds optional JSON; nil stays NULL. Invalid JSON is refused here so
// both engines behave alike (PostgreSQL would reject it, SQLite would not).
func jsonArg(field string, m json.RawMessage) (any, error) {
	if m == nil {
		return nil, nil
	}
	if !json.Valid(m) {
		return nil, fmt.Errorf("%s is not valid JSON", field)
	}
	return string(m), nil
}

// listArg binds a string list as a JSON array.
func listArg(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	b, _ := json.Marshal(l) // a []string always marshals
	return string(b)
}

// placeholders returns "?, ?, ?" with n marks.
func placeholders(n int) string {
	if n <= 0 {
		return ""
	}
	return strings.Repeat("?, ", n-1) + "?"
}

// limitArg turns "0 = no limit" into a bound LIMIT both engines accept.
func limitArg(limit int) int64 {
	if limit <= 0 {
		return 1<<63 - 1
	}
	return int64(limit)
}
