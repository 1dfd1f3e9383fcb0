package httpmw

import (
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
)

// RealIPOptions configure RealIP (--proxy-trusted-headers and
// --proxy-trusted-origins).
type RealIPOptions struct {
	// Headers are the client-address headers to trust, in order of
	// preference (e.g. X-Forwarded-For, X-Real-IP, True-Client-IP).
	Headers []string
	// Origins are the CIDRs of the proxies allowed to set those headers.
	Origins []string
}

// RealIP replaces r.RemoteAddr with the client address reported by a trusted
// proxy, so the access log, the rate limiter and token usage see the real
// client. Requests from other addresses keep their own RemoteAddr: a client
// cannot choose its address by sending the header itself. In
// X-Forwarded-For the rightmost address that is not a trusted proxy wins,
// because entries further left are written by the client.
func RealIP(o RealIPOptions) (func(http.Handler) http.Handler, error) {
	var origins []netip.Prefix
	for _, c := range o.Origins {
		p, err := netip.ParsePrefix(strings.TrimSpace(c))
		if err != nil {
			return nil, fmt.Errorf("proxy trusted origin %q is not a CIDR: %w", c, err)
		}
		origins = append(origins, p.Masked())
	}
	headers := make([]string, 0, len(o.Headers))
	for _, h := range o.Headers {
		if h = strings.TrimSpace(h); h != "" {
			headers = append(headers, http.CanonicalHeaderKey(h))
		}
	}
	trusted := func(a netip.Addr) bool {
		a = a.Unmap()
		for _, p := range origins {
			if p.Contains(a) {
				return true
			}
		}
		return false
	}
	return func(next http.Handler) http.Handler {
		if len(headers) == 0 || len(origins) == 0 {
			return next
		}
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			host, port, err := net.SplitHostPort(r.RemoteAddr)
			if err != nil {
				next.ServeHTTP(rw, r)
				return
			}
			peer, err := netip.ParseAddr(host)
			if err != nil || !trusted(peer) {
				next.ServeHTTP(rw, r)
				return
			}
			for _, h := range headers {
				if ip, ok := clientFromHeader(r.Header.Values(h), h == "X-Forwarded-For", trusted); ok {
					// WithContext makes the shallow copy a middleware must
					// change instead of the caller's request.
					r2 := r.WithContext(r.Context())
					r2.RemoteAddr = net.JoinHostPort(ip.String(), port)
					next.ServeHTTP(rw, r2)
					return
				}
			}
			next.ServeHTTP(rw, r)
		})
	}, nil
}

func clientFromHeader(values []string, forwardedFor bool, trusted func(netip.Addr) bool) (netip.Addr, bool) {
	// At least one entry per header line; commas add more.
	parts := make([]string, 0, len(values))
	for _, v := range values {
		parts = append(parts, strings.Split(v, ",")...)
	}
	if !forwardedFor {
		if len(parts) == 0 {
			return netip.Addr{}, false
		}
		a, err := netip.ParseAddr(strings.TrimSpace(parts[0]))
		return a, err == nil
	}
	for i := len(parts) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(parts[i]))
		if err != nil {
			return netip.Addr{}, false
		}
		if !trusted(a) || i == 0 {
			return a, true
		}
	}
	return netip.Addr{}, false
}
