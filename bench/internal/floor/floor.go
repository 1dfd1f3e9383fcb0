// Package floor is the benchmark's "floor" subject: a bare
// httputil.ReverseProxy that swaps the caller's bearer token for the
// provider key. It is the least a Go proxy can cost on the machine, so
// gantry's overhead minus the floor's is the price of gantry's features.
package floor

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"time"
)

// New returns a proxy to upstream that replaces the client's credentials
// with key (as Bearer and X-Api-Key, so both OpenAI- and Anthropic-shaped
// upstreams accept it) and flushes every write, so SSE is never buffered.
//
// Every response carries "Server-Timing: floor;dur=<ms>", the time from the
// handler's arrival to the start of the upstream call, the same span gantry
// reports as "gantry;dur=". Both sides of the benchmark's self-reported vs
// black-box comparison then cover the same hops (see ServerTimingName).
func New(upstream *url.URL, key string, maxConns int) http.Handler {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        maxConns,
		MaxIdleConnsPerHost: maxConns,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true,
		ForceAttemptHTTP2:   false,
	}
	rp := &httputil.ReverseProxy{
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
		Transport:     timedTransport{tr},
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if t, ok := resp.Request.Context().Value(timingKey{}).(*timing); ok && !t.upstream.IsZero() {
				resp.Header.Set("Server-Timing", ServerTimingName+";dur="+
					strconv.FormatFloat(float64(t.upstream.Sub(t.arrived).Microseconds())/1000, 'f', 3, 64))
			}
			return nil
		},
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t := &timing{arrived: time.Now()}
		rp.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), timingKey{}, t)))
	})
}

// ServerTimingName is the metric name of the floor's Server-Timing entry.
const ServerTimingName = "floor"

// timing is one request's arrival and upstream-call start.
type timing struct{ arrived, upstream time.Time }

type timingKey struct{}

// timedTransport notes when the upstream call starts, as gantry does just
// before its RoundTrip.
type timedTransport struct{ http.RoundTripper }

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if tm, ok := r.Context().Value(timingKey{}).(*timing); ok {
		tm.upstream = time.Now()
	}
	return t.RoundTripper.RoundTrip(r)
}
