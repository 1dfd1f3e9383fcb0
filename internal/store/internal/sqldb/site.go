package sqldb

import (
	"context"
	"errors"

	"github.com/google/uuid"

	"gantry/internal/store"
)

// EnsureSiteConfig inserts the value unless the key exists and returns what is
// stored. ON CONFLICT DO NOTHING makes racing replicas agree on one winner.
func (s *Store) EnsureSiteConfig(ctx context.Context, key, value string) (string, error) {
	if _, err := s.exec(ctx, s.w,
		`INSERT INTO site_configs (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING`,
		key, value); err != nil {
		return "", s.mapErr("ensure site config", err)
	}
	// Read back through the writer: on SQLite that is the connection that
	// just wrote, so the row is visible even to an in-progress reader.
	return s.getSiteConfig(ctx, s.w, key)
}

// GetSiteConfig returns ErrNotFound when the key is absent.
func (s *Store) GetSiteConfig(ctx context.Context, key string) (string, error) {
	return s.getSiteConfig(ctx, s.r, key)
}

func (s *Store) getSiteConfig(ctx context.Context, q querier, key string) (string, error) {
	var v string
	err := s.queryRow(ctx, q, `SELECT value FROM site_configs WHERE key = ?`, key).Scan(&v)
	return v, s.mapErr("get site config", err)
}

// UpsertSiteConfig sets key to value.
func (s *Store) UpsertSiteConfig(ctx context.Context, key, value string) error {
	_, err := s.exec(ctx, s.w,
		`INSERT INTO site_configs (key, value) VALUES (?, ?)
		 ON CONFLICT (key) DO UPDATE SET value = excluded.value`, key, value)
	return s.mapErr("upsert site config", err)
}

// DefaultOrganizationName is the name of the organization gantry creates.
const DefaultOrganizationName = "coder"

// DefaultOrganization returns the default organization, creating it once. It
// never changes afterwards, so it is cached for the life of the store.
func (s *Store) DefaultOrganization(ctx context.Context) (store.Organization, error) {
	if o := s.defaultOrg.Load(); o != nil {
		return *o, nil
	}
	o, err := s.getDefaultOrg(ctx, s.r)
	if errors.Is(err, store.ErrNotFound) {
		now := s.clock()
		// A unique partial index on is_default lets only one racing insert
		// win; the losers read the winner's row.
		if _, err := s.exec(ctx, s.w,
			`INSERT INTO organizations (id, name, is_default, created_at, updated_at)
			 VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
			uuid.New(), DefaultOrganizationName, true, s.t(now), s.t(now)); err != nil {
			return store.Organization{}, s.mapErr("create default organization", err)
		}
		o, err = s.getDefaultOrg(ctx, s.w)
	}
	if err != nil {
		return store.Organization{}, err
	}
	s.defaultOrg.Store(&o)
	return o, nil
}

func (s *Store) getDefaultOrg(ctx context.Context, q querier) (store.Organization, error) {
	var o store.Organization
	err := s.queryRow(ctx, q,
		`SELECT id, name, is_default, created_at, updated_at FROM organizations WHERE is_default`).
		Scan(&o.ID, &o.Name, &o.IsDefault, timeCol{&o.CreatedAt}, timeCol{&o.UpdatedAt})
	if err != nil {
		return store.Organization{}, s.mapErr("get default organization", err)
	}
	return o, nil
}
