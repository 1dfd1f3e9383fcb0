package sdk

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/google/uuid"
)

// API key scopes. Scope is the legacy single value, Scopes the current list.
const (
	APIKeyScopeAll          = "all"
	APIKeyScopeCoderAll     = "coder:all"
	APIKeyAllowListWildcard = "*:*"
)

// APIKey describes a session or token; the secret is never included.
type APIKey struct {
	ID              string    `json:"id"`
	UserID          uuid.UUID `json:"user_id"`
	LastUsed        time.Time `json:"last_used"`
	ExpiresAt       time.Time `json:"expires_at"`
	CreatedAt       time.Time `json:"created_at"`
	UpdatedAt       time.Time `json:"updated_at"`
	LoginType       LoginType `json:"login_type"`
	Scope           string    `json:"scope"`
	Scopes          []string  `json:"scopes"`
	TokenName       string    `json:"token_name"`
	LifetimeSeconds int64     `json:"lifetime_seconds"`
	AllowList       []string  `json:"allow_list"`
}

// APIKeyWithOwner is a token as listed, with its owner's username.
type APIKeyWithOwner struct {
	APIKey
	Username string `json:"username"`
}

// CreateTokenRequest creates a named API token. A zero Lifetime means the
// deployment's default token lifetime.
type CreateTokenRequest struct {
	Lifetime  time.Duration `json:"lifetime"`
	Scope     string        `json:"scope,omitempty"`
	Scopes    []string      `json:"scopes,omitempty"`
	TokenName string        `json:"token_name"`
	AllowList []string      `json:"allow_list,omitempty"`
}

// GenerateAPIKeyResponse carries a new token; it is shown exactly once.
type GenerateAPIKeyResponse struct {
	Key string `json:"key"`
}

// TokenConfig is the lifetime policy for a user's tokens.
type TokenConfig struct {
	MaxTokenLifetime time.Duration `json:"max_token_lifetime"`
}

// TokensFilter narrows Tokens.
type TokensFilter struct {
	// IncludeAll lists every user's tokens (owners only).
	IncludeAll bool
	// IncludeExpired includes expired tokens.
	IncludeExpired bool
}

func keysPath(user string) string { return "/api/v2/users/" + url.PathEscape(user) + "/keys" }

// CreateAPIKey creates a session-like key for user with the default token
// lifetime (what `coder login --token` asks for).
func (c *Client) CreateAPIKey(ctx context.Context, user string) (GenerateAPIKeyResponse, error) {
	var out GenerateAPIKeyResponse
	err := c.do(ctx, http.MethodPost, keysPath(user), nil, http.StatusCreated, &out)
	return out, err
}

// CreateToken creates a named API token.
func (c *Client) CreateToken(ctx context.Context, user string, req CreateTokenRequest) (GenerateAPIKeyResponse, error) {
	var out GenerateAPIKeyResponse
	err := c.do(ctx, http.MethodPost, keysPath(user)+"/tokens", req, http.StatusCreated, &out)
	return out, err
}

// Tokens lists a user's named tokens.
func (c *Client) Tokens(ctx context.Context, user string, f TokensFilter) ([]APIKeyWithOwner, error) {
	q := url.Values{}
	q.Set("include_all", strconv.FormatBool(f.IncludeAll))
	q.Set("include_expired", strconv.FormatBool(f.IncludeExpired))
	var out []APIKeyWithOwner
	err := c.do(ctx, http.MethodGet, keysPath(user)+"/tokens?"+q.Encode(), nil, http.StatusOK, &out)
	return out, err
}

// APIKeyByName returns a user's token by name.
func (c *Client) APIKeyByName(ctx context.Context, user, name string) (APIKey, error) {
	var out APIKey
	err := c.do(ctx, http.MethodGet, keysPath(user)+"/tokens/"+url.PathEscape(name), nil, http.StatusOK, &out)
	return out, err
}

// APIKeyByID returns one of a user's keys by id.
func (c *Client) APIKeyByID(ctx context.Context, user, id string) (APIKey, error) {
	var out APIKey
	err := c.do(ctx, http.MethodGet, keysPath(user)+"/"+url.PathEscape(id), nil, http.StatusOK, &out)
	return out, err
}

// DeleteAPIKey deletes one of a user's keys; it stops working at once.
func (c *Client) DeleteAPIKey(ctx context.Context, user, id string) error {
	return c.do(ctx, http.MethodDelete, keysPath(user)+"/"+url.PathEscape(id), nil, http.StatusNoContent, nil)
}

// GetTokenConfig returns the maximum token lifetime for user.
func (c *Client) GetTokenConfig(ctx context.Context, user string) (TokenConfig, error) {
	var out TokenConfig
	err := c.do(ctx, http.MethodGet, keysPath(user)+"/tokens/tokenconfig", nil, http.StatusOK, &out)
	return out, err
}

// ExpireAPIKey makes one of a user's keys expire now; unlike DeleteAPIKey
// the key stays listed (with include_expired).
func (c *Client) ExpireAPIKey(ctx context.Context, user, id string) error {
	return c.do(ctx, http.MethodPut, keysPath(user)+"/"+url.PathEscape(id)+"/expire", nil, http.StatusNoContent, nil)
}
