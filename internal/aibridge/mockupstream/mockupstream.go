// Package mockupstream is a real HTTP server that imitates the three LLM APIs
// gantry's gateway intercepts: Anthropic Messages, OpenAI Chat Completions and
// OpenAI Responses, blocking and streaming (SSE, flushed per event), plus the
// passthrough routes (models, count_tokens, responses/{id}).
//
// Every request is recorded (method, path, query, headers including auth,
// body hash, the usage the mock reported and how the request ended), so
// tests and the benchmark can check what reached the upstream and compare the
// gateway's records with what the "provider" billed.
//
// Behaviour is chosen per request with X-Mock-* headers, falling back to the
// server's Defaults:
//
//	X-Mock-Ttft-Ms            delay before the first byte (ttft_ms)
//	X-Mock-Chunks             number of content deltas (chunks)
//	X-Mock-Chunk-Interval-Ms  gap between deltas (chunk_interval_ms)
//	X-Mock-Chunk-Bytes        size of each content delta (chunk_bytes)
//	X-Mock-Body-Bytes         approximate size of a blocking response (body_bytes)
//	X-Mock-Status             status to answer with (status)
//	X-Mock-Fail-Every-N       answer Status only on every Nth request (fail_every_n)
//	X-Mock-Scenario           comma-separated flags: tool, thinking,
//	                          stream_error, reset, hang, hang_before
//	X-Mock-Fail-After         content deltas sent before stream_error/reset/hang
//	X-Mock-Stamp              1: each content delta's text starts with a send
//	                          stamp, "@" + 19-digit Unix nanoseconds + "@"
//
// Scenario flags can also be appended to the model name with "+"
// ("claude-x+tool+thinking"), for clients that cannot set headers.
//
// The benchmark imports this package and calls New + Start (or serves
// Server.Handler itself); GET /_mock/stats returns Stats as JSON for a mock
// running in another process.
package mockupstream

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"hash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Knobs control one response. Zero values mean "use the server default"
// when they come from headers; Defaults itself is used as given.
type Knobs struct {
	TTFT          time.Duration
	Chunks        int
	ChunkInterval time.Duration
	ChunkBytes    int
	BodyBytes     int
	Status        int
	FailEveryN    int
	// FailAfter is how many content deltas are sent before a mid-stream
	// failure (stream_error, reset, hang). Default: Chunks/2.
	FailAfter int
	Scenario  Scenario
	// Stamp starts each streamed content delta's text with the wall-clock
	// time it was written (StampLen bytes, see AppendStamp), so a client on
	// the same host can measure each event's transit time.
	Stamp bool
}

// Scenario is a set of behaviour flags.
type Scenario struct {
	Tool        bool // the model calls a tool (get_weather)
	Thinking    bool // thinking block / reasoning summary / reasoning tokens
	StreamError bool // a provider error event after FailAfter deltas
	Reset       bool // TCP reset after FailAfter deltas
	Hang        bool // stop sending after FailAfter deltas until the client leaves
	HangBefore  bool // never send headers until the client leaves
}

// ParseScenario parses a comma-separated flag list; unknown flags are ignored.
func ParseScenario(s string) Scenario {
	var sc Scenario
	for f := range strings.SplitSeq(s, ",") {
		switch strings.TrimSpace(strings.ToLower(f)) {
		case "tool":
			sc.Tool = true
		case "thinking", "reasoning":
			sc.Thinking = true
		case "stream_error":
			sc.StreamError = true
		case "reset":
			sc.Reset = true
		case "hang":
			sc.Hang = true
		case "hang_before":
			sc.HangBefore = true
		}
	}
	return sc
}

func mergeScenario(a, b Scenario) Scenario {
	return Scenario{
		Tool: a.Tool || b.Tool, Thinking: a.Thinking || b.Thinking, StreamError: a.StreamError || b.StreamError,
		Reset: a.Reset || b.Reset, Hang: a.Hang || b.Hang, HangBefore: a.HangBefore || b.HangBefore,
	}
}

// DefaultKnobs follow the benchmark method's SSE default: 64 deltas 20 ms
// apart.
func DefaultKnobs() Knobs {
	return Knobs{Chunks: 64, ChunkInterval: 20 * time.Millisecond, ChunkBytes: 16, BodyBytes: 2048, Status: http.StatusOK}
}

// Usage is what the mock reported for one request, in the provider's own
// terms mapped to common names. For OpenAI, Input includes CacheRead (as
// prompt_tokens does).
type Usage struct {
	Input      int64 `json:"input"`
	Output     int64 `json:"output"`
	CacheRead  int64 `json:"cache_read"`
	CacheWrite int64 `json:"cache_write"`
	Reasoning  int64 `json:"reasoning"`
}

// Outcome says how the mock ended a request.
type Outcome string

const (
	OutcomeOK          Outcome = "ok"
	OutcomeStatus      Outcome = "status"       // answered a non-200 status
	OutcomeStreamError Outcome = "stream_error" // sent a provider error event mid-stream
	OutcomeReset       Outcome = "reset"
	OutcomeHang        Outcome = "hang"
	OutcomeClientGone  Outcome = "client_gone" // the client went away first
)

// Request is one recorded request.
type Request struct {
	Seq        int64
	RemoteAddr string // the client's address: one per connection
	Method     string
	Path       string
	RawQuery   string
	Header     http.Header
	BodySHA256 string
	Body       []byte // kept when Options.KeepBodies
	Model      string
	Stream     bool
	// ResponseID is the id the mock put on the message/completion/response.
	ResponseID string
	// Usage is what the mock reported to the client; zero when no usage
	// was sent (errors, chat streams without include_usage).
	Usage       Usage
	UsageSent   bool
	Outcome     Outcome
	ToolCallID  string // set when the scenario included a tool call
	ContentSent int    // content deltas written
	// ResponseSHA256 is the hash of the response body bytes written, so a
	// test can prove a relay delivered them unchanged.
	ResponseSHA256 string
}

// Stats are running totals, cheap to read at any time.
type Stats struct {
	Requests      int64 `json:"requests"`
	Failures      int64 `json:"failures"`
	UsageReports  int64 `json:"usage_reports"`
	InputTokens   int64 `json:"input_tokens"`
	OutputTokens  int64 `json:"output_tokens"`
	CacheRead     int64 `json:"cache_read_tokens"`
	CacheWrite    int64 `json:"cache_write_tokens"`
	CPUUserMicros int64 `json:"cpu_user_us"`
	CPUSysMicros  int64 `json:"cpu_sys_us"`
}

// Options configure a Server.
type Options struct {
	Defaults Knobs
	// KeepBodies stores request bodies in Request.Body.
	KeepBodies bool
	// MaxRecords bounds the request log (default 10000); totals keep counting.
	MaxRecords int
}

// Server is the mock upstream. Its Handler can be served by any listener.
type Server struct {
	opts    Options
	seq     atomic.Int64
	mu      sync.Mutex
	records []*Request
	done    chan struct{}
	close   sync.Once

	requests, failures, usageReports          atomic.Int64
	inTok, outTok, cacheReadTok, cacheWriteTk atomic.Int64

	httpServer *httptest.Server
}

// New returns a server with the given options (zero Defaults become
// DefaultKnobs).
func New(opts Options) *Server {
	if opts.Defaults == (Knobs{}) {
		opts.Defaults = DefaultKnobs()
	}
	if opts.Defaults.Status == 0 {
		opts.Defaults.Status = http.StatusOK
	}
	if opts.MaxRecords <= 0 {
		opts.MaxRecords = 10000
	}
	return &Server{opts: opts, done: make(chan struct{})}
}

// Start serves on a fresh 127.0.0.1 port and returns the base URL
// (http://127.0.0.1:port, no trailing slash).
func (s *Server) Start() string {
	s.httpServer = httptest.NewServer(s)
	return s.httpServer.URL
}

// URL is the base URL after Start.
func (s *Server) URL() string { return s.httpServer.URL }

// Close releases hanging handlers and stops the server started by Start.
func (s *Server) Close() {
	s.close.Do(func() { close(s.done) })
	if s.httpServer != nil {
		s.httpServer.CloseClientConnections()
		s.httpServer.Close()
	}
}

// Requests returns a snapshot of the recorded requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Request, len(s.records))
	for i, r := range s.records {
		out[i] = *r
	}
	return out
}

// Reset clears the request log and totals.
func (s *Server) Reset() {
	s.mu.Lock()
	s.records = nil
	s.mu.Unlock()
	for _, c := range []*atomic.Int64{&s.requests, &s.failures, &s.usageReports, &s.inTok, &s.outTok, &s.cacheReadTok, &s.cacheWriteTk} {
		c.Store(0)
	}
}

// Stats returns the running totals and the process CPU time.
func (s *Server) Stats() Stats {
	st := Stats{
		Requests:     s.requests.Load(),
		Failures:     s.failures.Load(),
		UsageReports: s.usageReports.Load(),
		InputTokens:  s.inTok.Load(),
		OutputTokens: s.outTok.Load(),
		CacheRead:    s.cacheReadTok.Load(),
		CacheWrite:   s.cacheWriteTk.Load(),
	}
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		// Nano is int64 on every platform (Timeval's fields are not).
		st.CPUUserMicros = ru.Utime.Nano() / 1e3
		st.CPUSysMicros = ru.Stime.Nano() / 1e3
	}
	return st
}

func (s *Server) finish(rec *Request) {
	if rec.UsageSent {
		s.usageReports.Add(1)
		s.inTok.Add(rec.Usage.Input)
		s.outTok.Add(rec.Usage.Output)
		s.cacheReadTok.Add(rec.Usage.CacheRead)
		s.cacheWriteTk.Add(rec.Usage.CacheWrite)
	}
	if rec.Outcome != OutcomeOK {
		s.failures.Add(1)
	}
}

// knobs merges the request's X-Mock-* headers over the defaults.
func (s *Server) knobs(h http.Header) Knobs {
	k := s.opts.Defaults
	ms := func(name string, d *time.Duration) {
		if v := h.Get(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				*d = time.Duration(n) * time.Millisecond
			}
		}
	}
	num := func(name string, d *int) {
		if v := h.Get(name); v != "" {
			if n, err := strconv.Atoi(v); err == nil && n >= 0 {
				*d = n
			}
		}
	}
	ms("X-Mock-Ttft-Ms", &k.TTFT)
	ms("X-Mock-Chunk-Interval-Ms", &k.ChunkInterval)
	num("X-Mock-Chunks", &k.Chunks)
	num("X-Mock-Chunk-Bytes", &k.ChunkBytes)
	num("X-Mock-Body-Bytes", &k.BodyBytes)
	num("X-Mock-Status", &k.Status)
	num("X-Mock-Fail-Every-N", &k.FailEveryN)
	num("X-Mock-Fail-After", &k.FailAfter)
	if v := h.Get("X-Mock-Scenario"); v != "" {
		k.Scenario = ParseScenario(v)
	}
	if v := h.Get("X-Mock-Stamp"); v != "" {
		k.Stamp = v == "1"
	}
	if k.ChunkBytes <= 0 {
		k.ChunkBytes = 1
	}
	if k.FailAfter <= 0 || k.FailAfter > k.Chunks {
		k.FailAfter = k.Chunks / 2
	}
	return k
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/_mock/stats" {
		rw.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(rw).Encode(s.Stats())
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	sum := sha256.Sum256(body)
	rec := &Request{
		Seq:        s.seq.Add(1),
		RemoteAddr: r.RemoteAddr,
		Method:     r.Method,
		Path:       r.URL.Path,
		RawQuery:   r.URL.RawQuery,
		Header:     r.Header.Clone(),
		BodySHA256: hex.EncodeToString(sum[:]),
		Outcome:    OutcomeOK,
	}
	if s.opts.KeepBodies {
		rec.Body = body
	}
	s.requests.Add(1)
	s.mu.Lock()
	if len(s.records) < s.opts.MaxRecords {
		s.records = append(s.records, rec)
	}
	s.mu.Unlock()
	// The record is shared with Requests() snapshots; fields are written
	// under mu at the end only.
	local := *rec
	pub := func() {
		s.mu.Lock()
		*rec = local
		s.mu.Unlock()
	}
	hw := &hashingWriter{ResponseWriter: rw, h: sha256.New()}
	defer func() {
		local.ResponseSHA256 = hex.EncodeToString(hw.h.Sum(nil))
		s.finish(&local)
		pub()
	}()
	s.serve(hw, r, body, &local, pub)
}

// serve answers one request. rec is the handler's private copy of the
// record; pub publishes it, which happens before anything the client can
// observe as an ending (a reset, a hang, the last event), so a test that
// reacts to the ending reads a complete record.
func (s *Server) serve(rw http.ResponseWriter, r *http.Request, body []byte, rec *Request, pub func()) {
	k := s.knobs(r.Header)
	path := r.URL.Path
	var api apiKind
	switch {
	case r.Method == http.MethodGet && (strings.HasSuffix(path, "/models") || strings.Contains(path, "/models/")):
		writeJSON(rw, http.StatusOK, modelsBody)
		return
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/messages/count_tokens"):
		writeJSON(rw, http.StatusOK, []byte(`{"input_tokens":`+strconv.Itoa(max(1, len(body)/4))+`}`))
		return
	case r.Method == http.MethodGet && strings.Contains(path, "/responses/"):
		id := path[strings.LastIndex(path, "/")+1:]
		writeJSON(rw, http.StatusOK, []byte(`{"id":"`+id+`","object":"response","status":"completed","output":[]}`))
		return
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/messages"):
		api = apiMessages
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/chat/completions"):
		api = apiChat
	case r.Method == http.MethodPost && strings.HasSuffix(path, "/responses"):
		api = apiResponses
	default:
		rec.Outcome = OutcomeStatus
		http.Error(rw, "mock: no route "+r.Method+" "+path, http.StatusNotFound)
		return
	}

	var req struct {
		Model         string `json:"model"`
		Stream        bool   `json:"stream"`
		StreamOptions *struct {
			IncludeUsage bool `json:"include_usage"`
		} `json:"stream_options"`
	}
	if err := json.Unmarshal(body, &req); err != nil || req.Model == "" {
		rec.Outcome = OutcomeStatus
		writeError(rw, api, http.StatusBadRequest, "invalid_request_error", "mock: body must be JSON with a model")
		return
	}
	rec.Model, rec.Stream = req.Model, req.Stream
	// Clients that cannot send headers (CLIs) pick a scenario through the
	// model name: "claude-x+tool+thinking".
	if i := strings.IndexByte(req.Model, '+'); i >= 0 {
		sc := ParseScenario(strings.ReplaceAll(req.Model[i+1:], "+", ","))
		k.Scenario = mergeScenario(k.Scenario, sc)
	}

	if k.Scenario.HangBefore {
		rec.Outcome = OutcomeHang
		pub()
		s.wait(r)
		return
	}
	if !sleep(r, s.done, k.TTFT) {
		rec.Outcome = OutcomeClientGone
		return
	}
	if k.Status != http.StatusOK && k.Status != 0 && (k.FailEveryN <= 0 || rec.Seq%int64(k.FailEveryN) == 0) {
		rec.Outcome = OutcomeStatus
		pub()
		writeError(rw, api, k.Status, errorType(api, k.Status), "mock: forced status "+strconv.Itoa(k.Status))
		return
	}

	g := newGen(api, req.Model, rec.Seq, len(body), k)
	rec.ResponseID = g.id
	if k.Scenario.Tool {
		rec.ToolCallID = g.toolCallID
	}
	if !req.Stream {
		rec.Usage, rec.UsageSent = g.usage, true
		pub()
		writeJSON(rw, http.StatusOK, g.blocking())
		return
	}
	includeUsage := api != apiChat || (req.StreamOptions != nil && req.StreamOptions.IncludeUsage)
	s.stream(rw, r, g, k, includeUsage, rec, pub)
}

// stream writes the SSE response, one flush per event.
func (s *Server) stream(rw http.ResponseWriter, r *http.Request, g *gen, k Knobs, includeUsage bool, rec *Request, pub func()) {
	fl, _ := rw.(http.Flusher)
	h := rw.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("Request-Id", "req_mock_"+strconv.FormatInt(rec.Seq, 10))
	rw.WriteHeader(http.StatusOK)
	buf := make([]byte, 0, 4096)
	emit := func(b []byte) bool {
		if _, err := rw.Write(b); err != nil {
			return false
		}
		if fl != nil {
			fl.Flush()
		}
		return true
	}
	failing := k.Scenario.StreamError || k.Scenario.Reset || k.Scenario.Hang
	for _, ev := range g.prelude() {
		if !emit(ev) {
			rec.Outcome = OutcomeClientGone
			return
		}
	}
	// Usage that the prelude already reported (Anthropic message_start).
	if g.api == apiMessages {
		rec.Usage.Input, rec.Usage.CacheRead, rec.Usage.CacheWrite = g.usage.Input, g.usage.CacheRead, g.usage.CacheWrite
		rec.Usage.Output = 1
		rec.UsageSent = true
	}
	pub()
	for i := range k.Chunks {
		if failing && i == k.FailAfter {
			s.fail(rw, r, g, k, rec, emit, pub)
			return
		}
		if i > 0 && !sleep(r, s.done, k.ChunkInterval) {
			rec.Outcome = OutcomeClientGone
			return
		}
		buf = g.delta(buf[:0], i)
		if !emit(buf) {
			rec.Outcome = OutcomeClientGone
			return
		}
		rec.ContentSent++
	}
	if failing {
		s.fail(rw, r, g, k, rec, emit, pub)
		return
	}
	if includeUsage {
		rec.Usage, rec.UsageSent = g.usage, true
	}
	pub()
	for _, ev := range g.epilogue(includeUsage) {
		if !emit(ev) {
			rec.Outcome = OutcomeClientGone
			return
		}
	}
}

func (s *Server) fail(rw http.ResponseWriter, r *http.Request, g *gen, k Knobs, rec *Request, emit func([]byte) bool, pub func()) {
	switch {
	case k.Scenario.StreamError:
		rec.Outcome = OutcomeStreamError
		pub()
		emit(g.streamError())
	case k.Scenario.Reset:
		rec.Outcome = OutcomeReset
		pub()
		resetConn(rw)
	case k.Scenario.Hang:
		rec.Outcome = OutcomeHang
		pub()
		s.wait(r)
	}
}

// wait blocks until the client leaves or the server closes.
func (s *Server) wait(r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-s.done:
	}
}

// hashingWriter hashes the body bytes it passes on.
type hashingWriter struct {
	http.ResponseWriter
	h hash.Hash
}

func (w *hashingWriter) Write(b []byte) (int, error) {
	w.h.Write(b)
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach Flush and Hijack.
func (w *hashingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (w *hashingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// resetConn hijacks the connection and closes it with SO_LINGER 0, which
// makes the kernel send RST instead of FIN.
func resetConn(rw http.ResponseWriter) {
	conn, _, err := http.NewResponseController(rw).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func sleep(r *http.Request, done <-chan struct{}, d time.Duration) bool {
	if d <= 0 {
		return r.Context().Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	case <-done:
		return false
	}
}

func writeJSON(rw http.ResponseWriter, status int, body []byte) {
	rw.Header().Set("Content-Type", "application/json")
	rw.Header().Set("Content-Length", strconv.Itoa(len(body)))
	rw.WriteHeader(status)
	_, _ = rw.Write(body)
}

func errorType(api apiKind, status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == 529:
		return "overloaded_error"
	case status >= 500:
		if api == apiMessages {
			return "api_error"
		}
		return "server_error"
	case status == http.StatusUnauthorized:
		return "authentication_error"
	default:
		return "invalid_request_error"
	}
}

// writeError answers in the provider's error shape, with a request id as the
// real APIs send one.
func writeError(rw http.ResponseWriter, api apiKind, status int, typ, msg string) {
	var body []byte
	if api == apiMessages {
		body, _ = json.Marshal(map[string]any{
			"type":       "error",
			"error":      map[string]any{"type": typ, "message": msg},
			"request_id": "req_mock_error",
		})
	} else {
		body, _ = json.Marshal(map[string]any{
			"error": map[string]any{"message": msg, "type": typ, "param": nil, "code": typ},
		})
	}
	rw.Header().Set("Request-Id", "req_mock_error")
	if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
		rw.Header().Set("Retry-After", "1")
	}
	writeJSON(rw, status, body)
}

var modelsBody = []byte(`{"object":"list","data":[{"id":"mock-model","object":"model","type":"model","display_name":"Mock","created":1700000000,"created_at":"2025-01-01T00:00:00Z","owned_by":"mock"}],"has_more":false,"first_id":"mock-model","last_id":"mock-model"}`)
