package sdk

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// SessionTokenCookie is the cookie that carries a browser session.
const SessionTokenCookie = "coder_session_token"

// Me names the signed-in user in /users/{user} paths.
const Me = "me"

// UserStatus is the lifecycle state of a user.
type UserStatus string

const (
	UserStatusActive    UserStatus = "active"
	UserStatusSuspended UserStatus = "suspended"
	UserStatusDormant   UserStatus = "dormant"
)

// LoginType says how a user or an API key authenticates.
type LoginType string

const (
	LoginTypePassword LoginType = "password"
	LoginTypeGithub   LoginType = "github"
	LoginTypeOIDC     LoginType = "oidc"
	LoginTypeToken    LoginType = "token"
	LoginTypeNone     LoginType = "none"
)

// Site role names.
const (
	RoleOwner     = "owner"
	RoleAuditor   = "auditor"
	RoleUserAdmin = "user-admin"
	RoleMember    = "member"
)

// SlimRole is a role as users carry it.
type SlimRole struct {
	Name           string `json:"name"`
	DisplayName    string `json:"display_name"`
	OrganizationID string `json:"organization_id,omitempty"`
}

// User is a user as the API returns it (Coder's codersdk.User).
type User struct {
	ID              uuid.UUID   `json:"id"`
	Username        string      `json:"username"`
	Name            string      `json:"name,omitempty"`
	AvatarURL       string      `json:"avatar_url,omitempty"`
	Email           string      `json:"email"`
	CreatedAt       time.Time   `json:"created_at"`
	UpdatedAt       time.Time   `json:"updated_at"`
	LastSeenAt      time.Time   `json:"last_seen_at,omitempty"`
	Status          UserStatus  `json:"status"`
	LoginType       LoginType   `json:"login_type"`
	OrganizationIDs []uuid.UUID `json:"organization_ids"`
	Roles           []SlimRole  `json:"roles"`
	HasAISeat       bool        `json:"has_ai_seat"`
}

// GetUsersResponse is a page of users and the total that matched.
type GetUsersResponse struct {
	Users []User `json:"users"`
	Count int    `json:"count"`
}

// CreateFirstUserRequest sets up the first (owner) account.
type CreateFirstUserRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
	// Trial and TrialInfo are accepted for Coder CLI compatibility and ignored.
	Trial     bool            `json:"trial"`
	TrialInfo *map[string]any `json:"trial_info,omitempty"`
}

// CreateFirstUserResponse names the new owner and the default organization.
type CreateFirstUserResponse struct {
	UserID         uuid.UUID `json:"user_id"`
	OrganizationID uuid.UUID `json:"organization_id"`
}

// CreateUserRequest creates a user (Coder's CreateUserRequestWithOrgs).
type CreateUserRequest struct {
	Email    string `json:"email"`
	Username string `json:"username"`
	Name     string `json:"name"`
	Password string `json:"password"`
	// LoginType defaults to "password".
	LoginType LoginType `json:"login_type,omitempty"`
	// UserStatus defaults to dormant (active after the first login).
	UserStatus      *UserStatus `json:"user_status,omitempty"`
	OrganizationIDs []uuid.UUID `json:"organization_ids,omitempty"`
}

// UpdateRoles replaces a user's site roles.
type UpdateRoles struct {
	Roles []string `json:"roles"`
}

// LoginWithPasswordRequest signs in with email and password.
type LoginWithPasswordRequest struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

// LoginWithPasswordResponse carries the new session token.
type LoginWithPasswordResponse struct {
	SessionToken string `json:"session_token"`
}

// UsersRequest filters GET /users.
type UsersRequest struct {
	// Search is Coder's query syntax: free text plus "status:<s>" and
	// "role:<r>" terms.
	Search  string
	AfterID uuid.UUID
	Offset  int
	Limit   int
}

// HasFirstUser reports whether the deployment has been set up. A 404 counts
// as "no" only when it comes from a gantry or Coder server.
func (c *Client) HasFirstUser(ctx context.Context) (bool, error) {
	resp, err := c.Request(ctx, http.MethodGet, "/api/v2/users/first", nil)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusOK:
		return true, nil
	case http.StatusNotFound:
		if resp.Header.Get(BuildVersionHeader) == "" {
			return false, fmt.Errorf("missing build version header, not a coder instance")
		}
		return false, nil
	default:
		return false, ReadBodyAsError(resp)
	}
}

// CreateFirstUser creates the first user, who becomes an owner.
func (c *Client) CreateFirstUser(ctx context.Context, req CreateFirstUserRequest) (CreateFirstUserResponse, error) {
	var out CreateFirstUserResponse
	err := c.do(ctx, http.MethodPost, "/api/v2/users/first", req, http.StatusCreated, &out)
	return out, err
}

// LoginWithPassword exchanges credentials for a session token. It does not
// store the token on the client.
func (c *Client) LoginWithPassword(ctx context.Context, req LoginWithPasswordRequest) (LoginWithPasswordResponse, error) {
	var out LoginWithPasswordResponse
	err := c.do(ctx, http.MethodPost, "/api/v2/users/login", req, http.StatusCreated, &out)
	return out, err
}

// Logout ends the current session (deletes its API key).
func (c *Client) Logout(ctx context.Context) error {
	return c.do(ctx, http.MethodPost, "/api/v2/users/logout", nil, http.StatusOK, nil)
}

// User returns a user by id, username or "me".
func (c *Client) User(ctx context.Context, user string) (User, error) {
	var out User
	err := c.do(ctx, http.MethodGet, "/api/v2/users/"+url.PathEscape(user), nil, http.StatusOK, &out)
	return out, err
}

// Users lists users.
func (c *Client) Users(ctx context.Context, req UsersRequest) (GetUsersResponse, error) {
	q := url.Values{}
	if req.Search != "" {
		q.Set("q", req.Search)
	}
	if req.AfterID != uuid.Nil {
		q.Set("after_id", req.AfterID.String())
	}
	if req.Offset > 0 {
		q.Set("offset", strconv.Itoa(req.Offset))
	}
	if req.Limit > 0 {
		q.Set("limit", strconv.Itoa(req.Limit))
	}
	path := "/api/v2/users"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out GetUsersResponse
	err := c.do(ctx, http.MethodGet, path, nil, http.StatusOK, &out)
	return out, err
}

// CreateUser creates a user (owners and user-admins).
func (c *Client) CreateUser(ctx context.Context, req CreateUserRequest) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPost, "/api/v2/users", req, http.StatusCreated, &out)
	return out, err
}

// UpdateUserStatus suspends or activates a user.
func (c *Client) UpdateUserStatus(ctx context.Context, user string, status UserStatus) (User, error) {
	var verb string
	switch status {
	case UserStatusActive:
		verb = "activate"
	case UserStatusSuspended:
		verb = "suspend"
	default:
		return User{}, fmt.Errorf("status %q cannot be set", status)
	}
	var out User
	err := c.do(ctx, http.MethodPut, "/api/v2/users/"+url.PathEscape(user)+"/status/"+verb, nil, http.StatusOK, &out)
	return out, err
}

// UpdateUserRoles replaces a user's site roles.
func (c *Client) UpdateUserRoles(ctx context.Context, user string, req UpdateRoles) (User, error) {
	var out User
	err := c.do(ctx, http.MethodPut, "/api/v2/users/"+url.PathEscape(user)+"/roles", req, http.StatusOK, &out)
	return out, err
}

// DeleteUser soft-deletes a user; their tokens stop working.
func (c *Client) DeleteUser(ctx context.Context, user string) error {
	return c.do(ctx, http.MethodDelete, "/api/v2/users/"+url.PathEscape(user), nil, http.StatusOK, nil)
}
