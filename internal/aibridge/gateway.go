// Package aibridge is gantry's LLM gateway ("AI Bridge"). Coding agents send
// Anthropic Messages, OpenAI Chat Completions and OpenAI Responses traffic to
// /api/v2/aibridge/<provider-name>/...; the gateway authenticates the gantry
// token, swaps in the provider's key, relays the response byte for byte as it
// arrives (SSE flushed per event), and records who used which model with how
// many tokens, asynchronously and in batches.
//
// The composition root builds a Gateway with New, mounts it (it is an
// http.Handler that expects the full request path), and calls Close on
// shutdown to drain streams and flush records.
package aibridge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/store"
)

// Actor is the authenticated caller of a gateway request.
type Actor struct {
	UserID   uuid.UUID
	Username string
	APIKeyID string
}

// ErrUnauthorized is what an Authenticator returns (wrapped or not) for a
// token that is malformed, unknown, expired or belongs to an inactive user.
// Any other error is treated as the identity service being unavailable.
var ErrUnauthorized = errors.New("unauthorized")

// Authenticator validates a gantry API token. Implementations must be cheap
// on the hot path (cached, no database write per call) and safe for
// concurrent use.
type Authenticator interface {
	Authenticate(ctx context.Context, token string) (Actor, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(ctx context.Context, token string) (Actor, error)

// Authenticate implements Authenticator.
func (f AuthenticatorFunc) Authenticate(ctx context.Context, token string) (Actor, error) {
	return f(ctx, token)
}

// BatchWriter is the part of store.Store the recorder needs.
type BatchWriter interface {
	InsertAIBridgeBatch(ctx context.Context, b store.AIBridgeBatch) error
}

// Options are the gateway's dependencies.
type Options struct {
	Config Config
	Auth   Authenticator
	// Store receives the records; usually the store.Store.
	Store  BatchWriter
	Logger *slog.Logger
	// Transport overrides the upstream transport (tests); nil builds a
	// pooled http.Transport from Config.
	Transport http.RoundTripper
	// Now returns the current time (tests may replace it).
	Now func() time.Time
	// Registerer receives the gateway's metrics (see metrics.go); nil
	// keeps them unregistered.
	Registerer prometheus.Registerer
	// TracerProvider receives the gateway's OpenTelemetry spans (see
	// tracing.go); nil or a no-op provider turns tracing off.
	TracerProvider trace.TracerProvider
}

// Route prefixes the gateway answers under. The API mounts the gateway for
// both; ai-gateway is the name later Coder releases use.
var mountPrefixes = []string{"/api/v2/aibridge/", "/api/v2/ai-gateway/"}

// Gateway is the AI Bridge HTTP handler.
type Gateway struct {
	cfg       Config
	auth      Authenticator
	log       *slog.Logger
	now       func() time.Time
	transport http.RoundTripper
	providers map[string]*provider
	rec       *recorder
	m         *metrics
	breakers  *breakers    // nil when the circuit breaker is disabled
	limiter   *rateLimiter // nil when the rate limit is off
	tracer    trace.Tracer // nil when tracing is off
	// intercepting counts intercepted requests for MaxConcurrency.
	intercepting atomic.Int64

	// Shutdown: mu guards closing against new in-flight registrations.
	mu       sync.RWMutex
	closing  bool
	inflight sync.WaitGroup
	// base is cancelled when Close gives up waiting; every upstream call
	// is tied to it.
	base       context.Context
	cancelBase context.CancelFunc
	active     atomic.Int64
}

type provider struct {
	Provider
	base *url.URL
	// Precomputed credential header values, shared read-only across
	// requests (the transport never mutates them).
	apiKeyHeader []string
	bearerHeader []string
}

// New validates cfg and builds the gateway. It starts the record writer;
// call Close to stop it.
func New(opts Options) (*Gateway, error) {
	if opts.Auth == nil {
		return nil, errors.New("aibridge: Options.Auth is required")
	}
	if opts.Store == nil {
		return nil, errors.New("aibridge: Options.Store is required")
	}
	cfg := opts.Config
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("aibridge: %w", err)
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	g := &Gateway{
		cfg:       cfg,
		auth:      opts.Auth,
		log:       opts.Logger,
		now:       opts.Now,
		transport: opts.Transport,
		providers: make(map[string]*provider, len(cfg.Providers)),
		tracer:    newTracer(opts.TracerProvider),
	}
	for _, p := range cfg.Providers {
		raw := p.BaseURL
		if raw == "" {
			raw = defaultBaseURL(p.Type)
		}
		u, err := parseBase(raw)
		if err != nil {
			return nil, fmt.Errorf("aibridge: provider %q: %w", p.Name, err)
		}
		g.providers[p.Name] = &provider{
			Provider:     p,
			base:         u,
			apiKeyHeader: []string{p.Key},
			bearerHeader: []string{"Bearer " + p.Key},
		}
	}
	if g.transport == nil {
		g.transport = NewTransport(cfg)
	}
	rec := newRecorder(opts.Store, cfg.Recorder, opts.Logger, cfg.StructuredLogging, g.tracer)
	m, err := newMetrics(opts.Registerer, rec)
	if err != nil {
		_ = rec.close(context.Background())
		return nil, fmt.Errorf("aibridge: register metrics: %w", err)
	}
	g.rec, g.m = rec, m
	if cfg.CircuitBreaker.Enabled {
		g.breakers = newBreakers(cfg.CircuitBreaker, m, opts.Logger)
	}
	if cfg.RateLimit > 0 {
		g.limiter = newRateLimiter(cfg.RateLimit)
	}
	g.base, g.cancelBase = context.WithCancel(context.Background())
	return g, nil
}

// NewTransport returns the upstream transport: a warm, large idle pool (no
// per-request dial, unlike the default of 2 idle connections per host), no
// response-header timeout (streams may think for minutes before the first
// byte; the stream idle timeout covers hangs), bounded dial and TLS set-up,
// and no transparent compression so the usage tap reads plain bytes.
func NewTransport(cfg Config) *http.Transport {
	cfg.setDefaults()
	d := &net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0, // no global cap; per-host cap below
		MaxIdleConnsPerHost:   cfg.MaxIdleConnsPerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   cfg.TLSHandshakeTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
		// Each pooled connection keeps its buffers while a stream is open,
		// so both are 2 KiB instead of the default 4. The write buffer only
		// carries the request line and headers (the body is written
		// straight through, in one call); the read buffer holds a header
		// line or a few SSE events at a time (longer lines are read in
		// pieces, and large bodies are read past it into the relay's
		// buffer).
		WriteBufferSize: 2 << 10,
		ReadBufferSize:  2 << 10,
	}
}

// Close stops accepting requests (they get a provider-shaped 503), waits for
// in-flight requests until ctx ends, then cancels the remaining upstream
// calls, waits for their handlers to end their interceptions, and flushes
// all records. The flush gets at least 5 s even when ctx has already ended,
// so that ended interceptions reach the store.
func (g *Gateway) Close(ctx context.Context) error {
	g.mu.Lock()
	if g.closing {
		g.mu.Unlock()
		return nil
	}
	g.closing = true
	g.mu.Unlock()

	drained := make(chan struct{})
	go func() { g.inflight.Wait(); close(drained) }()
	select {
	case <-drained:
	case <-ctx.Done():
		g.cancelBase()
		<-drained
	}
	g.cancelBase()
	flushCtx := ctx
	if dl, ok := ctx.Deadline(); !ok || time.Until(dl) < 5*time.Second {
		var cancel context.CancelFunc
		flushCtx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	err := g.rec.close(flushCtx)
	if t, ok := g.transport.(*http.Transport); ok {
		t.CloseIdleConnections()
	}
	return err
}

// Active is the number of gateway requests in flight.
func (g *Gateway) Active() int64 { return g.active.Load() }

// RecorderStats reports the record writer's counters.
func (g *Gateway) RecorderStats() RecorderStats { return g.rec.stats() }

// Flush blocks until every record enqueued before the call is written (or
// dropped) or ctx ends. Tests and the benchmark use it before reading the
// store.
func (g *Gateway) Flush(ctx context.Context) error { return g.rec.flush(ctx) }

// enter registers an in-flight request; false when the gateway is closing.
func (g *Gateway) enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closing {
		return false
	}
	g.inflight.Add(1)
	g.active.Add(1)
	return true
}

func (g *Gateway) leave() {
	g.active.Add(-1)
	g.inflight.Done()
}

// ServeHTTP implements http.Handler. It expects the full request path
// (/api/v2/aibridge/<name>/...).
func (g *Gateway) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	arrived := time.Now()
	path := r.URL.Path
	var rest string
	for _, pfx := range mountPrefixes {
		if strings.HasPrefix(path, pfx) {
			rest = path[len(pfx):]
			break
		}
	}
	name, sub := rest, "/"
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		name, sub = rest[:i], rest[i:]
	}
	p := g.providers[name]
	shape := shapeOpenAI
	if p != nil {
		shape = shapeOf(p.Type)
	} else if r.Header.Get("Anthropic-Version") != "" {
		shape = shapeAnthropic
	}
	reject := func(reason string, e *gwError) {
		label := "unknown" // never a client-chosen string: bounded label values
		if p != nil {
			label = p.Name
		}
		g.m.rejections.WithLabelValues(label, reason).Inc()
		e.write(rw, shape)
	}
	if !g.enter() {
		reject("shutting_down", errUnavailable("server closed", 5))
		return
	}
	defer g.leave()

	token, byok := extractToken(r.Header)
	if token == "" {
		reject("unauthenticated", errNoAuth())
		return
	}
	actor, err := g.auth.Authenticate(r.Context(), token)
	if err != nil {
		if errors.Is(err, ErrUnauthorized) {
			reject("unauthorized", errUnauthorized())
			return
		}
		g.log.ErrorContext(r.Context(), "aibridge: authenticate", "error", err)
		reject("auth_unavailable", errUnavailable("authentication is temporarily unavailable", 1))
		return
	}
	if p == nil {
		reject("not_found", errNotFound("route not supported: "+r.Method+" "+path))
		return
	}
	if byok && !g.cfg.AllowBYOK && p.Type != TypeCopilot {
		reject("byok_disabled", errForbidden("BYOK mode is not enabled"))
		return
	}
	// Copilot forwards the caller's own Copilot token, so the gantry token
	// must come in the governance header: a bearer here would be the
	// gantry token itself and must never go upstream.
	if p.Type == TypeCopilot && (!byok || r.Header.Get("Authorization") == "") {
		reject("copilot_credentials", &gwError{status: http.StatusUnauthorized, openAIType: "invalid_request_error", openAICode: "invalid_api_key",
			message: "copilot needs your own Copilot token in Authorization and the gantry token in X-Coder-AI-Governance-Token"})
		return
	}
	rt := classify(p.Type, r.Method, sub)
	switch rt.kind {
	case routeIntercept:
		if p.Bedrock != nil {
			reject("bedrock", errNotImplemented("AWS Bedrock providers are not supported by this gantry version"))
			return
		}
		if g.limiter != nil {
			key := actor.APIKeyID
			if key == "" {
				key = actor.UserID.String()
			}
			if !g.limiter.allow(key) {
				reject("rate_limited", errRateLimited(1))
				return
			}
		}
		if limit := int64(g.cfg.MaxConcurrency); limit > 0 {
			if g.intercepting.Add(1) > limit {
				g.intercepting.Add(-1)
				reject("at_capacity", errAtCapacity())
				return
			}
			defer g.intercepting.Add(-1)
		}
		g.intercept(rw, r, p, rt, actor, byok, arrived)
	case routePassthrough:
		g.m.passthrough.WithLabelValues(p.Name, rt.endpoint, r.Method).Inc()
		g.passthrough(rw, r, p, rt, byok)
	default:
		if r.Method == http.MethodGet && strings.HasSuffix(sub, "/responses") && headerListed(r.Header.Get("Upgrade"), "websocket") {
			// Codex tries the Responses WebSocket transport first; 426
			// makes it fall back to HTTP at once, where a 404 costs it
			// several seconds of retries.
			reject("websocket", &gwError{status: http.StatusUpgradeRequired, anthropicType: "invalid_request_error",
				openAIType: "invalid_request_error", openAICode: "websocket_not_supported",
				message: "the Responses WebSocket transport is not supported; use HTTP"})
			return
		}
		reject("not_found", errNotFound("route not supported: "+r.Method+" "+path))
	}
}

// Route classification.

type routeKind int

const (
	routeNone routeKind = iota
	routeIntercept
	routePassthrough
)

type apiKind int

const (
	apiNone apiKind = iota
	apiMessages
	apiChat
	apiResponses
)

func (a apiKind) String() string {
	switch a {
	case apiMessages:
		return "messages"
	case apiChat:
		return "chat_completions"
	case apiResponses:
		return "responses"
	}
	return "none"
}

type route struct {
	kind routeKind
	api  apiKind
	// upstream is the path appended to the provider's base URL.
	upstream string
	// endpoint is the route as the breaker and metrics name it
	// (e.g. /v1/messages).
	endpoint string
}

// classify maps a provider-relative path to a route. It allocates nothing.
func classify(t ProviderType, method, sub string) route {
	switch t {
	case TypeAnthropic:
		switch {
		case sub == "/v1/messages":
			if method == http.MethodPost {
				return route{routeIntercept, apiMessages, sub, sub}
			}
		case sub == "/v1/models", strings.HasPrefix(sub, "/v1/models/"),
			sub == "/v1/messages/count_tokens", strings.HasPrefix(sub, "/api/event_logging/"):
			return route{routePassthrough, apiNone, sub, sub}
		}
	case TypeOpenAI, TypeCopilot:
		rest := sub
		if t == TypeOpenAI {
			if !strings.HasPrefix(sub, "/v1/") {
				return route{}
			}
			rest = sub[len("/v1"):]
		}
		switch {
		case rest == "/chat/completions":
			if method == http.MethodPost {
				return route{routeIntercept, apiChat, rest, sub}
			}
		case rest == "/responses":
			if method == http.MethodPost {
				return route{routeIntercept, apiResponses, rest, sub}
			}
		case rest == "/models", strings.HasPrefix(rest, "/models/"):
			return route{routePassthrough, apiNone, rest, sub}
		case t == TypeOpenAI && (strings.HasPrefix(rest, "/responses/") || rest == "/conversations" || strings.HasPrefix(rest, "/conversations/")):
			return route{routePassthrough, apiNone, rest, sub}
		case t == TypeCopilot && (strings.HasPrefix(rest, "/agents/") || strings.HasPrefix(rest, "/mcp/") || strings.HasPrefix(rest, "/.well-known/")):
			return route{routePassthrough, apiNone, rest, sub}
		}
	}
	return route{}
}

// upstreamURL joins the provider base URL, the route path and the client's
// query string.
func (p *provider) upstreamURL(r *http.Request, rt route) *url.URL {
	u := *p.base
	u.Path = p.base.Path + rt.upstream
	u.RawPath = ""
	if r.URL.RawPath != "" {
		// The client used escapes that matter (e.g. %2F); keep them. The
		// mount prefix and provider name contain no escapable characters,
		// so the escaped path has the same prefix length.
		esc := r.URL.EscapedPath()
		if n := len(r.URL.Path) - len(rt.upstream); n >= 0 && n <= len(esc) {
			u.RawPath = p.base.EscapedPath() + esc[n:]
		}
	}
	u.RawQuery = r.URL.RawQuery
	u.Fragment = ""
	return &u
}
