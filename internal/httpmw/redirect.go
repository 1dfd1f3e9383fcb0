package httpmw

import (
	"net"
	"net/http"
	"net/url"
)

// RedirectToAccessURL sends requests that arrive under another host to the
// same path on the access URL (--redirect-to-access-url). Health checks are
// never redirected: load balancers probe by IP.
func RedirectToAccessURL(accessURL *url.URL) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if accessURL == nil || accessURL.Host == "" {
			return next
		}
		return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			if r.Host == accessURL.Host || r.URL.Path == "/healthz" {
				next.ServeHTTP(rw, r)
				return
			}
			http.Redirect(rw, r, join(accessURL, r.URL), http.StatusTemporaryRedirect)
		})
	}
}

// RedirectHTTPToHTTPS is the handler of the plain HTTP listener when TLS is
// on and redirection is enabled: it sends every request to the https access
// URL, or to the same host on the TLS port when the access URL is not https.
func RedirectHTTPToHTTPS(accessURL *url.URL, tlsPort string) http.Handler {
	return http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		target := &url.URL{Scheme: "https"}
		if accessURL != nil && accessURL.Scheme == "https" && accessURL.Host != "" {
			target.Host = accessURL.Host
		} else {
			host, _, err := net.SplitHostPort(r.Host)
			if err != nil {
				host = r.Host
			}
			target.Host = host
			if tlsPort != "" && tlsPort != "443" {
				target.Host = net.JoinHostPort(host, tlsPort)
			}
		}
		http.Redirect(rw, r, join(target, r.URL), http.StatusTemporaryRedirect)
	})
}

// join puts the request's path and query under base.
func join(base *url.URL, req *url.URL) string {
	u := *base
	u.Path = req.Path
	u.RawPath = req.RawPath
	u.RawQuery = req.RawQuery
	u.Fragment = ""
	return u.String()
}
