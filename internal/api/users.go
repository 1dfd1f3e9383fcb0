package api

import (
	"errors"
	"fmt"
	"net/http"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/userpassword"
	"gantry/sdk"
)

// Messages clients see (Coder's wording where Coder has one).
const (
	msgFirstUserExists    = "The initial user has already been created!"
	msgFirstUserMissing   = "The initial user has not been created!"
	msgFirstUserConflict  = "The initial user has already been created."
	msgUserExists         = "User already exists."
	msgPasswordWeak       = "Password is invalid"
	msgInvalidQueryParams = "Query parameters have invalid values."
)

// usernameRe is Coder's username rule: alphanumerics in dash-separated
// groups, at most 32 characters.
var usernameRe = regexp.MustCompile(`^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$`)

func tagError(field, tag, value string) sdk.ValidationError {
	return sdk.ValidationError{Field: field, Detail: fmt.Sprintf("Validation failed for tag %q with value: %q", tag, value)}
}

// validateUserFields checks the shape of email, username and name the way
// Coder's struct tags do (required,email / required,username /
// user_real_name).
func validateUserFields(email, username, name string) []sdk.ValidationError {
	var v []sdk.ValidationError
	switch addr, err := mail.ParseAddress(email); {
	case email == "":
		v = append(v, tagError("email", "required", email))
	case err != nil || addr.Address != email:
		v = append(v, tagError("email", "email", email))
	}
	switch {
	case username == "":
		v = append(v, tagError("username", "required", username))
	case len(username) > 32 || !usernameRe.MatchString(username):
		v = append(v, tagError("username", "username", username))
	}
	if utf8.RuneCountInString(name) > 128 || strings.TrimSpace(name) != name {
		v = append(v, tagError("name", "user_real_name", name))
	}
	return v
}

// checkPassword answers 400 and returns false when password is too weak.
func checkPassword(rw http.ResponseWriter, r *http.Request, password string) bool {
	if err := userpassword.Validate(password); err != nil {
		httpapi.Write(r.Context(), rw, http.StatusBadRequest, sdk.Response{
			Message:     msgPasswordWeak,
			Validations: []sdk.ValidationError{{Field: "password", Detail: err.Error()}},
		})
		return false
	}
	return true
}

// convertUser turns a store user into its wire form.
func convertUser(u store.User, orgID uuid.UUID) sdk.User {
	roles := make([]sdk.SlimRole, 0, len(u.Roles))
	for _, name := range u.Roles {
		roles = append(roles, sdk.SlimRole{Name: name, DisplayName: authz.DisplayName(name)})
	}
	return sdk.User{
		ID:              u.ID,
		Username:        u.Username,
		Name:            u.Name,
		AvatarURL:       u.AvatarURL,
		Email:           u.Email,
		CreatedAt:       u.CreatedAt,
		UpdatedAt:       u.UpdatedAt,
		LastSeenAt:      u.LastSeenAt,
		Status:          sdk.UserStatus(u.Status),
		LoginType:       sdk.LoginType(u.LoginType),
		OrganizationIDs: []uuid.UUID{orgID},
		Roles:           roles,
	}
}

// writeUser answers with the wire form of u.
func (a *API) writeUser(rw http.ResponseWriter, r *http.Request, status int, u store.User) {
	orgID, err := a.defaultOrgID(r.Context())
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	httpapi.Write(r.Context(), rw, status, convertUser(u, orgID))
}

// @Summary Check whether the first user exists
// @Router /users/first [get]
func (a *API) firstUser(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	n, err := a.opts.Store.CountUsers(ctx)
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("count users: %w", err))
		return
	}
	if n == 0 {
		httpapi.Write(ctx, rw, http.StatusNotFound, sdk.Response{Message: msgFirstUserMissing})
		return
	}
	httpapi.Write(ctx, rw, http.StatusOK, sdk.Response{Message: msgFirstUserExists})
}

// @Summary Create the first user (an owner)
// @Router /users/first [post]
func (a *API) postFirstUser(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var req sdk.CreateFirstUserRequest
	if !httpapi.Read(rw, r, &req) {
		return
	}
	n, err := a.opts.Store.CountUsers(ctx)
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("count users: %w", err))
		return
	}
	if n > 0 {
		httpapi.Write(ctx, rw, http.StatusConflict, sdk.Response{Message: msgFirstUserConflict})
		return
	}
	v := validateUserFields(req.Email, req.Username, req.Name)
	if req.Password == "" {
		v = append(v, tagError("password", "required", ""))
	}
	if len(v) > 0 {
		httpapi.Validation(rw, r, v...)
		return
	}
	if !checkPassword(rw, r, req.Password) {
		return
	}
	hash, err := a.ident.hasher.Hash(req.Password)
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("hash password: %w", err))
		return
	}
	orgID, err := a.defaultOrgID(ctx)
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	now := a.identNow()
	u, err := a.opts.Store.InsertFirstUser(ctx, store.User{
		ID:             uuid.New(),
		Email:          req.Email,
		Username:       req.Username,
		Name:           req.Name,
		HashedPassword: []byte(hash),
		Status:         store.UserStatusActive,
		LoginType:      store.LoginTypePassword,
		Roles:          []string{authz.RoleOwner},
		CreatedAt:      now,
		UpdatedAt:      now,
		LastSeenAt:     now,
	})
	if errors.Is(err, store.ErrConflict) {
		// Another request (or replica) won the race.
		httpapi.Write(ctx, rw, http.StatusConflict, sdk.Response{Message: msgFirstUserConflict})
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("insert first user: %w", err))
		return
	}
	a.opts.Logger.Info("first user created", "user_id", u.ID, "username", u.Username)
	httpapi.Write(ctx, rw, http.StatusCreated, sdk.CreateFirstUserResponse{UserID: u.ID, OrganizationID: orgID})
}

// @Summary Create a user (owners and user-admins)
// @Router /users [post]
func (a *API) postUser(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor := httpmw.Subject(r)
	if !actor.Can(authz.ManageUsers) {
		httpapi.Forbidden(rw, r)
		return
	}
	var req sdk.CreateUserRequest
	if !httpapi.Read(rw, r, &req) {
		return
	}
	v := validateUserFields(req.Email, req.Username, req.Name)
	loginType := store.LoginType(req.LoginType)
	switch loginType {
	case "":
		loginType = store.LoginTypePassword
		fallthrough
	case store.LoginTypePassword:
		if req.Password == "" {
			v = append(v, tagError("password", "required_if", ""))
		}
	case store.LoginTypeNone:
		if req.Password != "" {
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: fmt.Sprintf("Password cannot be set for non-password (%q) authentication.", loginType),
			})
			return
		}
	default:
		v = append(v, tagError("login_type", "oneof", string(req.LoginType)))
	}
	// As in Coder, an account nobody has used yet is dormant; the first
	// login activates it (dormant users can authenticate).
	status := store.UserStatusDormant
	if req.UserStatus != nil {
		switch s := store.UserStatus(*req.UserStatus); s {
		case store.UserStatusActive, store.UserStatusSuspended, store.UserStatusDormant:
			status = s
		default:
			v = append(v, tagError("user_status", "oneof", string(s)))
		}
	}
	if len(v) > 0 {
		httpapi.Validation(rw, r, v...)
		return
	}
	orgID, err := a.defaultOrgID(ctx)
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	for _, id := range req.OrganizationIDs {
		if id != orgID {
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: fmt.Sprintf("Organization does not exist with the provided id %q.", id),
			})
			return
		}
	}
	var hash []byte
	if loginType == store.LoginTypePassword {
		if !checkPassword(rw, r, req.Password) {
			return
		}
		h, err := a.ident.hasher.Hash(req.Password)
		if err != nil {
			httpapi.InternalServerError(rw, r, fmt.Errorf("hash password: %w", err))
			return
		}
		hash = []byte(h)
	}
	now := a.identNow()
	u, err := a.opts.Store.InsertUser(ctx, store.User{
		ID:             uuid.New(),
		Email:          req.Email,
		Username:       req.Username,
		Name:           req.Name,
		HashedPassword: hash,
		Status:         status,
		LoginType:      loginType,
		Roles:          []string{},
		CreatedAt:      now,
		UpdatedAt:      now,
		LastSeenAt:     now,
	})
	if errors.Is(err, store.ErrConflict) {
		resp := sdk.Response{Message: msgUserExists}
		var ce *store.ConflictError
		if errors.As(err, &ce) && ce.Field != "" {
			resp.Validations = []sdk.ValidationError{{Field: ce.Field, Detail: "This value is already in use and should be unique."}}
		}
		httpapi.Write(ctx, rw, http.StatusConflict, resp)
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("insert user: %w", err))
		return
	}
	a.opts.Logger.Info("user created", "user_id", u.ID, "username", u.Username, "by", actor.Username)
	httpapi.Write(ctx, rw, http.StatusCreated, convertUser(u, orgID))
}

// @Summary Get a user by id, username or "me"
// @Router /users/{user} [get]
func (a *API) userByParam(rw http.ResponseWriter, r *http.Request) {
	actor := httpmw.Subject(r)
	u := httpmw.UserParam(r)
	if !actor.Is(u.ID) && !actor.Can(authz.ReadAllUsers) {
		// Like Coder: users one may not read do not exist for them.
		httpapi.ResourceNotFound(rw, r)
		return
	}
	a.writeUser(rw, r, http.StatusOK, u)
}

// parseUserQuery reads Coder's "q" syntax: free text plus key:value terms
// (status:, role:, username:, email:).
func parseUserQuery(q string) (store.UserFilter, []sdk.ValidationError) {
	var f store.UserFilter
	var free []string
	var v []sdk.ValidationError
	for _, term := range strings.Fields(q) {
		key, val, ok := strings.Cut(term, ":")
		if !ok {
			free = append(free, term)
			continue
		}
		switch strings.ToLower(key) {
		case "status":
			switch s := store.UserStatus(strings.ToLower(val)); s {
			case store.UserStatusActive, store.UserStatusSuspended, store.UserStatusDormant:
				f.Status = s
			default:
				v = append(v, sdk.ValidationError{Field: "status", Detail: fmt.Sprintf("%q is not a valid user status", val)})
			}
		case "role":
			f.Role = strings.ToLower(val)
		case "username", "email", "name":
			free = append(free, val)
		default:
			v = append(v, sdk.ValidationError{Field: key, Detail: fmt.Sprintf("%q is not a valid query param", key)})
		}
	}
	f.Search = strings.Join(free, " ")
	return f, v
}

// @Summary List users (owners, auditors and user-admins)
// @Router /users [get]
func (a *API) users(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	actor := httpmw.Subject(r)
	if !actor.Can(authz.ReadAllUsers) {
		httpapi.Forbidden(rw, r)
		return
	}
	query := r.URL.Query()
	f, v := parseUserQuery(query.Get("q"))
	intParam := func(name string) int {
		s := query.Get(name)
		if s == "" {
			return 0
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			v = append(v, sdk.ValidationError{Field: name, Detail: fmt.Sprintf("Query param %q must be a valid non-negative integer (%q)", name, s)})
			return 0
		}
		return n
	}
	f.Offset = intParam("offset")
	f.Limit = intParam("limit")
	if s := query.Get("after_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			v = append(v, sdk.ValidationError{Field: "after_id", Detail: fmt.Sprintf("Query param %q must be a valid uuid", "after_id")})
		}
		f.AfterID = id
	}
	if len(v) > 0 {
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{Message: msgInvalidQueryParams, Validations: v})
		return
	}
	list, count, err := a.opts.Store.ListUsers(ctx, f)
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("list users: %w", err))
		return
	}
	orgID, err := a.defaultOrgID(ctx)
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	out := sdk.GetUsersResponse{Users: make([]sdk.User, 0, len(list)), Count: int(count)}
	for _, u := range list {
		out.Users = append(out.Users, convertUser(u, orgID))
	}
	httpapi.Write(ctx, rw, http.StatusOK, out)
}

// authorizeUserChange checks that the caller may manage the target user and
// is not acting on themselves; on failure it has answered.
func (a *API) authorizeUserChange(rw http.ResponseWriter, r *http.Request, target store.User, selfMessage string, selfStatus int) bool {
	actor := httpmw.Subject(r)
	if !actor.CanActOnUser(target.Roles) {
		httpapi.Forbidden(rw, r)
		return false
	}
	if actor.Is(target.ID) {
		httpapi.Write(r.Context(), rw, selfStatus, sdk.Response{Message: selfMessage})
		return false
	}
	return true
}

func (a *API) putUserStatus(status store.UserStatus) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		target := httpmw.UserParam(r)
		verb := "suspend"
		if status == store.UserStatusActive {
			verb = "activate"
		}
		if !a.authorizeUserChange(rw, r, target, fmt.Sprintf("You cannot %s yourself.", verb), http.StatusBadRequest) {
			return
		}
		// Owners cannot be suspended at all (Coder's rule): demote first, so
		// locking out an owner is always a deliberate two-step change.
		if status == store.UserStatusSuspended && slices.Contains(target.Roles, authz.RoleOwner) {
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: fmt.Sprintf("You cannot suspend a user with the %q role. You must remove the role first.", authz.RoleOwner),
			})
			return
		}
		u, err := a.opts.Store.UpdateUser(ctx, target.ID, store.UserUpdate{Status: &status})
		if err != nil {
			httpapi.InternalServerError(rw, r, fmt.Errorf("update user status: %w", err))
			return
		}
		a.ident.authn.InvalidateUser(target.ID)
		a.opts.Logger.Info("user status changed", "user_id", u.ID, "status", status, "by", httpmw.Identity(r).Username)
		a.writeUser(rw, r, http.StatusOK, u)
	}
}

// @Summary Replace a user's site roles
// @Router /users/{user}/roles [put]
func (a *API) putUserRoles(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !a.authorizeUserChange(rw, r, target, "You cannot change your own roles.", http.StatusBadRequest) {
		return
	}
	var req sdk.UpdateRoles
	if !httpapi.Read(rw, r, &req) {
		return
	}
	next := make([]string, 0, len(req.Roles))
	for _, name := range req.Roles {
		if !authz.IsSiteRole(name) {
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: fmt.Sprintf("Invalid role %q.", name),
				Detail:  "Site roles are " + strings.Join(authz.SiteRoles(), ", ") + ".",
			})
			return
		}
		if name != authz.RoleMember && !slices.Contains(next, name) {
			next = append(next, name)
		}
	}
	slices.Sort(next)
	// Every role that changes hands must be one the caller may assign.
	actor := httpmw.Subject(r)
	for _, name := range authz.SiteRoles() {
		if slices.Contains(next, name) != slices.Contains(target.Roles, name) && !actor.CanAssignRole(name) {
			httpapi.Write(ctx, rw, http.StatusForbidden, sdk.Response{
				Message: httpapi.MsgForbidden,
				Detail:  fmt.Sprintf("You are not allowed to assign or remove the role %q.", name),
			})
			return
		}
	}
	u, err := a.opts.Store.UpdateUser(ctx, target.ID, store.UserUpdate{Roles: &next})
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("update user roles: %w", err))
		return
	}
	a.ident.authn.InvalidateUser(target.ID)
	a.opts.Logger.Info("user roles changed", "user_id", u.ID, "roles", next, "by", actor.Username)
	a.writeUser(rw, r, http.StatusOK, u)
}

// @Summary Delete a user (soft delete; their tokens stop working)
// @Router /users/{user} [delete]
func (a *API) deleteUser(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !a.authorizeUserChange(rw, r, target, "You cannot delete yourself!", http.StatusForbidden) {
		return
	}
	deleted := true
	if _, err := a.opts.Store.UpdateUser(ctx, target.ID, store.UserUpdate{Deleted: &deleted}); err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("delete user: %w", err))
		return
	}
	// Invalidate before removing keys, and again after: the user row
	// already says deleted, so a reload in between cannot revive a key.
	a.ident.authn.InvalidateUser(target.ID)
	if _, err := a.opts.Store.DeleteAPIKeysByUser(ctx, target.ID); err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("delete api keys of deleted user: %w", err))
		return
	}
	a.ident.authn.InvalidateUser(target.ID)
	a.opts.Logger.Info("user deleted", "user_id", target.ID, "username", target.Username, "by", httpmw.Identity(r).Username)
	httpapi.Write(ctx, rw, http.StatusOK, sdk.Response{Message: "User has been deleted!"})
}
