package aibridge

import (
	"net/http"
	"strings"
)

// Header names the gateway reads or writes.
const (
	// GovernanceTokenHeader carries the gantry token when the caller keeps
	// its own provider credential (BYOK, Copilot).
	GovernanceTokenHeader     = "X-Coder-Ai-Governance-Token"
	governanceRequestIDHeader = "X-Coder-Ai-Governance-Request-Id"
	// InterceptionIDHeader is set on intercepted responses so a client or
	// operator can find the record.
	InterceptionIDHeader = "X-Gantry-Interception-Id"
	actorIDHeader        = "X-Ai-Bridge-Actor-Id"
	actorUsernameHeader  = "X-Ai-Bridge-Actor-Metadata-Username"
)

// extractToken finds the gantry token: the governance header first (then the
// client's own credentials are BYOK), else Authorization: Bearer, else
// X-Api-Key.
func extractToken(h http.Header) (token string, byok bool) {
	if v := h.Get(GovernanceTokenHeader); v != "" {
		return strings.TrimSpace(v), true
	}
	if v := h.Get("Authorization"); len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
		return strings.TrimSpace(v[7:]), false
	}
	return strings.TrimSpace(h.Get("X-Api-Key")), false
}

// dropRequestHeader reports whether a client header must not go upstream:
// hop-by-hop headers, headers the transport computes, and anything that can
// carry a gantry credential. Keys are canonical (net/http canonicalises
// incoming headers).
func dropRequestHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
		"Host", "Content-Length",
		"Coder-Session-Token", "Cookie",
		GovernanceTokenHeader, governanceRequestIDHeader:
		return true
	}
	return false
}

// dropResponseHeader reports whether an upstream response header must not
// reach the client.
func dropResponseHeader(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Proxy-Connection", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

// outboundHeaders builds the upstream request headers: every end-to-end
// client header unchanged (anthropic-beta, anthropic-version, user agent,
// session headers...), minus the hop-by-hop ones and gantry's credentials,
// plus the provider credential. Value slices are shared with the incoming
// request, which is safe because neither side mutates them.
func (g *Gateway) outboundHeaders(in http.Header, p *provider, byok, intercepted bool, actor *Actor) http.Header {
	out := make(http.Header, len(in)+2)
	var connTokens string
	if c := in["Connection"]; len(c) > 0 {
		connTokens = strings.Join(c, ",")
	}
	for k, vv := range in {
		if dropRequestHeader(k) {
			continue
		}
		if connTokens != "" && headerListed(connTokens, k) {
			continue
		}
		// The tap parses plain bytes; a compressed upstream answer would
		// need decompressing. Passthrough keeps the client's choice.
		if intercepted && k == "Accept-Encoding" {
			continue
		}
		out[k] = vv
	}
	switch {
	case p.Type == TypeCopilot:
		// The caller's own bearer goes upstream; nothing to inject.
		delete(out, "X-Api-Key")
	case byok:
		// BYOK: the caller's provider credential stays as sent.
	default:
		delete(out, "Authorization")
		delete(out, "X-Api-Key")
		if p.Type == TypeAnthropic {
			out["X-Api-Key"] = p.apiKeyHeader
		} else {
			out["Authorization"] = p.bearerHeader
		}
	}
	if _, ok := out["User-Agent"]; !ok {
		// Keep Go's default agent (gantry's runtime) from showing upstream.
		out["User-Agent"] = []string{"gantry-aibridge"}
	}
	if actor != nil && g.cfg.SendActorHeaders && p.Type != TypeCopilot {
		out[actorIDHeader] = []string{actor.UserID.String()}
		out[actorUsernameHeader] = []string{actor.Username}
	}
	return out
}

func headerListed(list, name string) bool {
	for f := range strings.SplitSeq(list, ",") {
		if strings.EqualFold(strings.TrimSpace(f), name) {
			return true
		}
	}
	return false
}

// copyResponseHeaders copies upstream response headers to the client.
func copyResponseHeaders(dst, src http.Header) {
	for k, vv := range src {
		if dropResponseHeader(k) {
			continue
		}
		dst[k] = vv
	}
}
