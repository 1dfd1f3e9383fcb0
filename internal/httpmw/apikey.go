package httpmw

import (
	"context"
	"errors"
	"net"
	"net/http"
	"strings"

	"gantry/internal/authn"
	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/sdk"
)

// Token sources, as Coder names them.
const (
	SessionTokenCookie = "coder_session_token"
	SessionTokenQuery  = "coder_session_token"
	SessionTokenHeader = "Coder-Session-Token"
	AccessTokenQuery   = "access_token"

	hostPrefixedCookie = "__Host-" + SessionTokenCookie
)

// APITokenFromRequest returns the API token of r, or "". Sources are tried
// in Coder's order and the first non-empty one wins: cookie
// coder_session_token, query coder_session_token, header Coder-Session-Token,
// "Authorization: Bearer" (RFC 6750; other schemes are ignored), query
// access_token.
func APITokenFromRequest(r *http.Request) string {
	if c, err := r.Cookie(SessionTokenCookie); err == nil && c.Value != "" {
		return c.Value
	}
	// The same cookie under --host-prefix-cookie.
	if c, err := r.Cookie(hostPrefixedCookie); err == nil && c.Value != "" {
		return c.Value
	}
	// Parse the query only if there is one: r.URL.Query allocates.
	hasQuery := r.URL.RawQuery != ""
	if hasQuery {
		if v := r.URL.Query().Get(SessionTokenQuery); v != "" {
			return v
		}
	}
	if v := r.Header.Get(SessionTokenHeader); v != "" {
		return v
	}
	if h := r.Header.Get("Authorization"); len(h) > 7 && strings.EqualFold(h[:7], "bearer ") {
		if v := strings.TrimSpace(h[7:]); v != "" {
			return v
		}
	}
	if hasQuery {
		return strings.TrimSpace(r.URL.Query().Get(AccessTokenQuery))
	}
	return ""
}

// APIKeyConfig configures ExtractAPIKey.
type APIKeyConfig struct {
	Authenticator *authn.Authenticator
	// Optional lets requests without a token through unauthenticated.
	// A token that is present but invalid is still refused.
	Optional bool
	// ResourceMetadataURL is advertised in WWW-Authenticate (RFC 9728):
	// "<access URL>/.well-known/oauth-protected-resource". Empty omits it.
	ResourceMetadataURL string
}

type identityKey struct{}

// ExtractAPIKey authenticates the request's token and stores the identity
// for Identity/IdentityOptional/Subject. Failures are answered here with
// Coder's 401 bodies and a WWW-Authenticate header; handlers never see them.
func ExtractAPIKey(cfg APIKeyConfig) func(http.Handler) http.Handler {
	if cfg.Authenticator == nil {
		panic("developer error: ExtractAPIKey needs an Authenticator")
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			ctx := r.Context()
			token := APITokenFromRequest(r)
			if token == "" && cfg.Optional {
				next.ServeHTTP(rw, r)
				return
			}
			id, err := Authenticate(r, cfg.Authenticator, token)
			if err != nil {
				writeAuthError(rw, r, cfg, err)
				return
			}
			SetUser(ctx, id.UserID, id.Username)
			next.ServeHTTP(rw, r.WithContext(context.WithValue(ctx, identityKey{}, id)))
		})
	}
}

// authResult is one validation of a token, kept for the rest of the request.
type authResult struct {
	authn *authn.Authenticator
	token string
	id    authn.Identity
	err   error
}

// Authenticate validates token (from APITokenFromRequest) with a, at most
// once per request: the API rate limiter and ExtractAPIKey both need the
// caller, and the second asks the first's answer, failures included, from
// the per-request state that AccessLog installs. Without that state (the
// middleware used alone) it validates every time.
func Authenticate(r *http.Request, a *authn.Authenticator, token string) (authn.Identity, error) {
	st := stateFrom(r.Context())
	if st != nil && st.auth != nil && st.auth.authn == a && st.auth.token == token {
		return st.auth.id, st.auth.err
	}
	id, err := a.AuthenticateFrom(r.Context(), token, remoteIP(r))
	if st != nil {
		st.auth = &authResult{authn: a, token: token, id: id, err: err}
	}
	return id, err
}

func writeAuthError(rw http.ResponseWriter, r *http.Request, cfg APIKeyConfig, err error) {
	var ae *authn.Error
	if !errors.As(err, &ae) {
		ae = &authn.Error{Kind: authn.KindInternal, Message: authn.MsgInternal, Err: err}
	}
	if ae.Kind == authn.KindInternal {
		httpapi.Logger(r.Context()).ErrorContext(r.Context(), "authenticate api key",
			"error", ae.Err, "request_id", httpapi.RequestID(r.Context()))
		httpapi.Write(r.Context(), rw, http.StatusInternalServerError, sdk.Response{Message: ae.Message})
		return
	}
	desc := "The access token is invalid"
	if ae.Kind == authn.KindExpired {
		desc = "The access token has expired"
	}
	h := `Bearer realm="coder", error="invalid_token", error_description="` + desc + `"`
	if cfg.ResourceMetadataURL != "" {
		h += `, resource_metadata="` + cfg.ResourceMetadataURL + `"`
	}
	rw.Header().Set("WWW-Authenticate", h)
	httpapi.Write(r.Context(), rw, http.StatusUnauthorized, sdk.Response{Message: ae.Message, Detail: ae.Detail})
}

func remoteIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// IdentityOptional returns the authenticated caller, if ExtractAPIKey
// authenticated one.
func IdentityOptional(r *http.Request) (authn.Identity, bool) {
	return IdentityFromContext(r.Context())
}

// IdentityFromContext is IdentityOptional for code that has only a context.
func IdentityFromContext(ctx context.Context) (authn.Identity, bool) {
	id, ok := ctx.Value(identityKey{}).(authn.Identity)
	return id, ok
}

// Identity returns the authenticated caller. It panics when ExtractAPIKey
// (non-optional) did not run on the route: that is a wiring bug, not a
// runtime condition.
func Identity(r *http.Request) authn.Identity {
	id, ok := IdentityOptional(r)
	if !ok {
		panic("developer error: ExtractAPIKey middleware not provided")
	}
	return id
}

// Subject returns the authorization subject of the caller (panics like
// Identity).
func Subject(r *http.Request) authz.Subject { return Identity(r).Subject() }
