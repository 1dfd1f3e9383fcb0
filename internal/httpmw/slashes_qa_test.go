package httpmw_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/httpmw"
)

func TestCollapseSlashes(t *testing.T) {
	t.Parallel()
	var gotPath, gotRaw string
	h := httpmw.CollapseSlashes(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		gotPath, gotRaw = r.URL.Path, r.URL.RawPath
	}))
	for _, tc := range []struct{ target, path, raw string }{
		{"/api/v2/buildinfo", "/api/v2/buildinfo", ""},
		{"//api/v2//buildinfo", "/api/v2/buildinfo", ""},
		{"/api///v2/users/me/", "/api/v2/users/me/", ""},
		{"/api//v2/users/a%2Fb", "/api/v2/users/a/b", "/api/v2/users/a%2Fb"},
	} {
		req := httptest.NewRequestWithContext(t.Context(), http.MethodGet, "http://gantry.test"+tc.target, nil)
		original := req.URL.Path
		h.ServeHTTP(httptest.NewRecorder(), req)
		require.Equal(t, tc.path, gotPath, tc.target)
		require.Equal(t, tc.raw, gotRaw, tc.target)
		require.Equal(t, original, req.URL.Path, "the caller's request is not modified")
	}
}
