package aibridge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/store"
)

// slowFlush is when a client that cannot keep up with a stream is logged.
const slowFlush = 500 * time.Millisecond

// Causes of an upstream cancellation, told apart after the fact.
var (
	errIdle     = errors.New("upstream idle timeout")
	errShutdown = errors.New("gateway shutting down")
)

// interception is the state of one intercepted request.
type interception struct {
	g      *Gateway
	id     uuid.UUID
	p      *provider
	rt     route
	stream bool
	info   reqInfo
	tap    tap
	model  string
	// modelLabel is model, or "other" once too many models were seen.
	modelLabel string
	client     string
	actor      Actor

	// Timing for the overhead and time-to-first-byte metrics: arrival,
	// the moment the upstream call starts, and when its body ended.
	arrived, upstreamStart, upstreamEnd time.Time
	firstByte                           bool
	failed                              bool
	// status is what the client was answered (for the circuit breaker).
	status int

	// tctx carries the Intercept span (span), which is noSpan when
	// tracing is off.
	tctx context.Context
	span trace.Span
}

// sentFirstByte observes time to first byte once.
func (ix *interception) sentFirstByte() {
	if !ix.firstByte {
		ix.firstByte = true
		ix.g.m.ttfb.WithLabelValues(ix.p.Name, ix.rt.endpoint).Observe(time.Since(ix.arrived).Seconds())
	}
}

// serverTiming tells the client how long gantry spent before calling the
// upstream (the benchmark compares it with its black-box measurement).
func (ix *interception) serverTiming(h http.Header) {
	pre := ix.upstreamStart.Sub(ix.arrived)
	h.Set("Server-Timing", "gantry;dur="+strconv.FormatFloat(float64(pre.Microseconds())/1000, 'f', 3, 64))
}

// intercept handles an intercepted route: parse, record the start, call the
// upstream, relay while tapping, record the rest and the end.
func (g *Gateway) intercept(rw http.ResponseWriter, r *http.Request, p *provider, rt route, actor Actor, byok bool, arrived time.Time) {
	shape := shapeOf(p.Type)
	tctx, span := g.traceIntercept(r, p)
	defer span.End()
	refuse := func(e *gwError) {
		traceEnd(span, e.status, true, nil)
		e.write(rw, shape)
	}
	body, gerr := readBody(rw, r, g.cfg.MaxRequestBodyBytes)
	if gerr != nil {
		refuse(gerr)
		return
	}
	if len(body) == 0 || !gjson.ValidBytes(body) || body[firstNonSpace(body)] != '{' {
		refuse(errBadRequest("request body must be a JSON object"))
		return
	}
	info := parseRequest(rt.api, body)
	if rt.api == apiResponses && info.background {
		refuse(errNotImplemented("background requests are currently not supported by AI Bridge"))
		return
	}

	client := guessClient(r.Header)
	model := info.model
	if model == "" {
		model = "unknown"
	}
	ix := &interception{g: g, id: newRecordID(), p: p, rt: rt, stream: info.stream, info: info,
		model: model, client: client, actor: actor, arrived: arrived, tctx: tctx, span: span}
	ix.traceDetails()
	ix.modelLabel = g.m.models.label(model)
	inflight := g.m.inflight.WithLabelValues(p.Name, ix.modelLabel, rt.endpoint)
	inflight.Inc()
	defer inflight.Dec()
	_, recSpan := ix.traceChild(tctx, "Intercept.RecordInterception")
	g.rec.start(&store.Interception{
		ID:              ix.id,
		InitiatorID:     actor.UserID,
		APIKeyID:        actor.APIKeyID,
		Provider:        string(p.Type),
		ProviderName:    p.Name,
		Model:           model,
		Client:          client,
		ClientSessionID: guessSession(client, r.Header, &info),
		UserAgent:       r.Header.Get("User-Agent"),
		Metadata:        startMetadata(info.stream, byok, rt.api),
		StartedAt:       g.now().UTC(),
	})
	recSpan.End()
	// Whatever happens below, the interception is ended with what was seen.
	defer ix.finish()

	// Streamed chat completions only report usage when asked to; ask, and
	// hide the extra chunk from a client that did not.
	dropUsage := false
	if rt.api == apiChat && info.stream && !info.includeUsage {
		if nb, err := sjson.SetBytes(body, "stream_options.include_usage", true); err == nil {
			body, dropUsage = nb, true
		}
	}
	ix.tap = newTap(rt.api, dropUsage)
	pctx, pspan := ix.traceChild(tctx, "Intercept.ProcessRequest")
	defer pspan.End()

	if g.breakers != nil {
		// The interception is recorded even when the breaker rejects it.
		key := breakerKey{p.Name, rt.endpoint, ix.modelLabel}
		if !g.breakers.allow(key) {
			ix.failed = true
			errUnavailable("circuit breaker is open", g.breakers.retryAfter()).write(rw, shape)
			return
		}
		defer func() { g.breakers.done(key, isBreakerFailure(p.Type, ix.status)) }()
	}

	ctx, cancel := context.WithCancelCause(pctx)
	defer cancel(nil)
	stopBase := context.AfterFunc(g.base, func() { cancel(errShutdown) })
	defer stopBase()
	// A stream has one idle timer that covers both a hang before the
	// response headers and a stall mid-stream; the relay pushes it forward
	// on every read. A blocking call has an overall deadline instead (a
	// model may legitimately think for minutes before answering it).
	var idle *time.Timer
	if info.stream {
		idle = time.AfterFunc(g.cfg.StreamIdleTimeout, func() { cancel(errIdle) })
		defer idle.Stop()
	} else {
		var cancelT context.CancelFunc
		ctx, cancelT = context.WithTimeout(ctx, g.cfg.BlockingTimeout)
		defer cancelT()
	}

	rb := &requestBody{b: body}
	ureq, err := http.NewRequestWithContext(ctx, http.MethodPost, "", rb)
	if err != nil {
		errInternal().write(rw, shape)
		return
	}
	ureq.ContentLength = int64(len(body))
	ureq.GetBody = rb.rewind
	ureq.URL = p.upstreamURL(r, rt)
	ureq.Host = ureq.URL.Host
	ureq.Header = g.outboundHeaders(r.Header, p, byok, true, &actor)

	ix.upstreamStart = time.Now()
	_, uspan := ix.traceUpstream(ctx, ureq.URL)
	resp, err := g.transport.RoundTrip(ureq)
	// The upstream has the request; a stream should not keep its body
	// (often the whole conversation) alive until it ends.
	rb.release()
	if err != nil {
		ix.failed = true
		ix.upstreamEnd = time.Now()
		traceEnd(uspan, 0, true, err)
		uspan.End()
		if r.Context().Err() != nil {
			return // the client left; nothing to answer
		}
		ge := g.upstreamError(ctx, err, p)
		ix.status = ge.status
		ge.write(rw, shape)
		return
	}
	defer func() {
		traceEnd(uspan, resp.StatusCode, ix.failed, nil)
		uspan.End()
	}()
	defer resp.Body.Close()
	ix.status = resp.StatusCode

	switch {
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		// Upstream errors are relayed as they are: status, headers and the
		// provider's own body (request_id included).
		ix.failed = true
		ix.serverTiming(rw.Header())
		ix.sentFirstByte()
		g.relayVerbatim(rw, resp, ix.id)
		ix.upstreamEnd = time.Now()
	case isEventStream(resp.Header.Get("Content-Type")):
		ix.relayStream(ctx, rw, r, resp, idle)
	default:
		ix.relayBlocking(rw, resp)
	}
}

// requestBody is the upstream request body. Unlike a bytes.Reader kept by
// the request (and by the GetBody that http.NewRequest derives from one), it
// lets go of the bytes once the round trip has returned, so an open stream
// does not hold its request body. GetBody (rewind) serves the transport's
// retry of a request on a pooled connection that closed before it was sent.
type requestBody struct {
	mu  sync.Mutex
	b   []byte
	off int
}

func (r *requestBody) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.off >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.off:])
	r.off += n
	return n, nil
}

// WriteTo lets the transport write the body in one call (io.Copy prefers
// it), as it does for a bytes.Reader.
func (r *requestBody) WriteTo(w io.Writer) (int64, error) {
	r.mu.Lock()
	rest := r.b[min(r.off, len(r.b)):]
	r.off = len(r.b)
	r.mu.Unlock()
	n, err := w.Write(rest)
	return int64(n), err
}

func (r *requestBody) Close() error { return nil }

func (r *requestBody) rewind() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.b == nil {
		return nil, errors.New("request body already released")
	}
	return &requestBody{b: r.b}, nil
}

func (r *requestBody) release() {
	r.mu.Lock()
	r.b, r.off = nil, 0
	r.mu.Unlock()
}

// newRecordID returns a time-ordered (version 7) UUID for an interception
// and its records: consecutive rows then land at the end of each primary-key
// and interception-id index instead of at random pages, so a batch dirties a
// few pages rather than one per row per index.
func newRecordID() uuid.UUID {
	if id, err := uuid.NewV7(); err == nil {
		return id
	}
	return uuid.New()
}

func firstNonSpace(b []byte) int {
	for i, c := range b {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return i
		}
	}
	return 0
}

func startMetadata(stream, byok bool, api apiKind) json.RawMessage {
	b := append([]byte(`{"api":"`), api.String()...)
	b = append(b, `","streaming":`...)
	b = strconv.AppendBool(b, stream)
	b = append(b, `,"credential_kind":"`...)
	if byok {
		b = append(b, "byok"...)
	} else {
		b = append(b, "centralized"...)
	}
	return append(b, `"}`...)
}

// readBody reads the whole request body up to limit.
func readBody(rw http.ResponseWriter, r *http.Request, limit int64) ([]byte, *gwError) {
	if r.ContentLength > limit {
		return nil, errTooLarge(limit)
	}
	var buf []byte
	if r.ContentLength > 0 {
		buf = make([]byte, 0, r.ContentLength+1)
	} else {
		buf = make([]byte, 0, 4096)
	}
	b := bytes.NewBuffer(buf)
	_, err := b.ReadFrom(http.MaxBytesReader(rw, r.Body, limit))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, errTooLarge(limit)
		}
		return nil, errBadRequest("failed to read request body")
	}
	return b.Bytes(), nil
}

func isEventStream(ct string) bool {
	if ct == "text/event-stream" {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// upstreamError maps a failed round trip to the answer the client gets.
func (g *Gateway) upstreamError(ctx context.Context, err error, p *provider) *gwError {
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShutdown):
		return errUnavailable("server closed", 5)
	case errors.Is(cause, errIdle), errors.Is(cause, context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded):
		return errGatewayTimeout("upstream timed out")
	}
	g.log.Warn("aibridge: upstream request failed", "provider", p.Name, "error", err)
	return errBadGateway("upstream request failed")
}

// relayVerbatim copies an upstream response unchanged.
func (g *Gateway) relayVerbatim(rw http.ResponseWriter, resp *http.Response, id uuid.UUID) {
	h := rw.Header()
	copyResponseHeaders(h, resp.Header)
	if id != uuid.Nil {
		h.Set(InterceptionIDHeader, id.String())
	}
	rw.WriteHeader(resp.StatusCode)
	bp := getRelayBuf()
	defer relayBufPool.Put(bp)
	buf := *bp
	rc := http.NewResponseController(rw)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			if _, werr := rw.Write(buf[:n]); werr != nil {
				return
			}
			// Passthrough may carry a stream (e.g. a retrieved response);
			// never sit on bytes.
			_ = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

// relayBlocking tees a non-streaming response to the client while keeping a
// copy for the tap, which parses it once the body is complete.
func (ix *interception) relayBlocking(rw http.ResponseWriter, resp *http.Response) {
	h := rw.Header()
	copyResponseHeaders(h, resp.Header)
	h.Set(InterceptionIDHeader, ix.id.String())
	ix.serverTiming(h)
	rw.WriteHeader(resp.StatusCode)
	ix.sentFirstByte()
	// The body is read straight into the copy kept for the tap and written
	// to the client from there: no relay buffer, one copy.
	capHint := 8 << 10
	if resp.ContentLength > 0 && resp.ContentLength < 64<<20 {
		capHint = int(resp.ContentLength) + 1 // +1: EOF without a regrow
	}
	captured := make([]byte, 0, capHint)
	for {
		if len(captured) == cap(captured) {
			captured = append(captured, 0)[:len(captured)]
		}
		n, err := resp.Body.Read(captured[len(captured):cap(captured)])
		if n > 0 {
			chunk := captured[len(captured) : len(captured)+n]
			captured = captured[:len(captured)+n]
			if _, werr := rw.Write(chunk); werr != nil {
				// The client left; keep reading so the usage is recorded
				// (the upstream has done the work either way).
				rw = discardWriter{}
			}
		}
		if err != nil {
			if !errors.Is(err, io.EOF) {
				ix.failed = true
			}
			break
		}
	}
	ix.upstreamEnd = time.Now()
	ix.tap.body(captured)
}

type discardWriter struct{}

func (discardWriter) Header() http.Header         { return http.Header{} }
func (discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (discardWriter) WriteHeader(int)             {}

// relayStream copies SSE events to the client as they arrive, one flush per
// burst of complete events (each event is flushed before the relay waits for
// more upstream bytes), and feeds each event to the tap. Response headers
// are held back until the first event, so a stream that fails before any
// event can still be answered with a proper error status.
func (ix *interception) relayStream(ctx context.Context, rw http.ResponseWriter, r *http.Request, resp *http.Response, idle *time.Timer) {
	rc := http.NewResponseController(rw)
	// Streams outlive any server-wide write timeout.
	_ = rc.SetWriteDeadline(time.Time{})
	bp := getRelayBuf()
	buf := *bp
	defer func() {
		if cap(buf) == relayBufSize {
			*bp = buf[:relayBufSize]
			relayBufPool.Put(bp)
		}
	}()
	committed := false
	commit := func() {
		h := rw.Header()
		copyResponseHeaders(h, resp.Header)
		h.Del("Content-Length")
		h.Set(InterceptionIDHeader, ix.id.String())
		h.Set("X-Accel-Buffering", "no")
		ix.serverTiming(h)
		rw.WriteHeader(resp.StatusCode)
		committed = true
		ix.sentFirstByte()
	}
	defer func() { ix.upstreamEnd = time.Now() }()
	clientGone := false
	var readErr error
	start, end, scanned := 0, 0, 0
	for {
		wrote := false
		for !clientGone {
			n := eventEnd(buf[start:end], scanned)
			if n < 0 {
				scanned = max(0, end-start-2)
				break
			}
			ev := buf[start : start+n]
			start += n
			scanned = 0
			if !ix.tap.event(ev) {
				continue
			}
			if !committed {
				commit()
			}
			if _, err := rw.Write(ev); err != nil {
				clientGone = true
				break
			}
			wrote = true
		}
		if readErr != nil && errors.Is(readErr, io.EOF) && !clientGone {
			// A final event without its blank line still counts.
			if end > start {
				rest := buf[start:end]
				if ix.tap.event(rest) {
					if !committed {
						commit()
					}
					_, _ = rw.Write(rest)
				}
			}
			if !committed {
				commit()
			}
			_ = rc.Flush()
			return
		}
		if wrote {
			t0 := time.Now()
			if err := rc.Flush(); err != nil {
				clientGone = true
			}
			if d := time.Since(t0); d > slowFlush {
				ix.g.log.Warn("aibridge: slow client: flushing an SSE event took long", "duration", d,
					"interception_id", ix.id, "remote_addr", r.RemoteAddr, "user_agent", r.UserAgent())
			}
		}
		if clientGone {
			ix.failed = true
			return
		}
		if readErr != nil {
			break
		}
		// Compact, and grow when one event exceeds the buffer.
		if start > 0 {
			copy(buf, buf[start:end])
			end -= start
			start = 0
		}
		if end == len(buf) {
			nb := make([]byte, 2*len(buf))
			copy(nb, buf[:end])
			buf = nb
		}
		nr, err := resp.Body.Read(buf[end:])
		if nr > 0 {
			if idle != nil {
				idle.Reset(ix.g.cfg.StreamIdleTimeout)
			}
			end += nr
		}
		// Process what arrived before acting on an error or EOF.
		readErr = err
	}
	ix.failed = true
	if r.Context().Err() != nil {
		return // the client left
	}
	var ge *gwError
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, errShutdown):
		ge = errUnavailable("server closed", 5)
	case errors.Is(cause, errIdle):
		ge = errGatewayTimeout("upstream stream stalled")
	default:
		ix.g.log.Warn("aibridge: upstream stream broke", "provider", ix.p.Name, "interception_id", ix.id, "error", readErr)
		ge = errBadGateway("upstream stream interrupted")
	}
	if !committed {
		ix.status = ge.status
		ge.write(rw, shapeOf(ix.p.Type))
		return
	}
	_, _ = rw.Write(ge.sseEvent(ix.rt.api))
	_ = rc.Flush()
}

// finish turns what the tap saw into records and ends the interception.
func (ix *interception) finish() {
	now := ix.g.now().UTC()
	f := &finalRecords{end: store.InterceptionEnd{ID: ix.id, EndedAt: now}}
	var obs observed
	if ix.tap != nil {
		obs = ix.tap.result()
	}
	ix.observe(&obs)
	if u := obs.usage; u != nil {
		f.usages = append(f.usages, store.TokenUsage{
			ID: newRecordID(), InterceptionID: ix.id, ProviderResponseID: obs.responseID,
			InputTokens: u.input, OutputTokens: u.output,
			CacheReadInputTokens: u.cacheRead, CacheWriteInputTokens: u.cacheWrite,
			Metadata: u.metadata(), CreatedAt: now,
		})
	}
	if ix.info.hasPrompt {
		f.prompts = append(f.prompts, store.UserPrompt{
			ID: newRecordID(), InterceptionID: ix.id, ProviderResponseID: obs.responseID,
			Prompt: ix.info.prompt, CreatedAt: now,
		})
	}
	for _, t := range obs.tools {
		f.tools = append(f.tools, store.ToolUsage{
			ID: newRecordID(), InterceptionID: ix.id, ProviderResponseID: obs.responseID,
			ProviderToolCallID: t.id, Tool: t.name, Input: t.args, Injected: false, CreatedAt: now,
		})
	}
	for _, t := range obs.thoughts {
		f.thoughts = append(f.thoughts, store.ModelThought{
			ID: newRecordID(), InterceptionID: ix.id, Content: t.text,
			Metadata: json.RawMessage(`{"source":"` + t.source + `"}`), CreatedAt: now,
		})
	}
	fspan := ix.traceFinal(f)
	ix.g.rec.finish(f)
	fspan.End()
	traceEnd(ix.span, ix.status, ix.failed, nil)
}

// observe updates the metrics for a finished interception.
func (ix *interception) observe(obs *observed) {
	now := time.Now()
	m, name, route := ix.g.m, ix.p.Name, ix.rt.endpoint
	if obs.streamError != "" {
		ix.failed = true
	}
	status := "completed"
	if ix.failed {
		status = "failed"
	}
	initiator := ix.actor.UserID.String()
	m.interceptions.WithLabelValues(name, ix.modelLabel, status, route, http.MethodPost, initiator, ix.client).Inc()
	m.duration.WithLabelValues(name, ix.modelLabel).Observe(now.Sub(ix.arrived).Seconds())
	if !ix.upstreamStart.IsZero() {
		overhead := ix.upstreamStart.Sub(ix.arrived)
		if !ix.upstreamEnd.IsZero() {
			overhead += max(0, now.Sub(ix.upstreamEnd))
		}
		m.overhead.WithLabelValues(name, route).Observe(overhead.Seconds())
	}
	if ix.info.hasPrompt {
		m.prompts.WithLabelValues(name, ix.modelLabel, initiator, ix.client).Inc()
	}
	if u := obs.usage; u != nil {
		add := func(typ string, v int64) {
			if v > 0 {
				m.tokens.WithLabelValues(name, ix.modelLabel, typ, initiator, ix.client).Add(float64(v))
			}
		}
		add("input", u.input)
		add("output", u.output)
		add("cache_read_input_tokens", u.cacheRead)
		add("cache_write_input_tokens", u.cacheWrite)
		for _, e := range u.extras {
			add(e.key, e.val)
		}
	}
	for _, t := range obs.tools {
		m.nonInjectedTools.WithLabelValues(name, ix.modelLabel, t.name).Inc()
	}
}
