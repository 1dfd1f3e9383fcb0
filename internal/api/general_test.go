package api_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/store/dbtest"
)

// TestOpenAPIDocumentListsEveryRoute checks /swagger/doc.json against the
// route table: every /api/v2 route is in it, and the General and identity
// routes carry hand-written descriptions (not the generated stub).
func TestOpenAPIDocumentListsEveryRoute(t *testing.T) {
	t.Parallel()
	a := api.New(api.Options{Store: dbtest.New(t), Deployment: api.DeploymentOptions{SwaggerEnabled: true}})
	t.Cleanup(func() { _ = a.Close() })
	srv := httptest.NewServer(a)
	t.Cleanup(srv.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+"/swagger/doc.json", nil)
	require.NoError(t, err)
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	var doc struct {
		Paths map[string]map[string]struct {
			Summary string   `json:"summary"`
			Tags    []string `json:"tags"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(body, &doc))

	handWritten := []string{
		"GET /", "GET /buildinfo", "GET /updatecheck", "POST /csp/reports", "GET /deployment/config",
		"GET /deployment/stats", "GET /deployment/ssh", "GET /experiments", "GET /experiments/available",
		"GET /users/{user}/keys/tokens/tokenconfig", "POST /users/login", "GET /users/first",
	}
	seen := 0
	err = chi.Walk(a.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		path, ok := strings.CutPrefix(route, "/api/v2")
		if !ok || strings.HasSuffix(path, "/*") {
			return nil
		}
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		seen++
		op, ok := doc.Paths[path][strings.ToLower(method)]
		require.True(t, ok, "route %s %s is missing from the OpenAPI document", method, route)
		require.NotEmpty(t, op.Summary)
		for _, h := range handWritten {
			if h == method+" "+path {
				require.NotContains(t, op.Tags, "Other", "%s has a hand-written description in internal/site/static/openapi.json", h)
			}
		}
		return nil
	})
	require.NoError(t, err)
	require.Greater(t, seen, 20)
}
