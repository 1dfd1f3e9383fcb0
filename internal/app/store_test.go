package app_test

import (
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/app"
	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/sdk"
)

func TestOpenStoreSQLiteUnderCacheDir(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "nested", "cache")
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{{Name: "cache-dir", Value: dir}}})
	require.NoError(t, err)
	st, err := app.OpenStore(t.Context(), loaded.Values)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.Equal(t, "sqlite", st.Backend())
	require.FileExists(t, filepath.Join(dir, app.SQLiteFile))

	// The same file is opened again with its data (a restart).
	_, err = st.EnsureSiteConfig(t.Context(), "probe", "v1")
	require.NoError(t, err)
	require.NoError(t, st.Close())
	st2, err := app.OpenStore(t.Context(), loaded.Values)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st2.Close() })
	v, err := st2.GetSiteConfig(t.Context(), "probe")
	require.NoError(t, err)
	require.Equal(t, "v1", v)
}

func TestOpenStorePostgres(t *testing.T) {
	t.Parallel()
	url := os.Getenv(dbtest.EnvPostgresURL)
	if url == "" {
		t.Skipf("%s is not set", dbtest.EnvPostgresURL)
	}
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{{Name: "postgres-url", Value: url}}})
	require.NoError(t, err)
	st, err := app.OpenStore(t.Context(), loaded.Values)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	require.Equal(t, "postgres", st.Backend())
	require.NoError(t, st.Ping(t.Context()))
}

func TestOpenStoreErrorHidesPassword(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{
		{Name: "postgres-url", Value: "postgres://gantry:hunter2-secret@127.0.0.1:1/gantry?connect_timeout=2"},
	}})
	require.NoError(t, err)
	_, err = app.OpenStore(t.Context(), loaded.Values)
	require.Error(t, err)
	require.NotContains(t, err.Error(), "hunter2-secret")
}

// pingFailStore is a store whose Ping always fails.
type pingFailStore struct{ store.Store }

func (pingFailStore) Ping(context.Context) error { return errors.New("database unreachable") }

func TestDeploymentStatsStillProcessing(t *testing.T) {
	t.Parallel()
	loaded := loadValues(t, nil)
	st := pingFailStore{dbtest.New(t)}
	ctx, cancel := context.WithCancel(t.Context())
	srv, err := app.New(ctx, app.Config{Values: loaded.Values, Options: loaded.Options, Store: st})
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	owner := sdk.New(srv.AccessURL())
	apitest.CreateFirstUser(t, owner)
	status, _, body := get(t, owner, http.MethodGet, "/api/v2/deployment/stats", nil)
	require.Equal(t, http.StatusBadRequest, status)
	require.Equal(t, "Deployment stats are still processing!", decode[sdk.Response](t, body).Message)
}
