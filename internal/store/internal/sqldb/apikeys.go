package sqldb

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"gantry/internal/store"
)

const apiKeyCols = `id, hashed_secret, user_id, last_used, expires_at, created_at, updated_at,
	login_type, lifetime_seconds, ip_address, token_name, scopes, allow_list`

func scanAPIKey(r rowScanner) (store.APIKey, error) {
	var k store.APIKey
	err := r.Scan(&k.ID, &k.HashedSecret, &k.UserID, timeCol{&k.LastUsed}, timeCol{&k.ExpiresAt},
		timeCol{&k.CreatedAt}, timeCol{&k.UpdatedAt}, &k.LoginType, &k.LifetimeSeconds,
		&k.IPAddress, &k.TokenName, listCol{&k.Scopes}, listCol{&k.AllowList})
	return k, err
}

// InsertAPIKey stores a key. Missing creation times default to now, and nil
// scope lists are stored (and returned) as empty lists.
func (s *Store) InsertAPIKey(ctx context.Context, k store.APIKey) (store.APIKey, error) {
	if k.ID == "" {
		return store.APIKey{}, errors.New("insert api key: empty id")
	}
	if k.CreatedAt.IsZero() {
		k.CreatedAt = s.clock()
	}
	if k.UpdatedAt.IsZero() {
		k.UpdatedAt = k.CreatedAt
	}
	k.LastUsed, k.ExpiresAt = NormTime(k.LastUsed), NormTime(k.ExpiresAt)
	k.CreatedAt, k.UpdatedAt = NormTime(k.CreatedAt), NormTime(k.UpdatedAt)
	if k.Scopes == nil {
		k.Scopes = []string{}
	}
	if k.AllowList == nil {
		k.AllowList = []string{}
	}
	_, err := s.exec(ctx, s.w, `INSERT INTO api_keys (`+apiKeyCols+`)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		k.ID, k.HashedSecret, k.UserID, s.t(k.LastUsed), s.t(k.ExpiresAt), s.t(k.CreatedAt),
		s.t(k.UpdatedAt), string(k.LoginType), k.LifetimeSeconds, k.IPAddress, k.TokenName,
		listArg(k.Scopes), listArg(k.AllowList))
	if err != nil {
		return store.APIKey{}, s.mapErr("insert api key", err)
	}
	return k, nil
}

// GetAPIKeyByID is the token-validation lookup: one primary-key read through
// a prepared statement.
func (s *Store) GetAPIKeyByID(ctx context.Context, id string) (store.APIKey, error) {
	k, err := scanAPIKey(s.stmtAPIKeyByID.QueryRowContext(ctx, id))
	return k, s.mapErr("get api key", err)
}

// GetAPIKeyByName finds a named token (login type "token") of a user.
func (s *Store) GetAPIKeyByName(ctx context.Context, userID uuid.UUID, tokenName string) (store.APIKey, error) {
	k, err := scanAPIKey(s.queryRow(ctx, s.r, `SELECT `+apiKeyCols+` FROM api_keys
		WHERE user_id = ? AND token_name = ? AND login_type = 'token'`, userID, tokenName))
	return k, s.mapErr("get api key by name", err)
}

// ListAPIKeys returns keys ordered by creation time (then id).
func (s *Store) ListAPIKeys(ctx context.Context, f store.APIKeyFilter) ([]store.APIKey, error) {
	q := `SELECT ` + apiKeyCols + ` FROM api_keys WHERE 1 = 1`
	var args []any
	if f.UserID != uuid.Nil {
		q += ` AND user_id = ?`
		args = append(args, f.UserID)
	}
	if f.LoginType != "" {
		q += ` AND login_type = ?`
		args = append(args, string(f.LoginType))
	}
	if !f.IncludeExpired {
		now := f.Now
		if now.IsZero() {
			now = s.now()
		}
		q += ` AND expires_at > ?`
		args = append(args, s.t(now))
	}
	rows, err := s.query(ctx, s.r, q+` ORDER BY created_at, id`, args...)
	if err != nil {
		return nil, s.mapErr("list api keys", err)
	}
	keys, err := collect(rows, scanAPIKey)
	return keys, s.mapErr("list api keys", err)
}

// UpdateAPIKeyUsage records last use and the slid expiry.
func (s *Store) UpdateAPIKeyUsage(ctx context.Context, id string, u store.APIKeyUsage) error {
	res, err := s.exec(ctx, s.w, `UPDATE api_keys SET last_used = ?, expires_at = ?, ip_address = ?,
		updated_at = ? WHERE id = ?`,
		s.t(u.LastUsed), s.t(u.ExpiresAt), u.IPAddress, s.t(s.clock()), id)
	return s.mustAffect("update api key usage", res, err)
}

// DeleteAPIKey deletes one key; ErrNotFound when there is none.
func (s *Store) DeleteAPIKey(ctx context.Context, id string) error {
	res, err := s.exec(ctx, s.w, `DELETE FROM api_keys WHERE id = ?`, id)
	return s.mustAffect("delete api key", res, err)
}

// DeleteAPIKeysByUser deletes every key of a user and returns their IDs.
func (s *Store) DeleteAPIKeysByUser(ctx context.Context, userID uuid.UUID) ([]string, error) {
	rows, err := s.query(ctx, s.w, `DELETE FROM api_keys WHERE user_id = ? RETURNING id`, userID)
	if err != nil {
		return nil, s.mapErr("delete user api keys", err)
	}
	ids, err := collect(rows, func(r rowScanner) (string, error) {
		var id string
		err := r.Scan(&id)
		return id, err
	})
	return ids, s.mapErr("delete user api keys", err)
}

// DefaultBatch is the batch size used when a retention call passes limit <= 0.
const DefaultBatch = 10000

// DeleteExpiredAPIKeys deletes up to limit keys that expired before the cutoff.
func (s *Store) DeleteExpiredAPIKeys(ctx context.Context, before time.Time, limit int) (int64, error) {
	if limit <= 0 {
		limit = DefaultBatch
	}
	res, err := s.exec(ctx, s.w, `DELETE FROM api_keys WHERE id IN (
		SELECT id FROM api_keys WHERE expires_at < ? ORDER BY expires_at LIMIT ?)`,
		s.t(before), limit)
	if err != nil {
		return 0, s.mapErr("delete expired api keys", err)
	}
	n, err := res.RowsAffected()
	return n, s.mapErr("delete expired api keys", err)
}

// mustAffect maps "no row changed" to ErrNotFound.
func (s *Store) mustAffect(op string, res sql.Result, err error) error {
	if err != nil {
		return s.mapErr(op, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return s.mapErr(op, err)
	}
	if n == 0 {
		return fmt.Errorf("%s: %w", op, store.ErrNotFound)
	}
	return nil
}
