package api

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"gantry/internal/apikey"
	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/sdk"
)

const msgCreateKeyValidation = "Failed to validate create API key request."

// validTokenName accepts what Coder accepts (any name) minus what cannot
// travel in the /keys/tokens/{keyname} path segment or display sanely: at
// most 64 characters, no "/" and no control characters.
func validTokenName(name string) bool {
	if name == "" || utf8.RuneCountInString(name) > 64 || !utf8.ValidString(name) {
		return false
	}
	for _, r := range name {
		if r == '/' || unicode.IsControl(r) {
			return false
		}
	}
	return true
}

// newKeyParams describe a key to create.
type newKeyParams struct {
	userID    uuid.UUID
	loginType store.LoginType
	lifetime  time.Duration
	tokenName string
	scopes    []string
	ip        string
}

// createKey generates and stores a key; the returned token string is the
// only copy of the secret.
func (a *API) createKey(ctx context.Context, p newKeyParams) (string, store.APIKey, error) {
	scopes := p.scopes
	if len(scopes) == 0 {
		scopes = []string{sdk.APIKeyScopeCoderAll}
	}
	// A duplicate id is astronomically unlikely (62^10); retry once anyway
	// rather than fail the user.
	for attempt := 0; ; attempt++ {
		tok, err := apikey.Generate()
		if err != nil {
			return "", store.APIKey{}, err
		}
		now := a.identNow()
		k, err := a.opts.Store.InsertAPIKey(ctx, store.APIKey{
			ID:              tok.ID,
			HashedSecret:    tok.HashedSecret,
			UserID:          p.userID,
			LastUsed:        time.Unix(0, 0).UTC(),
			ExpiresAt:       now.Add(p.lifetime),
			CreatedAt:       now,
			UpdatedAt:       now,
			LoginType:       p.loginType,
			LifetimeSeconds: int64(p.lifetime / time.Second),
			IPAddress:       p.ip,
			TokenName:       p.tokenName,
			Scopes:          scopes,
			AllowList:       []string{sdk.APIKeyAllowListWildcard},
		})
		var ce *store.ConflictError
		if attempt == 0 && errors.As(err, &ce) && ce.Field == "id" {
			continue
		}
		if err != nil {
			return "", store.APIKey{}, fmt.Errorf("insert api key: %w", err)
		}
		return tok.String(), k, nil
	}
}

func convertAPIKey(k store.APIKey) sdk.APIKey {
	lastUsed := k.LastUsed
	if lastUsed.IsZero() {
		lastUsed = time.Unix(0, 0).UTC()
	}
	scopes := k.Scopes
	if scopes == nil {
		scopes = []string{}
	}
	allow := k.AllowList
	if allow == nil {
		allow = []string{}
	}
	// The legacy single scope: "all" unless the key is limited to
	// application access.
	scope := sdk.APIKeyScopeAll
	if len(scopes) == 1 && scopes[0] == "coder:application_connect" {
		scope = "application_connect"
	}
	return sdk.APIKey{
		ID:              k.ID,
		UserID:          k.UserID,
		LastUsed:        lastUsed,
		ExpiresAt:       k.ExpiresAt,
		CreatedAt:       k.CreatedAt,
		UpdatedAt:       k.UpdatedAt,
		LoginType:       sdk.LoginType(k.LoginType),
		Scope:           scope,
		Scopes:          scopes,
		TokenName:       k.TokenName,
		LifetimeSeconds: k.LifetimeSeconds,
		AllowList:       allow,
	}
}

// canManageKeysOf reports whether the caller may act on target's keys:
// their own, or anyone's for owners.
func canManageKeysOf(r *http.Request, target store.User) bool {
	actor := httpmw.Subject(r)
	return actor.Is(target.ID) || actor.Can(authz.ManageAllAPIKeys)
}

// maxTokenLifetime picks the cap for the target user's tokens: owners get
// the admin maximum (spec §3.6).
func (a *API) maxTokenLifetime(target store.User) time.Duration {
	if (authz.Subject{Roles: target.Roles}).IsOwner() {
		return a.ident.opts.MaxAdminTokenLifetime
	}
	return a.ident.opts.MaxTokenLifetime
}

// @Summary Create a session key for a user (used by `coder login --token`)
// @Router /users/{user}/keys [post]
func (a *API) postAPIKey(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.Forbidden(rw, r)
		return
	}
	token, _, err := a.createKey(ctx, newKeyParams{
		userID:    target.ID,
		loginType: store.LoginTypePassword,
		lifetime:  a.ident.opts.DefaultTokenLifetime,
		ip:        clientIP(r),
	})
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	httpapi.Write(ctx, rw, http.StatusCreated, sdk.GenerateAPIKeyResponse{Key: token})
}

// @Summary Create a named API token
// @Router /users/{user}/keys/tokens [post]
func (a *API) postToken(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.Forbidden(rw, r)
		return
	}
	var req createTokenRequest
	if !httpapi.Read(rw, r, &req) {
		return
	}
	name := req.TokenName
	if name == "" {
		name = randomTokenName()
	}
	if !validTokenName(name) {
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
			Message:     msgCreateKeyValidation,
			Detail:      fmt.Sprintf("token name %q is invalid: at most 64 characters, without \"/\" or control characters", name),
			Validations: []sdk.ValidationError{tagError("token_name", "token_name", name)},
		})
		return
	}
	lifetime := a.ident.opts.DefaultTokenLifetime
	if req.Lifetime != 0 {
		maxLifetime := a.maxTokenLifetime(target)
		switch {
		case req.Lifetime < 0:
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: msgCreateKeyValidation,
				Detail:  "lifetime must be positive number greater than 0",
			})
			return
		case req.Lifetime > maxLifetime:
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: msgCreateKeyValidation,
				Detail:  fmt.Sprintf("lifetime must be less than %v", maxLifetime),
			})
			return
		}
		lifetime = req.Lifetime
	}
	if detail := req.unsupported(); detail != "" {
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{Message: "Failed to create API key.", Detail: detail})
		return
	}
	scopes := []string{sdk.APIKeyScopeCoderAll}
	token, _, err := a.createKey(ctx, newKeyParams{
		userID:    target.ID,
		loginType: store.LoginTypeToken,
		lifetime:  lifetime,
		tokenName: name,
		scopes:    scopes,
		ip:        clientIP(r),
	})
	if errors.Is(err, store.ErrConflict) {
		httpapi.Write(ctx, rw, http.StatusConflict, sdk.Response{
			Message:     fmt.Sprintf("A token with name %q already exists.", name),
			Validations: []sdk.ValidationError{{Field: "name", Detail: "This value is already in use and should be unique."}},
		})
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, err)
		return
	}
	a.opts.Logger.Info("api token created", "user_id", target.ID, "token_name", name, "lifetime", lifetime)
	httpapi.Write(ctx, rw, http.StatusCreated, sdk.GenerateAPIKeyResponse{Key: token})
}

// createTokenRequest is sdk.CreateTokenRequest as the server reads it: the
// allow list may arrive as "type:id" strings or as {"type","id"} objects,
// depending on the client's version.
type createTokenRequest struct {
	Lifetime  time.Duration     `json:"lifetime"`
	Scope     string            `json:"scope"`
	Scopes    []string          `json:"scopes"`
	TokenName string            `json:"token_name"`
	AllowList []json.RawMessage `json:"allow_list"`
}

// unsupported explains why the request asks for something gantry cannot
// honour, or returns "". gantry enforces no scopes or allow lists, so it
// accepts only the unrestricted ones: storing a narrower scope it would not
// enforce would make the token look safer than it is.
func (req createTokenRequest) unsupported() string {
	if req.Scope != "" && req.Scope != sdk.APIKeyScopeAll {
		return fmt.Sprintf("invalid or unsupported API key scope: %q (gantry tokens have the %q scope)", req.Scope, sdk.APIKeyScopeAll)
	}
	for _, s := range req.Scopes {
		if s != sdk.APIKeyScopeCoderAll && s != sdk.APIKeyScopeAll {
			return fmt.Sprintf("invalid or unsupported API key scope: %q (gantry tokens have the %q scope)", s, sdk.APIKeyScopeCoderAll)
		}
	}
	for _, raw := range req.AllowList {
		var str string
		var obj struct{ Type, ID string }
		switch {
		case json.Unmarshal(raw, &str) == nil && str == sdk.APIKeyAllowListWildcard:
		case json.Unmarshal(raw, &obj) == nil && obj.Type == "*" && obj.ID == "*":
		default:
			return fmt.Sprintf("allow list entry %s is not supported; gantry tokens allow %q", raw, sdk.APIKeyAllowListWildcard)
		}
	}
	return ""
}

func randomTokenName() string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = letters[int(b[i])%len(letters)]
	}
	return "token-" + string(b)
}

func boolQuery(r *http.Request, name string, v *[]sdk.ValidationError) bool {
	s := r.URL.Query().Get(name)
	if s == "" {
		return false
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		*v = append(*v, sdk.ValidationError{Field: name, Detail: fmt.Sprintf("Query param %q must be a valid boolean (%q)", name, s)})
	}
	return b
}

// @Summary List a user's API tokens
// @Router /users/{user}/keys/tokens [get]
func (a *API) tokens(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	var v []sdk.ValidationError
	includeAll := boolQuery(r, "include_all", &v)
	includeExpired := boolQuery(r, "include_expired", &v)
	if len(v) > 0 {
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{Message: msgInvalidQueryParams, Validations: v})
		return
	}
	f := store.APIKeyFilter{UserID: target.ID, LoginType: store.LoginTypeToken, IncludeExpired: includeExpired, Now: a.identNow()}
	// include_all widens the list to every user for those who may see
	// every key; for anyone else it is ignored, as in Coder.
	if includeAll && httpmw.Subject(r).Can(authz.ManageAllAPIKeys) {
		f.UserID = uuid.Nil
	}
	keys, err := a.opts.Store.ListAPIKeys(ctx, f)
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("list api keys: %w", err))
		return
	}
	usernames := map[uuid.UUID]string{target.ID: target.Username}
	out := make([]sdk.APIKeyWithOwner, 0, len(keys))
	for _, k := range keys {
		name, ok := usernames[k.UserID]
		if !ok {
			u, err := a.opts.Store.GetUserByID(ctx, k.UserID)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				httpapi.InternalServerError(rw, r, fmt.Errorf("get token owner: %w", err))
				return
			}
			name = u.Username
			usernames[k.UserID] = name
		}
		out = append(out, sdk.APIKeyWithOwner{APIKey: convertAPIKey(k), Username: name})
	}
	httpapi.Write(ctx, rw, http.StatusOK, out)
}

// @Summary Get a user's API token by name
// @Router /users/{user}/keys/tokens/{keyname} [get]
func (a *API) apiKeyByName(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	k, err := a.opts.Store.GetAPIKeyByName(ctx, target.ID, chi.URLParam(r, "keyname"))
	if errors.Is(err, store.ErrNotFound) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("get api key by name: %w", err))
		return
	}
	httpapi.Write(ctx, rw, http.StatusOK, convertAPIKey(k))
}

// keyOfParam loads {keyid} and checks it belongs to {user}; on failure it
// has answered 404.
func (a *API) keyOfParam(rw http.ResponseWriter, r *http.Request, target store.User) (store.APIKey, bool) {
	k, err := a.opts.Store.GetAPIKeyByID(r.Context(), chi.URLParam(r, "keyid"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && k.UserID != target.ID) {
		httpapi.ResourceNotFound(rw, r)
		return store.APIKey{}, false
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("get api key: %w", err))
		return store.APIKey{}, false
	}
	return k, true
}

// managedKeyParam resolves {keyid} of {user} for a caller allowed to change
// that user's keys; when ok is false it has answered (403 or 404).
func (a *API) managedKeyParam(rw http.ResponseWriter, r *http.Request) (store.User, store.APIKey, bool) {
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.Forbidden(rw, r)
		return store.User{}, store.APIKey{}, false
	}
	k, ok := a.keyOfParam(rw, r, target)
	return target, k, ok
}

// @Summary Get one of a user's keys by id
// @Router /users/{user}/keys/{keyid} [get]
func (a *API) apiKeyByID(rw http.ResponseWriter, r *http.Request) {
	target := httpmw.UserParam(r)
	if !canManageKeysOf(r, target) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	k, ok := a.keyOfParam(rw, r, target)
	if !ok {
		return
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, convertAPIKey(k))
}

// @Summary Delete one of a user's keys
// @Router /users/{user}/keys/{keyid} [delete]
func (a *API) deleteAPIKey(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, k, ok := a.managedKeyParam(rw, r)
	if !ok {
		return
	}
	err := a.opts.Store.DeleteAPIKey(ctx, k.ID)
	a.ident.authn.InvalidateKey(k.ID)
	if errors.Is(err, store.ErrNotFound) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("delete api key: %w", err))
		return
	}
	a.opts.Logger.Info("api key deleted", "api_key_id", k.ID, "user_id", target.ID, "by", httpmw.Identity(r).Username)
	rw.WriteHeader(http.StatusNoContent)
}

// @Summary Get the token lifetime policy for a user
// @Router /users/{user}/keys/tokens/tokenconfig [get]
func (a *API) tokenConfig(rw http.ResponseWriter, r *http.Request) {
	// No authorization beyond authentication, as in Coder: the policy is
	// not secret.
	target := httpmw.UserParam(r)
	httpapi.Write(r.Context(), rw, http.StatusOK, sdk.TokenConfig{MaxTokenLifetime: a.maxTokenLifetime(target)})
}

// @Summary Expire one of a user's keys (what `coder tokens remove` does)
// @Router /users/{user}/keys/{keyid}/expire [put]
func (a *API) expireAPIKey(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	target, k, ok := a.managedKeyParam(rw, r)
	if !ok {
		return
	}
	now := a.identNow()
	if !k.ExpiresAt.After(now) {
		rw.WriteHeader(http.StatusNoContent) // already expired
		return
	}
	if err := a.ident.authn.ForgetKey(ctx, k.ID); err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("wait for api key usage write: %w", err))
		return
	}
	err := a.opts.Store.UpdateAPIKeyUsage(ctx, k.ID, store.APIKeyUsage{LastUsed: k.LastUsed, ExpiresAt: now, IPAddress: k.IPAddress})
	a.ident.authn.InvalidateKey(k.ID)
	if errors.Is(err, store.ErrNotFound) {
		httpapi.ResourceNotFound(rw, r)
		return
	}
	if err != nil {
		httpapi.InternalServerError(rw, r, fmt.Errorf("expire api key: %w", err))
		return
	}
	a.opts.Logger.Info("api key expired", "api_key_id", k.ID, "user_id", target.ID, "by", httpmw.Identity(r).Username)
	rw.WriteHeader(http.StatusNoContent)
}
