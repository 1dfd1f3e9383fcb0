package httpmw

import (
	"crypto/rand"
	"encoding/base64"
	"net/http"
	"strings"
)

// CSRFCookie is the name of the anti-CSRF cookie (Coder's name; its dashboard
// reads it).
const CSRFCookie = "csrf_token"

// csrfMessage is Coder's plain-text answer to a rejected request.
const csrfMessage = "Something is wrong with your CSRF token. Please refresh the page. If this error persists, try clearing your cookies."

// CSRFOptions configure CSRF.
type CSRFOptions struct {
	// Secure adds the Secure attribute to the cookie (https access URL or
	// --secure-auth-cookie).
	Secure bool
	// SessionCookies are the cookie names that carry a session token
	// ("coder_session_token", and its __Host- variant when enabled).
	SessionCookies []string
	// ExemptPaths are exact paths or, with a trailing "/", path prefixes that
	// are never checked (CSP reports, first-user set-up).
	ExemptPaths []string
}

// CSRF protects cookie-authenticated requests against cross-site request
// forgery and keeps Coder's wire behaviour: every response to a request
// without a valid csrf_token cookie sets one (HttpOnly, SameSite=Lax) and
// responses carry "Vary: Cookie".
//
// Enforcement only concerns requests that a browser could forge: an unsafe
// method that carries a session cookie and not the same token in the
// Coder-Session-Token header. Those must be same-origin, which is decided by
// net/http's CrossOriginProtection (Sec-Fetch-Site, then Origin vs Host).
// Token-in-header clients (codersdk, the CLI, coding agents) are unaffected.
func CSRF(o CSRFOptions) func(http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	if len(o.SessionCookies) == 0 {
		o.SessionCookies = []string{"coder_session_token"}
	}
	exempt := func(path string) bool {
		for _, p := range o.ExemptPaths {
			if path == p || (strings.HasSuffix(p, "/") && strings.HasPrefix(path, p)) {
				return true
			}
		}
		return false
	}
	attrs := "; Path=/; HttpOnly; SameSite=Lax"
	if o.Secure {
		attrs = "; Path=/; HttpOnly; Secure; SameSite=Lax"
	}
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			h := rw.Header()
			h.Add("Vary", "Cookie")
			if c, err := r.Cookie(CSRFCookie); err != nil || !validCSRFToken(c.Value) {
				// Built by hand: this runs on every request of a client that
				// does not keep cookies (all API clients).
				h.Add("Set-Cookie", CSRFCookie+"="+newCSRFToken()+attrs)
			}
			if needsCSRFCheck(r, o.SessionCookies) && !exempt(r.URL.Path) {
				if err := cop.Check(r); err != nil {
					h.Set("Content-Type", "text/plain; charset=utf-8")
					rw.WriteHeader(http.StatusBadRequest)
					_, _ = rw.Write([]byte(csrfMessage))
					return
				}
			}
			next.ServeHTTP(rw, r)
		})
	}
}

func needsCSRFCheck(r *http.Request, sessionCookies []string) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return false
	}
	for _, name := range sessionCookies {
		c, err := r.Cookie(name)
		if err != nil || c.Value == "" {
			continue
		}
		// A client that put the token in the header as well is not relying on
		// the browser attaching the cookie.
		if r.Header.Get("Coder-Session-Token") == c.Value {
			return false
		}
		return true
	}
	return false
}

func newCSRFToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:])
	return base64.StdEncoding.EncodeToString(b[:])
}

func validCSRFToken(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}
