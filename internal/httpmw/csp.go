package httpmw

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
)

// cspDefaults are the Content-Security-Policy directives gantry sends on its
// HTML pages, in output order (Coder's default policy).
var cspDefaults = []cspDirective{
	{"default-src", []string{"'self'"}},
	{"connect-src", []string{"'self'"}},
	{"child-src", []string{"'self'"}},
	{"script-src", []string{"'self'"}},
	{"style-src", []string{"'self'", "'unsafe-inline'"}},
	{"font-src", []string{"'self'", "data:"}},
	{"worker-src", []string{"'self'", "blob:"}},
	{"object-src", []string{"'self'"}},
	{"manifest-src", []string{"'self'", "blob:"}},
	{"frame-src", []string{"'self'"}},
	{"img-src", []string{"'self'", "https:", "data:"}},
	{"form-action", []string{"'self'"}},
	{"media-src", []string{"'self'"}},
	{"report-uri", []string{"/api/v2/csp/reports"}},
	{"frame-ancestors", []string{"'none'"}},
}

type cspDirective struct {
	directive string
	values    []string
}

func hasDefault(d string) bool {
	return slices.ContainsFunc(cspDefaults, func(def cspDirective) bool { return def.directive == d })
}

// CSPOptions configure NewCSP.
type CSPOptions struct {
	// Additional holds --additional-csp-policy entries: "<directive> <value>
	// [<value>...]". Values are appended to the directive's defaults; a later
	// entry for the same directive replaces an earlier one.
	Additional []string
	// AllowAllHosts (set with --dangerous-allow-cors-requests) lets the page
	// connect anywhere.
	AllowAllHosts bool
	// ConnectHosts are extra hosts pages may open HTTP and WebSocket
	// connections to.
	ConnectHosts []string
}

// CSP sets Content-Security-Policy on the HTML pages it wraps.
type CSP struct {
	// The rendered policy around connect-src, whose value depends on the
	// request's host.
	prefix, connect, suffix string
}

// NewCSP merges the additional policy into the defaults. Malformed entries
// (a directive without a value) are skipped and returned as problems for the
// caller to log; they do not stop the server, as in Coder.
func NewCSP(o CSPOptions) (*CSP, []string) {
	var problems []string
	extra := map[string][]string{}
	var order []string
	for _, entry := range o.Additional {
		parts := strings.Split(strings.TrimSpace(entry), " ")
		if len(parts) < 2 {
			problems = append(problems, fmt.Sprintf("ignoring additional CSP policy %q: it needs a directive and at least one value", entry))
			continue
		}
		d := strings.ToLower(parts[0])
		if _, seen := extra[d]; !seen {
			order = append(order, d)
		}
		extra[d] = parts[1:]
	}

	var prefix, suffix strings.Builder
	var connect []string
	out := &prefix
	write := func(d string, values []string) {
		fmt.Fprintf(out, "%s %s; ", d, strings.Join(values, " "))
	}
	for _, def := range cspDefaults {
		values := append(slices.Clone(def.values), extra[def.directive]...)
		if def.directive == "connect-src" {
			connect = values
			if o.AllowAllHosts {
				connect = append(connect, "*")
			}
			for _, h := range o.ConnectHosts {
				connect = append(connect, "wss://"+h, "ws://"+h, "https://"+h, "http://"+h)
			}
			out = &suffix
			continue
		}
		write(def.directive, values)
	}
	// Directives that have no default come last, in the order given.
	for _, d := range order {
		if !hasDefault(d) {
			write(d, extra[d])
		}
	}
	return &CSP{
		prefix:  prefix.String(),
		connect: "connect-src " + strings.Join(connect, " "),
		suffix:  strings.TrimSuffix(suffix.String(), " "),
	}, problems
}

// Header returns the policy for a request to host (the page may talk back to
// its own host over WebSockets).
func (c *CSP) Header(host string) string {
	var b strings.Builder
	b.Grow(len(c.prefix) + len(c.connect) + len(c.suffix) + 2*len(host) + 16)
	b.WriteString(c.prefix)
	b.WriteString(c.connect)
	if host != "" {
		b.WriteString(" wss://")
		b.WriteString(host)
		b.WriteString(" ws://")
		b.WriteString(host)
	}
	b.WriteString("; ")
	b.WriteString(c.suffix)
	return b.String()
}

// Middleware sets the header on every response of the wrapped handler.
func (c *CSP) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Security-Policy", c.Header(r.Host))
		next.ServeHTTP(rw, r)
	})
}
