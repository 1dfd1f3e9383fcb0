package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
)

// routes lists every route of the API with its middleware.
func (a *API) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.RouteNotFound)
	r.MethodNotAllowed(httpapi.RouteNotFound)

	// --- General: HTML pages, /healthz, /swagger (general.go).
	a.siteRoutes(r)

	// --- AI Bridge gateway: it authenticates and rate-limits on its own, so
	// it is mounted beside /api/v2, outside the General API middleware.
	if a.opts.AIBridge.Gateway != nil {
		r.Mount("/api/v2/aibridge", a.opts.AIBridge.Gateway)
		r.Mount("/api/v2/ai-gateway", a.opts.AIBridge.Gateway)
	}
	// The query API sits under the gateway's prefix; chi prefers this static
	// route over the mount's wildcard (aibridge.go).
	r.With(append(a.generalMiddleware(), a.apiKey)...).Get("/api/v2/aibridge/interceptions", a.aibridgeInterceptions)

	r.Route("/api/v2", func(r chi.Router) {
		// Every other /api/v2 route: rate limit and CSRF (general.go).
		r.Use(a.generalMiddleware()...)
		r.NotFound(httpapi.RouteNotFound)
		r.MethodNotAllowed(httpapi.RouteNotFound)

		// --- General endpoints (general.go).
		r.Get("/", a.apiRoot)
		r.Get("/buildinfo", a.buildInfo)
		r.Get("/updatecheck", a.updateCheck)
		r.Post("/csp/reports", a.postCSPReport)
		r.Route("/deployment", func(r chi.Router) {
			r.Use(a.apiKey)
			r.Get("/config", a.deploymentConfig)
			r.Get("/stats", a.deploymentStats)
			r.Get("/ssh", a.deploymentSSH)
		})
		r.Route("/experiments", func(r chi.Router) {
			r.Use(a.apiKey)
			r.Get("/", a.experiments)
			r.Get("/available", a.availableExperiments)
		})
		// --- end General

		// --- Identity: users, sessions, API keys (auth.go, users.go,
		// login.go, apikeys.go). Authentication failures are answered by
		// the API-key middleware before any handler runs.
		r.Route("/users", func(r chi.Router) {
			r.Get("/first", a.firstUser)
			r.Post("/first", a.postFirstUser)
			r.Post("/login", a.postLogin)
			r.Group(func(r chi.Router) {
				r.Use(a.apiKey)
				r.Post("/logout", a.postLogout)
				r.Get("/", a.users)
				r.Post("/", a.postUser)
				r.Route("/{user}", func(r chi.Router) {
					r.Use(httpmw.ExtractUserParam(a.opts.Store))
					r.Get("/", a.userByParam)
					r.Delete("/", a.deleteUser)
					r.Put("/status/suspend", a.putUserStatus(store.UserStatusSuspended))
					r.Put("/status/activate", a.putUserStatus(store.UserStatusActive))
					r.Put("/roles", a.putUserRoles)
					r.Post("/keys", a.postAPIKey)
					r.Post("/keys/tokens", a.postToken)
					r.Get("/keys/tokens", a.tokens)
					r.Get("/keys/tokens/tokenconfig", a.tokenConfig)
					r.Get("/keys/tokens/{keyname}", a.apiKeyByName)
					r.Get("/keys/{keyid}", a.apiKeyByID)
					r.Delete("/keys/{keyid}", a.deleteAPIKey)
					r.Put("/keys/{keyid}/expire", a.expireAPIKey)
					r.Get("/organizations", a.organizationsByUser)
				})
			})
		})
		r.Route("/organizations", func(r chi.Router) {
			r.Use(a.apiKey)
			r.Get("/", a.organizations)
			r.Get("/{organization}", a.organizationByParam)
		})
		// --- end Identity
	})
	return r
}
