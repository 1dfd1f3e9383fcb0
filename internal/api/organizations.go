package api

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/sdk"
)

// gantry has one organization, the default one; every user is a member.
// These read-only routes exist because Coder's CLI resolves it before
// creating or showing users.

func convertOrganization(o store.Organization) sdk.Organization {
	return sdk.Organization{
		ID:                    o.ID,
		Name:                  o.Name,
		DisplayName:           o.Name,
		CreatedAt:             o.CreatedAt,
		UpdatedAt:             o.UpdatedAt,
		IsDefault:             o.IsDefault,
		DefaultOrgMemberRoles: []string{},
	}
}

func (a *API) defaultOrganization(rw http.ResponseWriter, r *http.Request) (store.Organization, bool) {
	org, err := a.opts.Store.DefaultOrganization(r.Context())
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("get default organization: %w", err))
		return store.Organization{}, false
	}
	return org, true
}

// @Summary List the organizations of a user
// @Router /users/{user}/organizations [get]
func (a *API) organizationsByUser(rw http.ResponseWriter, r *http.Request) {
	u := httpmw.UserParam(r)
	actor := httpmw.Subject(r)
	if !actor.Is(u.ID) && !actor.Can(authz.ReadAllUsers) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	org, ok := a.defaultOrganization(rw, r)
	if !ok {
		return
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, []sdk.Organization{convertOrganization(org)})
}

// @Summary List organizations
// @Router /organizations [get]
func (a *API) organizations(rw http.ResponseWriter, r *http.Request) {
	org, ok := a.defaultOrganization(rw, r)
	if !ok {
		return
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, []sdk.Organization{convertOrganization(org)})
}

// @Summary Get an organization by id or name
// @Router /organizations/{organization} [get]
func (a *API) organizationByParam(rw http.ResponseWriter, r *http.Request) {
	org, ok := a.defaultOrganization(rw, r)
	if !ok {
		return
	}
	q := chi.URLParam(r, "organization")
	if q != org.ID.String() && !strings.EqualFold(q, org.Name) && q != "default" {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, convertOrganization(org))
}
