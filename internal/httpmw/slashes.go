package httpmw

import (
	"net/http"
	"strings"
)

// CollapseSlashes routes a path with repeated slashes ("//api/v2//buildinfo")
// as its single-slash form, the way Coder's router does (general-api.md §4),
// so such requests reach their route instead of a 404. The request's URL is
// copied, not modified in place: outer middleware share the original.
func CollapseSlashes(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "//") && !strings.Contains(r.URL.RawPath, "//") {
			next.ServeHTTP(rw, r)
			return
		}
		r2 := new(http.Request)
		*r2 = *r
		u := *r.URL
		u.Path = collapse(u.Path)
		u.RawPath = collapse(u.RawPath)
		r2.URL = &u
		next.ServeHTTP(rw, r2)
	})
}

// collapse replaces every run of slashes in p with one slash.
func collapse(p string) string {
	if !strings.Contains(p, "//") {
		return p
	}
	var b strings.Builder
	b.Grow(len(p))
	for i := 0; i < len(p); i++ {
		if p[i] == '/' && i > 0 && p[i-1] == '/' {
			continue
		}
		b.WriteByte(p[i])
	}
	return b.String()
}
