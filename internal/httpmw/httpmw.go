// Package httpmw holds gantry's HTTP middleware: request ids, the headers
// every response carries, access logging, panic recovery, Prometheus request
// metrics, the API rate limiter, CSP, HSTS, CORS, CSRF and the access-URL
// redirects. Each middleware is a plain func(http.Handler) http.Handler (or a
// constructor returning one) so the composition root and routes.go can stack
// them with chi's Use.
//
// The outer stack, assembled by internal/app, is, from the outside in:
//
//	RequestID → StaticHeaders → RealIP → CollapseSlashes → AccessLog → Metrics → Recover → HSTS → CORS → redirect → router
//
// Route-level middleware (rate limit, CSRF, CSP) is applied in
// internal/api/routes.go, so the AI Bridge gateway can be mounted without it.
package httpmw

import (
	"context"

	"github.com/google/uuid"
)

// BuildVersionHeader carries the server version on every response. Coder's
// clients refuse to talk to a server that omits it, even on a 404.
const BuildVersionHeader = "X-Coder-Build-Version"

// RequestIDHeader carries the request id on every response.
const RequestIDHeader = "X-Coder-Request-Id"

// requestState is the per-request record shared by the middleware: the access
// log and the metrics read it after the handler returns; the rate limiter and
// the authentication middleware fill in the user.
type requestState struct {
	status   int
	bytes    int64
	userID   uuid.UUID
	username string
	// auth memoizes the token validation of the request (see Authenticate).
	auth *authResult
}

type stateKey struct{}

func withState(ctx context.Context, s *requestState) context.Context {
	return context.WithValue(ctx, stateKey{}, s)
}

func stateFrom(ctx context.Context) *requestState {
	s, _ := ctx.Value(stateKey{}).(*requestState)
	return s
}

// SetUser records the authenticated user of the request for the access log.
// Authentication middleware calls it once a token is validated; it is a no-op
// outside the AccessLog middleware.
func SetUser(ctx context.Context, id uuid.UUID, username string) {
	if s := stateFrom(ctx); s != nil {
		s.userID = id
		s.username = username
	}
}
