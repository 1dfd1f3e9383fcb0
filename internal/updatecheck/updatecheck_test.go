package updatecheck_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/updatecheck"
)

// openStore is a real, private database (SQLite, or PostgreSQL when
// GANTRY_TEST_POSTGRES_URL is set).
func openStore(t *testing.T) store.Store {
	t.Helper()
	return dbtest.New(t)
}

// releaseServer is a fake GitHub "latest release" endpoint.
type releaseServer struct {
	*httptest.Server
	hits   atomic.Int64
	status atomic.Int64
	tag    atomic.Value
}

func newReleaseServer(t *testing.T, tag string) *releaseServer {
	t.Helper()
	rs := &releaseServer{}
	rs.status.Store(http.StatusOK)
	rs.tag.Store(tag)
	rs.Server = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rs.hits.Add(1)
		if r.URL.Path != "/repos/gantry-dev/gantry/releases/latest" {
			http.NotFound(rw, r)
			return
		}
		if s := int(rs.status.Load()); s != http.StatusOK {
			rw.WriteHeader(s)
			return
		}
		_ = json.NewEncoder(rw).Encode(map[string]any{
			"tag_name": rs.tag.Load().(string),
			"html_url": "https://someurl.com",
			"draft":    false,
		})
	}))
	t.Cleanup(rs.Close)
	return rs
}

func (rs *releaseServer) url() string { return rs.URL + "/repos/gantry-dev/gantry/releases/latest" }

func start(t *testing.T, c *updatecheck.Checker) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { defer close(done); c.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func latest(t *testing.T, c *updatecheck.Checker) (updatecheck.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	return c.Latest(ctx)
}

func TestNewVersionIsStoredAndShared(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	rs := newReleaseServer(t, "v99.999.999")

	c := updatecheck.New(updatecheck.Options{Store: st, URL: rs.url(), CurrentVersion: "v2.0.0", Interval: time.Hour})
	start(t, c)
	res, err := latest(t, c)
	require.NoError(t, err)
	require.Equal(t, "v99.999.999", res.Version)
	require.Equal(t, "https://someurl.com", res.URL)
	require.False(t, updatecheck.IsCurrent("v2.0.0", res.Version))
	require.EqualValues(t, 1, rs.hits.Load())

	// A second replica on the same store finds a fresh result and does not
	// ask the feed again (it would fail: the feed is down now).
	rs.status.Store(http.StatusInternalServerError)
	replica := updatecheck.New(updatecheck.Options{Store: st, URL: rs.url(), CurrentVersion: "v2.0.0", Interval: time.Hour})
	start(t, replica)
	res2, err := latest(t, replica)
	require.NoError(t, err)
	require.Equal(t, res.Version, res2.Version)
	require.EqualValues(t, 1, rs.hits.Load())
}

func TestSameVersionIsCurrent(t *testing.T) {
	t.Parallel()
	rs := newReleaseServer(t, "v2.36.1")
	c := updatecheck.New(updatecheck.Options{Store: openStore(t), URL: rs.url(), CurrentVersion: "v2.36.1"})
	start(t, c)
	res, err := latest(t, c)
	require.NoError(t, err)
	require.True(t, updatecheck.IsCurrent("v2.36.1", res.Version))
}

func TestStaleResultIsRefreshed(t *testing.T) {
	t.Parallel()
	st := openStore(t)
	old, err := json.Marshal(updatecheck.Result{Checked: time.Now().Add(-48 * time.Hour), Version: "v1.0.0", URL: "https://old"})
	require.NoError(t, err)
	require.NoError(t, st.UpsertSiteConfig(t.Context(), updatecheck.SiteConfigKey, string(old)))

	rs := newReleaseServer(t, "v3.0.0")
	c := updatecheck.New(updatecheck.Options{Store: st, URL: rs.url(), CurrentVersion: "v2.0.0", Interval: 24 * time.Hour})
	start(t, c)
	res, err := latest(t, c)
	require.NoError(t, err)
	require.Equal(t, "v3.0.0", res.Version)
}

func TestFailuresLeaveNoResult(t *testing.T) {
	t.Parallel()
	for name, status := range map[string]int{"server error": http.StatusInternalServerError, "not found": http.StatusNotFound} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			rs := newReleaseServer(t, "v9.9.9")
			rs.status.Store(int64(status))
			c := updatecheck.New(updatecheck.Options{Store: openStore(t), URL: rs.url(), CurrentVersion: "v2.0.0"})
			start(t, c)
			_, err := latest(t, c)
			require.ErrorIs(t, err, updatecheck.ErrNoResult)
		})
	}
	t.Run("unreachable", func(t *testing.T) {
		t.Parallel()
		rs := newReleaseServer(t, "v9.9.9")
		url := rs.url()
		rs.Close()
		c := updatecheck.New(updatecheck.Options{Store: openStore(t), URL: url, CurrentVersion: "v2.0.0", Timeout: 2 * time.Second})
		start(t, c)
		_, err := latest(t, c)
		require.ErrorIs(t, err, updatecheck.ErrNoResult)
	})
}

func TestLatestHonoursContext(t *testing.T) {
	t.Parallel()
	// Run never started: Latest must give up when its context ends.
	c := updatecheck.New(updatecheck.Options{Store: openStore(t), URL: "http://127.0.0.1:1/none"})
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Latest(ctx)
	require.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestIsCurrent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		current, latest string
		want            bool
	}{
		{"v2.36.1", "v2.36.1", true},
		{"v2.36.1+abc1234", "v2.36.1", true},
		{"v2.36.0", "v2.36.1", false},
		{"v2.37.0", "v2.36.1", true},
		{"v0.0.0-devel+abc1234", "v0.1.0", false},
		{"v2.36.1-devel+abc1234", "v2.36.1", true},
		{"v2.36.1", "v99.999.999", false},
	} {
		require.Equal(t, tc.want, updatecheck.IsCurrent(tc.current, tc.latest), "%s vs %s", tc.current, tc.latest)
	}
}
