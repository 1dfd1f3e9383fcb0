package httpmw

import (
	"net/http"
	"strings"
)

// CORS answers cross-origin requests. By default gantry allows none, but it
// still sends "Vary: Origin" so caches never mix responses for different
// origins. With allowAll (--dangerous-allow-cors-requests) every origin may
// call the API; credentials (cookies) are never allowed cross-origin, so
// browsers must send tokens in headers.
func CORS(allowAll bool) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h := rw.Header()
			h.Add("Vary", "Origin")
			origin := r.Header.Get("Origin")
			if !allowAll || origin == "" {
				next.ServeHTTP(rw, r)
				return
			}
			reqMethod := r.Header.Get("Access-Control-Request-Method")
			if r.Method == http.MethodOptions && reqMethod != "" {
				// Preflight: answer it here, the routes never see it.
				h.Add("Vary", "Access-Control-Request-Method")
				h.Add("Vary", "Access-Control-Request-Headers")
				h.Set("Access-Control-Allow-Origin", "*")
				h.Set("Access-Control-Allow-Methods", strings.ToUpper(reqMethod))
				if hdrs := r.Header.Get("Access-Control-Request-Headers"); hdrs != "" {
					h.Set("Access-Control-Allow-Headers", hdrs)
				}
				h.Set("Access-Control-Max-Age", "300")
				rw.WriteHeader(http.StatusNoContent)
				return
			}
			h.Set("Access-Control-Allow-Origin", "*")
			// Let browser code read the headers clients rely on.
			h.Set("Access-Control-Expose-Headers", strings.Join([]string{
				BuildVersionHeader, RequestIDHeader,
				"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Reset",
			}, ", "))
			next.ServeHTTP(rw, r)
		})
	}
}
