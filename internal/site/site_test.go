package site_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/site"
)

func TestPages(t *testing.T) {
	t.Parallel()
	s, err := site.New(site.Options{Version: "v1.2.3", AccessURL: "https://gantry.example.com"})
	require.NoError(t, err)
	mux := http.NewServeMux()
	mux.HandleFunc("/{$}", s.Landing)
	mux.HandleFunc("/cli-auth", s.CLIAuth)
	mux.HandleFunc("/assets/", s.Asset)
	mux.HandleFunc("/swagger/index.html", s.SwaggerUI)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	get := func(path string) (int, string, string) {
		req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, srv.URL+path, nil)
		require.NoError(t, err)
		resp, err := srv.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}

	status, ct, body := get("/")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/html; charset=utf-8", ct)
	require.Contains(t, body, "v1.2.3")
	require.Contains(t, body, "gantry login https://gantry.example.com")
	require.NotContains(t, body, "<script>", "no inline scripts: the CSP allows 'self' only")

	_, _, body = get("/cli-auth")
	require.Contains(t, body, `<script src="/assets/cli-auth.js" defer></script>`)
	status, ct, body = get("/assets/cli-auth.js")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/javascript; charset=utf-8", ct)
	require.Contains(t, body, "/api/v2/users/me/keys")
	status, ct, _ = get("/assets/style.css")
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, "text/css; charset=utf-8", ct)
	for _, p := range []string{"/assets/index.html", "/assets/openapi.json", "/assets/none.js", "/assets/..%2fsite.go"} {
		status, _, _ = get(p)
		require.Equal(t, http.StatusNotFound, status, p)
	}

}

func TestOpenAPIDocumentCompletesRoutes(t *testing.T) {
	t.Parallel()
	b, err := site.OpenAPIDocument([]site.Route{
		{Method: "GET", Path: "/buildinfo"},
		{Method: "PATCH", Path: "/things/{thing}/parts/{part}"},
	})
	require.NoError(t, err)
	var doc struct {
		OpenAPI string `json:"openapi"`
		Paths   map[string]map[string]struct {
			Summary    string           `json:"summary"`
			Parameters []map[string]any `json:"parameters"`
		} `json:"paths"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	require.Equal(t, "3.0.3", doc.OpenAPI)
	require.Equal(t, "Build info", doc.Paths["/buildinfo"]["get"].Summary, "hand-written entries are kept")
	stub := doc.Paths["/things/{thing}/parts/{part}"]["patch"]
	require.Equal(t, "PATCH /things/{thing}/parts/{part}", stub.Summary)
	require.Len(t, stub.Parameters, 2)
	require.Equal(t, "thing", stub.Parameters[0]["name"])

}
