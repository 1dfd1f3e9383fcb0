package api

import (
	"net/http"

	"github.com/go-chi/chi/v5"

	"gantry/internal/httpapi"
)

// routes lists every route of the API with its middleware.
func (a *API) routes() http.Handler {
	r := chi.NewRouter()
	r.NotFound(httpapi.RouteNotFound)
	r.MethodNotAllowed(httpapi.RouteNotFound)
	r.Route("/api/v2", func(r chi.Router) {
		r.NotFound(httpapi.RouteNotFound)
	})
	return r
}
