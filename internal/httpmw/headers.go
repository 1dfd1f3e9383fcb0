package httpmw

import (
	"net/http"

	"github.com/google/uuid"

	"gantry/internal/httpapi"
)

// RequestID gives every request a fresh UUID v4, stores it in the context
// (httpapi.RequestID reads it) and returns it in X-Coder-Request-Id. A client
// supplied id is ignored: log lines must not be forgeable.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		id := uuid.NewString()
		rw.Header().Set(RequestIDHeader, id)
		next.ServeHTTP(rw, r.WithContext(httpapi.WithRequestID(r.Context(), id)))
	})
}

// StaticHeaders sets the headers every response carries, whatever handler
// answers: the build version (Coder clients require it, 404s included) and
// nosniff.
func StaticHeaders(version string) func(http.Handler) http.Handler {
	// The values never change: build them once instead of two slices per
	// request (net/http only reads header values; Set and Add replace or
	// append, so sharing them is safe).
	versionValue := []string{version}
	nosniff := []string{"nosniff"}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h := rw.Header()
			h[BuildVersionHeader] = versionValue
			h["X-Content-Type-Options"] = nosniff
			next.ServeHTTP(rw, r)
		})
	}
}
