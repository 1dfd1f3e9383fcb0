package api

import (
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"

	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/userpassword"
	"gantry/sdk"
)

const (
	msgBadCredentials = "Incorrect email or password."
	msgLoginThrottled = "Too many failed login attempts. Try again later."
)

func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// @Summary Sign in with email and password
// @Router /users/login [post]
func (a *API) postLogin(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req sdk.LoginWithPasswordRequest
	if !httpapi.Read(rw, r, &req) {
		return
	}
	var v []sdk.ValidationError
	if req.Email == "" {
		v = append(v, tagError("email", "required", ""))
	}
	if req.Password == "" {
		v = append(v, tagError("password", "required", ""))
	}
	if len(v) > 0 {
		httpapi.Validation(rw, r, v...)
		return
	}
	ip := clientIP(r)
	// The throttle is checked before any hashing, so a locked-out attacker
	// cannot make the server burn CPU either.
	if wait, ok := a.ident.throttle.Allow(req.Email, ip); !ok {
		secs := int(math.Ceil(wait.Seconds()))
		rw.Header().Set("Retry-After", strconv.Itoa(secs))
		httpapi.Write(ctx, rw, http.StatusTooManyRequests, sdk.Response{
			Message: msgLoginThrottled,
			Detail:  fmt.Sprintf("Retry after %d seconds.", secs),
		})
		return
	}
	user, err := a.opts.Store.GetUserByEmail(ctx, req.Email)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		httpapi.InternalServerError(rw, r, fmt.Errorf("get user by email: %w", err))
		return
	}
	match := false
	if err == nil && len(user.HashedPassword) > 0 {
		match, err = userpassword.Compare(string(user.HashedPassword), req.Password)
		if err != nil {
			a.opts.Logger.Error("stored password hash is unreadable", "user_id", user.ID, "error", err)
			match = false
		}
	} else {
		// Unknown email (or no password): spend the same time as a real
		// comparison so response timing does not reveal which emails exist.
		a.ident.hasher.DummyCompare(req.Password)
	}
	if !match {
		a.ident.throttle.Failure(req.Email, ip)
		// The attempted email is not logged: users sometimes type their
		// password into the email field.
		a.opts.Logger.Info("failed login", "remote_ip", ip)
		httpapi.Write(ctx, rw, http.StatusUnauthorized, sdk.Response{Message: msgBadCredentials})
		return
	}
	if user.LoginType != store.LoginTypePassword {
		httpapi.Write(ctx, rw, http.StatusForbidden, sdk.Response{
			Message: fmt.Sprintf("Incorrect login type, attempting to use %q but user is of login type %q", store.LoginTypePassword, user.LoginType),
		})
		return
	}
	// Owners stay exempt, as the option promises: gantry has no other way to
	// sign in, so disabling passwords for owners would lock everyone out.
	if a.ident.opts.DisablePasswordAuth && !(authz.Subject{Roles: user.Roles}).IsOwner() {
		httpapi.Write(ctx, rw, http.StatusForbidden, sdk.Response{Message: "Password authentication is disabled."})
		return
	}
	if user.Status == store.UserStatusSuspended {
		httpapi.Write(ctx, rw, http.StatusUnauthorized, sdk.Response{
			Message: fmt.Sprintf("Your account is %s. Contact an admin to reactivate your account.", user.Status),
		})
		return
	}
	a.ident.throttle.Success(req.Email)
	if user.Status == store.UserStatusDormant {
		// Signing in wakes a dormant account, as in Coder.
		active := store.UserStatusActive
		if _, err := a.opts.Store.UpdateUser(ctx, user.ID, store.UserUpdate{Status: &active}); err != nil {
			httpapi.InternalServerError(rw, r, fmt.Errorf("activate dormant user: %w", err))
			return
		}
		a.ident.authn.InvalidateUser(user.ID)
	}
	token, _, err := a.createKey(ctx, newKeyParams{
		userID:    user.ID,
		loginType: store.LoginTypePassword,
		lifetime:  a.ident.opts.SessionDuration,
		ip:        ip,
	})
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	http.SetCookie(rw, a.ident.cookie(token))
	httpapi.Write(ctx, rw, http.StatusCreated, sdk.LoginWithPasswordResponse{SessionToken: token})
}

// @Summary Sign out: delete the session's API key and clear the cookie
// @Router /users/logout [post]
func (a *API) postLogout(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id := httpmw.Identity(r)
	err := a.opts.Store.DeleteAPIKey(ctx, id.APIKeyID)
	a.ident.authn.InvalidateKey(id.APIKeyID)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		httpapi.InternalServerError(rw, r, fmt.Errorf("delete api key: %w", err))
		return
	}
	http.SetCookie(rw, a.ident.cookie(""))
	httpapi.Write(ctx, rw, http.StatusOK, sdk.Response{Message: "Logged out!"})
}
