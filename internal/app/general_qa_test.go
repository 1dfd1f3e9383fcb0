package app_test

import (
	"encoding/json"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/sdk"
)

// TestRepeatedSlashesReachTheRoute: repeated slashes in the path are
// collapsed before routing (general-api.md §4), on the real listener.
func TestRepeatedSlashesReachTheRoute(t *testing.T) {
	t.Parallel()
	d := deploy(t)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, path := range []string{"//api/v2//buildinfo", "/api//v2/buildinfo", "/api/v2///buildinfo"} {
		resp, err := httpGet(t, client, d.url.String()+path)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s: %s", path, body)
		var bi sdk.BuildInfoResponse
		require.NoError(t, json.Unmarshal(body, &bi), path)
		require.Equal(t, d.url.String(), bi.DashboardURL, path)
	}
	// An unknown path stays unknown.
	resp, err := httpGet(t, client, d.url.String()+"//api/v2//nope")
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode)
}
