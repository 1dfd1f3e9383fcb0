package httpmw

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"gantry/internal/httpapi"
	"gantry/internal/store"
	"gantry/sdk"
)

// UserParamErrorMessage is Coder's message for an unknown {user}.
const UserParamErrorMessage = `"user" must be an existing uuid or username.`

type userParamKey struct{}

// ExtractUserParam resolves the {user} URL parameter, which is a UUID, a
// username or "me", to a non-deleted user, and stores it for UserParam.
// "me" needs ExtractAPIKey to have run first. The lookup is not an
// authorization check: handlers decide who may see or change the user.
func ExtractUserParam(db store.Store) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			q := chi.URLParam(r, "user")
			var (
				user store.User
				err  error
			)
			ident, authed := IdentityOptional(r)
			// The caller's own record came with the token validation: as
			// fresh as the authentication itself (the authenticator drops it
			// on suspension, deletion or a role change), so no query.
			self, haveSelf := ident.User()
			switch id, parseErr := uuid.Parse(q); {
			case q == sdk.Me:
				if !authed {
					httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
						Message: `Cannot use "me" without a valid session.`,
					})
					return
				}
				if haveSelf {
					user = self
				} else {
					user, err = db.GetUserByID(ctx, ident.UserID)
				}
			case parseErr == nil:
				if haveSelf && id == self.ID {
					user = self
				} else {
					user, err = db.GetUserByID(ctx, id)
				}
			default:
				if haveSelf && q == self.Username {
					user = self
				} else {
					user, err = db.GetUserByUsername(ctx, q)
				}
			}
			if err == nil && user.Deleted {
				err = store.ErrNotFound
			}
			if errors.Is(err, store.ErrNotFound) {
				httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
					Message: UserParamErrorMessage,
					Detail:  fmt.Sprintf("queried user=%q", q),
				})
				return
			}
			if err != nil {
				httpapi.InternalServerError(rw, r, fmt.Errorf("get user %q: %w", q, err))
				return
			}
			// A pointer: boxing the struct itself would copy it once more.
			next.ServeHTTP(rw, r.WithContext(context.WithValue(ctx, userParamKey{}, &user)))
		})
	}
}

// UserParam returns the user resolved by ExtractUserParam; it panics when
// the middleware was not mounted.
func UserParam(r *http.Request) store.User {
	u, ok := r.Context().Value(userParamKey{}).(*store.User)
	if !ok {
		panic("developer error: ExtractUserParam middleware not provided")
	}
	return *u
}
