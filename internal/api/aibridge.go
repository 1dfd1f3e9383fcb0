package api

import "net/http"

// AIBridgeOptions configure the AI Bridge routes.
type AIBridgeOptions struct {
	// Gateway, when set, serves /api/v2/aibridge/... (chi Mount in
	// routes.go: r.URL.Path keeps the full path; a chi router inside sees
	// the part after /api/v2/aibridge). It bypasses the General API rate
	// limiter and CSRF middleware.
	Gateway http.Handler
}
