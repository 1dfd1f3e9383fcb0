// Package api serves the /api/v2 JSON API: the General endpoints, users,
// API keys and the AI Bridge query API. Handlers are methods on *API, one
// file per resource; every route is listed in routes.go.
package api

import (
	"log/slog"
	"net/http"
	"time"

	"gantry/internal/store"
)

// Options are the dependencies and settings of the API. The composition root
// (internal/app) fills them from the deployment configuration.
type Options struct {
	Logger *slog.Logger
	Store  store.Store
	// Now returns the current time; tests may replace it.
	Now func() time.Time
	// Identity configures users, sessions and API keys (see auth.go).
	Identity IdentityOptions
	// Deployment configures the General endpoints (see general.go).
	Deployment DeploymentOptions
	// AIBridge configures the gateway mount and its query API (see aibridge.go).
	AIBridge AIBridgeOptions
}

// API holds the dependencies shared by all handlers.
type API struct {
	opts    Options
	handler http.Handler
	// ident is the identity runtime: token validator, login throttle,
	// password hasher (auth.go).
	ident *identityState
}

// New builds the API and its router.
func New(opts Options) *API {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	a := &API{opts: opts}
	a.ident = newIdentityState(opts)
	a.handler = a.routes()
	return a
}

// ServeHTTP implements http.Handler.
func (a *API) ServeHTTP(rw http.ResponseWriter, r *http.Request) { a.handler.ServeHTTP(rw, r) }

// Close waits for the API's background work (asynchronous token usage
// writes) to finish. Call it after the HTTP server has stopped and before
// closing the store.
func (a *API) Close() error {
	a.ident.close()
	return nil
}
