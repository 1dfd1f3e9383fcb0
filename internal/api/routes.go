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
	r.Route("/api/v2", func(r chi.Router) {
		r.NotFound(httpapi.RouteNotFound)

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
				})
			})
		})
		// --- end Identity
	})
	return r
}
