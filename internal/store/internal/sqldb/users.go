package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/google/uuid"

	"gantry/internal/store"
)

const userCols = `id, email, username, name, avatar_url, hashed_password, status, login_type,
	roles, created_at, updated_at, last_seen_at, deleted`

type rowScanner interface{ Scan(dest ...any) error }

func scanUser(r rowScanner) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ID, &u.Email, &u.Username, &u.Name, &u.AvatarURL, &u.HashedPassword,
		&u.Status, &u.LoginType, listCol{&u.Roles}, timeCol{&u.CreatedAt}, timeCol{&u.UpdatedAt},
		timeCol{&u.LastSeenAt}, &u.Deleted)
	return u, err
}

// normRoles drops the implicit "member" role and duplicates, keeping order.
func normRoles(roles []string) []string {
	out := make([]string, 0, len(roles))
	for _, r := range roles {
		if r != "" && r != "member" && !slices.Contains(out, r) {
			out = append(out, r)
		}
	}
	return out
}

// prepareNewUser fills defaults: a fresh ID, active status, password login,
// and creation times of now.
func (s *Store) prepareNewUser(u store.User) store.User {
	now := s.clock()
	if u.ID == uuid.Nil {
		u.ID = uuid.New()
	}
	if u.Status == "" {
		u.Status = store.UserStatusActive
	}
	if u.LoginType == "" {
		u.LoginType = store.LoginTypePassword
	}
	if u.CreatedAt.IsZero() {
		u.CreatedAt = now
	}
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = u.CreatedAt
	}
	u.CreatedAt, u.UpdatedAt, u.LastSeenAt = NormTime(u.CreatedAt), NormTime(u.UpdatedAt), NormTime(u.LastSeenAt)
	u.Roles = normRoles(u.Roles)
	if len(u.HashedPassword) == 0 {
		u.HashedPassword = nil
	}
	return u
}

func (s *Store) insertUser(ctx context.Context, q querier, u store.User) error {
	_, err := s.exec(ctx, q, `INSERT INTO users (`+userCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ID, u.Email, u.Username, u.Name, u.AvatarURL, u.HashedPassword, string(u.Status),
		string(u.LoginType), listArg(u.Roles), s.t(u.CreatedAt), s.t(u.UpdatedAt),
		s.t(u.LastSeenAt), u.Deleted)
	return err
}

// InsertUser creates a user.
func (s *Store) InsertUser(ctx context.Context, u store.User) (store.User, error) {
	u = s.prepareNewUser(u)
	if err := s.insertUser(ctx, s.w, u); err != nil {
		return store.User{}, s.mapErr("insert user", err)
	}
	return u, nil
}

// InsertFirstUser creates u only when no (non-deleted) user exists.
func (s *Store) InsertFirstUser(ctx context.Context, u store.User) (store.User, error) {
	u = s.prepareNewUser(u)
	err := s.inTx(ctx, func(tx *sql.Tx) error {
		if s.d.FirstUserLock != "" {
			if _, err := tx.ExecContext(ctx, s.d.FirstUserLock); err != nil {
				return err
			}
		}
		var n int64
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM users WHERE NOT deleted`).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return fmt.Errorf("a user already exists: %w", store.ErrConflict)
		}
		return s.insertUser(ctx, tx, u)
	})
	if err != nil {
		if errors.Is(err, store.ErrConflict) {
			return store.User{}, fmt.Errorf("insert first user: %w", err)
		}
		return store.User{}, s.mapErr("insert first user", err)
	}
	return u, nil
}

// GetUserByID returns the user, deleted or not.
func (s *Store) GetUserByID(ctx context.Context, id uuid.UUID) (store.User, error) {
	u, err := scanUser(s.stmtUserByID.QueryRowContext(ctx, id))
	return u, s.mapErr("get user by id", err)
}

// GetUserByUsername matches case-insensitively among non-deleted users.
func (s *Store) GetUserByUsername(ctx context.Context, username string) (store.User, error) {
	u, err := scanUser(s.queryRow(ctx, s.r,
		`SELECT `+userCols+` FROM users WHERE lower(username) = lower(?) AND NOT deleted`, username))
	return u, s.mapErr("get user by username", err)
}

// GetUserByEmail matches case-insensitively among non-deleted users. The
// "email <> ”" term matches the partial unique index, so SQLite uses it.
func (s *Store) GetUserByEmail(ctx context.Context, email string) (store.User, error) {
	if email == "" {
		return store.User{}, fmt.Errorf("get user by email: %w", store.ErrNotFound)
	}
	u, err := scanUser(s.queryRow(ctx, s.r,
		`SELECT `+userCols+` FROM users WHERE lower(email) = lower(?) AND NOT deleted AND email <> ''`, email))
	return u, s.mapErr("get user by email", err)
}

// CountUsers counts non-deleted users.
func (s *Store) CountUsers(ctx context.Context) (int64, error) {
	var n int64
	err := s.queryRow(ctx, s.r, `SELECT count(*) FROM users WHERE NOT deleted`).Scan(&n)
	return n, s.mapErr("count users", err)
}

// likePattern builds a case-insensitive substring pattern for LIKE ... ESCAPE '\'.
func likePattern(sub string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(sub)) + "%"
}

// ListUsers returns a page of non-deleted users ordered by username and the
// total that match the filter.
func (s *Store) ListUsers(ctx context.Context, f store.UserFilter) ([]store.User, int64, error) {
	where := []string{"NOT deleted"}
	var args []any
	if f.Search != "" {
		p := likePattern(f.Search)
		where = append(where, `(lower(username) LIKE ? ESCAPE '\' OR lower(email) LIKE ? ESCAPE '\')`)
		args = append(args, p, p)
	}
	if f.Status != "" {
		where = append(where, "status = ?")
		args = append(args, string(f.Status))
	}
	// Everyone holds the implicit member role, so filtering on it is a no-op.
	if f.Role != "" && f.Role != "member" {
		where = append(where, s.d.HasRole)
		args = append(args, f.Role)
	}
	cond := strings.Join(where, " AND ")

	var total int64
	if err := s.queryRow(ctx, s.r, `SELECT count(*) FROM users WHERE `+cond, args...).Scan(&total); err != nil {
		return nil, 0, s.mapErr("count users", err)
	}

	if f.AfterID != uuid.Nil {
		var after string
		err := s.queryRow(ctx, s.r, `SELECT lower(username) FROM users WHERE id = ?`, f.AfterID).Scan(&after)
		if err != nil {
			return nil, 0, s.mapErr("list users: cursor user", err)
		}
		cond += " AND lower(username) > ?"
		args = append(args, after)
	}
	args = append(args, limitArg(f.Limit), int64(max(f.Offset, 0)))
	rows, err := s.query(ctx, s.r, `SELECT `+userCols+` FROM users WHERE `+cond+`
		ORDER BY lower(username), id LIMIT ? OFFSET ?`, args...)
	if err != nil {
		return nil, 0, s.mapErr("list users", err)
	}
	users, err := collect(rows, scanUser)
	if err != nil {
		return nil, 0, s.mapErr("list users", err)
	}
	return users, total, nil
}

// UpdateUser applies the non-nil fields of upd.
func (s *Store) UpdateUser(ctx context.Context, id uuid.UUID, upd store.UserUpdate) (store.User, error) {
	var sets []string
	var args []any
	set := func(col string, v any) {
		sets = append(sets, col+" = ?")
		args = append(args, v)
	}
	if upd.Email != nil {
		set("email", *upd.Email)
	}
	if upd.Username != nil {
		set("username", *upd.Username)
	}
	if upd.Name != nil {
		set("name", *upd.Name)
	}
	if upd.AvatarURL != nil {
		set("avatar_url", *upd.AvatarURL)
	}
	if upd.HashedPassword != nil {
		set("hashed_password", upd.HashedPassword)
	}
	if upd.Status != nil {
		set("status", string(*upd.Status))
	}
	if upd.Roles != nil {
		set("roles", listArg(normRoles(*upd.Roles)))
	}
	if upd.LastSeenAt != nil {
		set("last_seen_at", s.t(*upd.LastSeenAt))
	}
	if upd.Deleted != nil {
		set("deleted", *upd.Deleted)
	}
	set("updated_at", s.t(s.clock()))
	args = append(args, id)
	u, err := scanUser(s.queryRow(ctx, s.w,
		`UPDATE users SET `+strings.Join(sets, ", ")+` WHERE id = ? RETURNING `+userCols, args...))
	if err != nil {
		return store.User{}, s.mapErr("update user", err)
	}
	return u, nil
}

// collect scans every row and closes rows.
func collect[T any](rows *sql.Rows, scan func(rowScanner) (T, error)) ([]T, error) {
	defer rows.Close()
	out := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
