package aibridge

import (
	"context"
	"net"
	"net/http"
	"time"

	"github.com/google/uuid"
)

// passthrough reverse-proxies an allowlisted route (models, count_tokens,
// responses/{id}...): the provider credential is swapped in like on
// intercepted routes, the client's Accept-Encoding is kept, nothing is
// recorded, and the response is relayed unchanged.
func (g *Gateway) passthrough(rw http.ResponseWriter, r *http.Request, p *provider, rt route, byok bool) {
	shape := shapeOf(p.Type)
	u := p.upstreamURL(r, rt)
	tctx, span := g.tracePassthrough(r, p, u)
	defer span.End()
	ctx, cancel := context.WithCancelCause(tctx)
	defer cancel(nil)
	stopBase := context.AfterFunc(g.base, func() { cancel(errShutdown) })
	defer stopBase()
	ctx, cancelT := context.WithTimeout(ctx, g.cfg.BlockingTimeout)
	defer cancelT()

	var body = r.Body
	if r.ContentLength == 0 {
		body = nil
	}
	ureq, err := http.NewRequestWithContext(ctx, r.Method, "", body)
	if err != nil {
		traceEnd(span, http.StatusInternalServerError, true, err)
		errInternal().write(rw, shape)
		return
	}
	ureq.ContentLength = r.ContentLength
	ureq.URL = u
	ureq.Host = ureq.URL.Host
	ureq.Header = g.outboundHeaders(r.Header, p, byok, false, nil)
	if ip, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		prior := r.Header.Values("X-Forwarded-For")
		v := ip
		if len(prior) > 0 {
			v = joinComma(prior) + ", " + ip
		}
		ureq.Header["X-Forwarded-For"] = []string{v}
	}
	resp, err := g.transport.RoundTrip(ureq)
	if err != nil {
		traceEnd(span, 0, true, err)
		if r.Context().Err() != nil {
			return
		}
		g.upstreamError(ctx, err, p).write(rw, shape)
		return
	}
	defer resp.Body.Close()
	// A provider's 4xx is the client's business; 5xx marks the span.
	traceEnd(span, resp.StatusCode, resp.StatusCode >= 500, nil)
	_ = http.NewResponseController(rw).SetWriteDeadline(time.Time{})
	g.relayVerbatim(rw, resp, uuid.Nil)
}

func joinComma(vv []string) string {
	if len(vv) == 1 {
		return vv[0]
	}
	s := vv[0]
	for _, v := range vv[1:] {
		s += ", " + v
	}
	return s
}
