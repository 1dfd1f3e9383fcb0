package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/google/uuid"

	"gantry/internal/authn"
	"gantry/internal/httpmw"
	"gantry/internal/userpassword"
)

// IdentityOptions configure users, sessions and API keys. Zero values take
// Coder's defaults (spec §3.5).
type IdentityOptions struct {
	// AccessURL is the deployment's public URL: it picks the default for
	// SecureCookie and is advertised in WWW-Authenticate.
	AccessURL *url.URL
	// SessionDuration is the lifetime of password-login sessions
	// (--session-duration, default 24h).
	SessionDuration time.Duration
	// DefaultTokenLifetime is used for tokens created without a lifetime and
	// for the CLI session key (--default-token-lifetime, default 7d).
	DefaultTokenLifetime time.Duration
	// MaxTokenLifetime bounds tokens of non-owners (--max-token-lifetime,
	// default 876600h).
	MaxTokenLifetime time.Duration
	// MaxAdminTokenLifetime bounds tokens of owners
	// (--max-admin-token-lifetime, default 7d).
	MaxAdminTokenLifetime time.Duration
	// DisableExpiryRefresh stops the sliding expiry
	// (--disable-session-expiry-refresh).
	DisableExpiryRefresh bool
	// DisablePasswordAuth refuses password login to everyone but owners
	// (--disable-password-auth).
	DisablePasswordAuth bool
	// SecureCookie sets Secure on the session cookie (--secure-auth-cookie).
	// Nil means "true iff the access URL is https".
	SecureCookie *bool
	// SameSite is "lax" (default) or "none" (--samesite-auth-cookie).
	SameSite string
	// HostPrefixCookie names the cookie "__Host-coder_session_token"
	// (--host-prefix-cookie); it implies Secure.
	HostPrefixCookie bool

	// Authenticator, when set, is shared with other components (the AI
	// Bridge gateway) so invalidations reach every cache in the process; its
	// owner closes it. When nil the API builds one and API.Close closes it.
	Authenticator *authn.Authenticator
	// AuthCacheTTL is the token cache lifetime, the cross-replica staleness
	// bound (default 5s). Used only when the API builds the Authenticator.
	AuthCacheTTL time.Duration
	// PasswordParams are the argon2id costs for new hashes (zero: defaults).
	PasswordParams userpassword.Params
	// LoginThrottle configures failed-login throttling (zero: defaults).
	LoginThrottle authn.ThrottleOptions
}

func (o IdentityOptions) withDefaults() IdentityOptions {
	if o.SessionDuration <= 0 {
		o.SessionDuration = 24 * time.Hour
	}
	if o.DefaultTokenLifetime <= 0 {
		o.DefaultTokenLifetime = 7 * 24 * time.Hour
	}
	if o.MaxTokenLifetime <= 0 {
		o.MaxTokenLifetime = 876600 * time.Hour
	}
	if o.MaxAdminTokenLifetime <= 0 {
		o.MaxAdminTokenLifetime = 7 * 24 * time.Hour
	}
	if o.SameSite == "" {
		o.SameSite = "lax"
	}
	return o
}

// identityState is the runtime side of IdentityOptions.
type identityState struct {
	opts      IdentityOptions
	authn     *authn.Authenticator
	ownsAuthn bool
	throttle  *authn.LoginThrottle
	hasher    *userpassword.Hasher
	apiKeyMW  func(http.Handler) http.Handler

	orgMu sync.Mutex
	orgID uuid.UUID
}

func newIdentityState(o Options) *identityState {
	io := o.Identity.withDefaults()
	s := &identityState{
		opts:     io,
		authn:    io.Authenticator,
		throttle: authn.NewLoginThrottle(io.LoginThrottle),
		hasher:   userpassword.NewHasher(io.PasswordParams),
	}
	if s.authn == nil {
		s.ownsAuthn = true
		s.authn = authn.New(authn.Options{
			Store:                o.Store,
			Logger:               o.Logger,
			Now:                  o.Now,
			CacheTTL:             io.AuthCacheTTL,
			DisableExpiryRefresh: io.DisableExpiryRefresh,
		})
	}
	cfg := httpmw.APIKeyConfig{Authenticator: s.authn}
	if io.AccessURL != nil {
		cfg.ResourceMetadataURL = io.AccessURL.JoinPath("/.well-known/oauth-protected-resource").String()
	}
	s.apiKeyMW = httpmw.ExtractAPIKey(cfg)
	return s
}

// Authenticator returns the token validator the API uses, so the composition
// root can share it (and its cache) with the AI Bridge gateway.
func (a *API) Authenticator() *authn.Authenticator { return a.ident.authn }

// apiKey is the required API-key middleware.
func (a *API) apiKey(next http.Handler) http.Handler { return a.ident.apiKeyMW(next) }

func (s *identityState) close() {
	if s.ownsAuthn {
		s.authn.Close()
	}
}

// cookie builds the session cookie for token ("" clears it).
func (s *identityState) cookie(token string) *http.Cookie {
	name := httpmw.SessionTokenCookie
	secure := s.opts.AccessURL != nil && s.opts.AccessURL.Scheme == "https"
	if s.opts.SecureCookie != nil {
		secure = *s.opts.SecureCookie
	}
	if s.opts.HostPrefixCookie {
		name = "__Host-" + name
		secure = true // browsers reject __Host- cookies without Secure
	}
	c := &http.Cookie{
		Name:     name,
		Value:    token,
		Path:     "/",
		HttpOnly: true,
		Secure:   secure,
		SameSite: http.SameSiteLaxMode,
	}
	if s.opts.SameSite == "none" {
		c.SameSite = http.SameSiteNoneMode
	}
	if token == "" {
		c.MaxAge = -1
	} else {
		// A persistent cookie (one year, like Coder) survives browser and
		// app restarts. It does not need to track the key's expiry: the
		// server checks that on every request, and the sliding expiry
		// would make any cookie lifetime tied to it wrong anyway.
		c.MaxAge = int((365 * 24 * time.Hour).Seconds())
	}
	return c
}

// defaultOrgID returns the default organization's id; it never changes, so
// it is read once.
func (a *API) defaultOrgID(ctx context.Context) (uuid.UUID, error) {
	s := a.ident
	s.orgMu.Lock()
	defer s.orgMu.Unlock()
	if s.orgID != uuid.Nil {
		return s.orgID, nil
	}
	org, err := a.opts.Store.DefaultOrganization(ctx)
	if err != nil {
		return uuid.Nil, fmt.Errorf("get default organization: %w", err)
	}
	s.orgID = org.ID
	return org.ID, nil
}

// identNow is the API clock in UTC with microsecond precision (what the
// store keeps), without a monotonic reading.
func (a *API) identNow() time.Time {
	return a.opts.Now().UTC().Round(0).Truncate(time.Microsecond)
}
