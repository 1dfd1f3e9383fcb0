// Package floor is the benchmark's "floor" subject: a bare
// httputil.ReverseProxy that swaps the caller's bearer token for the
// provider key. It is the least a Go proxy can cost on the machine, so
// gantry's overhead minus the floor's is the price of gantry's features.
package floor

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"time"
)

// New returns a proxy to upstream that replaces the client's credentials
// with key (as Bearer and X-Api-Key, so both OpenAI- and Anthropic-shaped
// upstreams accept it) and flushes every write, so SSE is never buffered.
func New(upstream *url.URL, key string, maxConns int) http.Handler {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			// Read the request body here rather than letting the
			// transport stream it: with a keep-alive client, Go 1.26's
			// ReverseProxy otherwise loses a few percent of SSE
			// responses mid-stream ("use of closed network connection"
			// on the upstream read) when GOMAXPROCS > 1. A gateway reads
			// the body anyway (to parse it), so this keeps the floor
			// comparable. The bodies here are at most 1 MB.
			if pr.In.Body != nil && pr.In.Body != http.NoBody {
				b, err := io.ReadAll(pr.In.Body)
				if err == nil {
					pr.Out.Body = io.NopCloser(bytes.NewReader(b))
					pr.Out.ContentLength = int64(len(b))
				}
			}
			pr.SetURL(upstream)
			pr.Out.Host = upstream.Host
			pr.Out.Header.Del("X-Api-Key")
			pr.Out.Header.Set("Authorization", "Bearer "+key)
			if pr.In.Header.Get("X-Api-Key") != "" {
				pr.Out.Header.Set("X-Api-Key", key)
			}
		},
		Transport:     tr,
		FlushInterval: -1,
	}
}
