package main

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// subject is one way to reach the mock: direct, through the floor, or
// through a gantry server.
type subject struct {
	name string
	// pid is sampled for CPU and RSS (the mock's pid for direct).
	pid int
	// anthropic is the base that "/v1/messages" is appended to; openai the
	// base (including /v1) that "/chat/completions" is appended to.
	anthropic, openai string
	token             string
	g                 *gantryServer
	// peer is set for a peer gateway (peers.go).
	peer *peerServer
	// idleRSS in MiB, sampled after start-up with no traffic.
	idleRSS float64
}

// harness is one benchmark run.
type harness struct {
	cfg    config
	prof   profile
	rep    *report.Report
	l      *launcher
	tmp    string
	client *http.Client
	// streamClient has no overall timeout (streams are long).
	streamClient *http.Client

	mock     *proc
	mockURL  string
	floor    *proc
	gantries []*gantryServer
	peers    []*peerServer
	direct   *subject
	subjects []*subject // direct first, then floor, then gantry ones, then peers

	// rigRPS is the load generator -> mock ceiling (S1 body).
	rigRPS float64
	bin    string
	// figs holds the headline figures the targets are evaluated on.
	figs figures
	// ref is the reference started with -reference-bin (reference.go);
	// refErr why it is not running.
	ref    *referenceServer
	refErr error
	// bombardier is the checked -bombardier binary, empty when the
	// crosscheck phase cannot run (crosscheck.go).
	bombardier string
}

func runBench(ctx context.Context, cfg config, pinned, noTaskset bool) int {
	prof := profileFor(cfg.profile)
	rep := &report.Report{}
	gmp := "2"
	if pinned {
		gmp = "1"
	}
	environment(ctx, rep, prof, pinned, noTaskset, gmp)
	if cfg.pprofDir != "" {
		if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "bench: -pprof-dir:", err)
			return 1
		}
	}
	tmp, err := os.MkdirTemp("", "gantry-bench-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	h := &harness{
		cfg: cfg, prof: prof, rep: rep, tmp: tmp,
		l:            &launcher{pinned: pinned, gomaxprocs: gmp, logDir: tmp},
		client:       newClient(30 * time.Second),
		streamClient: newClient(0),
	}
	started := time.Now()
	err = h.run(ctx)
	h.shutdown()
	rep.Env("elapsed", time.Since(started).Round(time.Second).String())
	if err != nil {
		rep.Check("benchmark completed", false, err.Error())
	} else {
		rep.Check("benchmark completed", true, "")
	}
	if cfg.keep || rep.Failed() {
		rep.Note("logs and databases kept in %s", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	if err := rep.WriteTable(os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	out := os.Stdout
	if cfg.out != "" {
		f, err := os.Create(cfg.out)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer f.Close()
		out = f
	}
	w := bufio.NewWriter(out)
	if err := rep.WriteJSON(w); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
	}
	_ = w.Flush()
	if rep.Failed() {
		return 2
	}
	return 0
}

func (h *harness) progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func (h *harness) shutdown() {
	for _, g := range h.gantries {
		g.proc.stop(10 * time.Second)
	}
	h.stopReference()
	h.stopPeers()
	h.floor.stop(2 * time.Second)
	h.mock.stop(2 * time.Second)
}

func (h *harness) run(ctx context.Context) error {
	var err error
	h.progress("starting mock upstream and floor")
	h.mock, h.mockURL, err = h.l.startRole(ctx, "mock", coreRig)
	if err != nil {
		return fmt.Errorf("mock: %w", err)
	}
	floorProc, floorURL, err := h.l.startRole(ctx, "floor", coreSubject, "-upstream", h.mockURL)
	if err != nil {
		return fmt.Errorf("floor: %w", err)
	}
	h.floor = floorProc
	h.direct = &subject{name: "direct", pid: h.mock.Pid(), anthropic: h.mockURL, openai: h.mockURL + "/v1", token: upstreamKey}
	h.subjects = []*subject{
		h.direct,
		{name: "floor", pid: floorProc.Pid(), anthropic: floorURL, openai: floorURL + "/v1", token: "bench-user-token"},
	}
	h.sampleIdle(h.subjects[1])

	// Peers start first so gantry's idle wait covers theirs too.
	h.startPeers(ctx)
	if err := h.startGantries(ctx); err != nil {
		// The gateway rows cannot be measured, but the direct/floor rows
		// and the rig ceiling still can.
		h.rep.Check("gantry started", false, err.Error())
	}
	h.addPeerSubjects(ctx)
	if h.cfg.refBin != "" && (h.cfg.phaseEnabled("startup") || h.cfg.phaseEnabled("api")) {
		h.startReference(ctx)
	}

	h.checkBombardier()

	phases := []struct {
		name string
		fn   func(context.Context) error
	}{
		{"rig", h.phaseRig},
		{"latency", h.phaseLatency},
		{"sse", h.phaseSSE},
		{"fidelity", h.phaseFidelity},
		// Memory per stream is measured before the saturation runs have
		// grown the heap (RSS rarely shrinks back).
		{"streams", h.phaseStreams},
		{"saturation", h.phaseSaturation},
		// TTFT under 50% of the saturation rate measured just before.
		{"sse-load", h.phaseSSELoad},
		{"cpu", h.phaseCPU},
		{"api", h.phaseAPI},
		{"errors", h.phaseErrors},
		// Closed loop after everything else measured, so its load does not
		// shape their heaps; saturation's goodput is there to compare.
		{"crosscheck", h.phaseCrosscheck},
		{"soak", h.phaseSoak},
	}
	for _, p := range phases {
		// sse-load runs with sse too.
		if !h.cfg.phaseEnabled(p.name) && (p.name != "sse-load" || !h.cfg.phaseEnabled("sse")) {
			continue
		}
		if p.name == "soak" && h.cfg.soak <= 0 {
			continue
		}
		if p.name == "crosscheck" && h.bombardier == "" {
			continue
		}
		if ctx.Err() != nil {
			return fmt.Errorf("time limit reached before phase %s", p.name)
		}
		h.progress("phase %s", p.name)
		if err := p.fn(ctx); err != nil {
			h.rep.Check("phase "+p.name, false, err.Error())
		}
	}
	h.recovered(ctx)
	h.evaluateTargets()
	return nil
}

// gantrySubjects returns the gantry subjects.
func (h *harness) gantrySubjects() []*subject {
	var out []*subject
	for _, s := range h.subjects {
		if s.g != nil {
			out = append(out, s)
		}
	}
	return out
}

// proxySubjects returns every subject except direct.
func (h *harness) proxySubjects() []*subject { return h.subjects[1:] }

// sampleIdle records a subject's RSS now as its idle RSS.
func (h *harness) sampleIdle(s *subject) {
	if smp, err := procstat.Read(s.pid); err == nil {
		s.idleRSS = mib(smp.RSSBytes)
	}
}

func mib(b int64) float64 { return float64(b) / (1 << 20) }

// --- request shapes ---------------------------------------------------

// shape is one of the three APIs.
type shape string

const (
	shapeChat      shape = "chat"
	shapeMessages  shape = "messages"
	shapeResponses shape = "responses"
)

// request builds a target for s in the given shape. knobs become X-Mock-*
// headers.
func (s *subject) request(sh shape, body []byte, knobs map[string]int, scenario string) target {
	hd := http.Header{}
	hd.Set("Content-Type", "application/json")
	hd.Set("User-Agent", "gantry-bench/1")
	var u string
	switch sh {
	case shapeMessages:
		u = s.anthropic + "/v1/messages"
		hd.Set("Anthropic-Version", anthropicVersion)
		hd.Set("Anthropic-Beta", anthropicBeta)
		hd.Set("X-Api-Key", s.token)
	case shapeChat:
		u = s.openai + "/chat/completions"
		hd.Set("Authorization", "Bearer "+s.token)
	case shapeResponses:
		u = s.openai + "/responses"
		hd.Set("Authorization", "Bearer "+s.token)
	}
	for k, v := range knobs {
		hd.Set(k, strconv.Itoa(v))
	}
	if scenario != "" {
		hd.Set("X-Mock-Scenario", scenario)
	}
	if s.peer != nil {
		s.peer.decorate(sh, hd)
	}
	return target{method: http.MethodPost, url: u, body: body, header: hd}
}

// withCheck marks a target for the mock-side fidelity check.
func withCheck(t target, sh shape, hashBody bool) target {
	t.header = t.header.Clone()
	if sh == shapeMessages {
		t.header.Set(checkHeader, "anthropic")
	} else {
		t.header.Set(checkHeader, "openai")
	}
	if hashBody {
		sum := sha256.Sum256(t.body)
		t.header.Set(bodyHashHeader, hex.EncodeToString(sum[:]))
	}
	return t
}

// mockKnobs for a non-streaming response of bodyBytes.
func instantKnobs(bodyBytes int) map[string]int {
	return map[string]int{"X-Mock-Ttft-Ms": 0, "X-Mock-Body-Bytes": bodyBytes, "X-Mock-Status": 200}
}

// streamKnobs for a paced stream.
func streamKnobs(chunks int, interval time.Duration) map[string]int {
	return map[string]int{
		"X-Mock-Ttft-Ms": 0, "X-Mock-Chunks": chunks,
		"X-Mock-Chunk-Interval-Ms": int(interval / time.Millisecond), "X-Mock-Chunk-Bytes": 16, "X-Mock-Status": 200,
	}
}

// pad returns a filler string of n bytes of prose-like text.
func pad(n int) string {
	if n <= 0 {
		return ""
	}
	const unit = "You are a careful coding agent. Follow the repository conventions. "
	return strings.Repeat(unit, n/len(unit)+1)[:n]
}

// toolSchemas mimics Claude Code's tool list: n JSON-schema tools.
func toolSchemas(n int) []map[string]any {
	tools := make([]map[string]any, n)
	for i := range tools {
		tools[i] = map[string]any{
			"name":        fmt.Sprintf("tool_%02d", i),
			"description": pad(600),
			"input_schema": map[string]any{
				"type": "object",
				"properties": map[string]any{
					"path":    map[string]any{"type": "string", "description": "Absolute path of the file to work on."},
					"content": map[string]any{"type": "string", "description": "New content, or the text to search for."},
					"limit":   map[string]any{"type": "integer", "description": "Maximum number of lines."},
				},
				"required": []string{"path"},
			},
		}
	}
	return tools
}

// sizedBody marshals build(padding) growing the padding until the body is
// size bytes (to within a few bytes).
func sizedBody(size int, build func(padding string) any) []byte {
	base, _ := json.Marshal(build(""))
	n := size - len(base)
	b, _ := json.Marshal(build(pad(n)))
	return b
}

func chatBody(size int, stream bool) []byte {
	return sizedBody(size, func(p string) any {
		m := map[string]any{
			"model": "gpt-bench",
			"messages": []map[string]any{
				{"role": "system", "content": p},
				{"role": "user", "content": "Summarise the change in one sentence."},
			},
		}
		if stream {
			m["stream"] = true
			m["stream_options"] = map[string]any{"include_usage": true}
		}
		return m
	})
}

func messagesBody(size int, stream bool, tools int) []byte {
	ts := toolSchemas(tools)
	return sizedBody(size, func(p string) any {
		m := map[string]any{
			"model":      "claude-bench",
			"max_tokens": 4096,
			"system":     p,
			"messages":   []map[string]any{{"role": "user", "content": "Fix the failing test."}},
		}
		if tools > 0 {
			m["tools"] = ts
		}
		if stream {
			m["stream"] = true
		}
		return m
	})
}

func responsesBody(size int, stream bool) []byte {
	return sizedBody(size, func(p string) any {
		m := map[string]any{
			"model":        "gpt-bench",
			"instructions": p,
			"input":        []map[string]any{{"type": "message", "role": "user", "content": []map[string]any{{"type": "input_text", "text": "Run the tests."}}}},
			"store":        false,
			"reasoning":    map[string]any{"effort": "medium", "summary": "auto"},
		}
		if stream {
			m["stream"] = true
		}
		return m
	})
}

// --- gantry subjects ----------------------------------------------------

func (h *harness) startGantries(ctx context.Context) error {
	if h.cfg.gantryBin != "" {
		h.bin = h.cfg.gantryBin
	} else {
		h.progress("building gantry")
		bin, err := buildGantry(ctx, h.tmp)
		if err != nil {
			return err
		}
		h.bin = bin
	}
	if h.cfg.phaseEnabled("startup") {
		h.phaseStartup(ctx)
	}
	backends := []struct{ name, pg string }{{"gantry-sqlite", ""}}
	if h.cfg.postgresURL != "" {
		backends = append(backends, struct{ name, pg string }{"gantry-postgres", h.cfg.postgresURL})
	} else {
		h.rep.Note("gantry-postgres: not measured (no -postgres-url)")
	}
	for _, b := range backends {
		dir := filepath.Join(h.tmp, b.name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		g, _, err := h.l.startGantry(ctx, b.name, gantrySpec{bin: h.bin, cacheDir: dir, postgresURL: b.pg, mockURL: h.mockURL, pprof: true, prometheus: true})
		if err != nil {
			return fmt.Errorf("%s: %w", b.name, err)
		}
		h.gantries = append(h.gantries, g)
	}
	// Idle RSS: METHOD.md §11 samples it 10 s after the first 200 with no
	// traffic, so before the first user is created (password hashing is
	// memory-hard and would show up here).
	time.Sleep(h.prof.idleWait)
	for _, g := range h.gantries {
		s := &subject{
			name: g.name, pid: g.proc.Pid(), g: g,
			anthropic: g.url + "/api/v2/aibridge/" + providerAnthropic,
			openai:    g.url + "/api/v2/aibridge/" + providerOpenAI + "/v1",
		}
		h.sampleIdle(s)
		h.setFigure("idle", s.name, "rss_mib", s.idleRSS)
		h.rep.Add(report.Row{Subject: s.name, Scenario: "idle-rss", Level: "10s after healthz, no traffic", Value: report.Ptr(s.idleRSS), Unit: "MiB"})
		var err error
		g.token, g.userID, err = login(ctx, h.client, g.url, benchEmail, benchUsername, benchPassword)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		s.token = g.token
		h.subjects = append(h.subjects, s)
	}
	return nil
}

// phaseStartup measures exec -> first 200 on /healthz, cold (empty cache
// dir, includes migrations) and warm (restart on the same dir).
func (h *harness) phaseStartup(ctx context.Context) {
	h.progress("phase startup")
	var cold, warm []float64
	warmDir := filepath.Join(h.tmp, "startup-warm")
	for i := range h.prof.startups {
		dir := filepath.Join(h.tmp, fmt.Sprintf("startup-cold-%d", i))
		if i == 0 {
			dir = warmDir
		}
		g, d, err := h.l.startGantry(ctx, "gantry-startup", gantrySpec{bin: h.bin, cacheDir: dir, mockURL: h.mockURL})
		if err != nil {
			h.rep.Check("startup (cold)", false, err.Error())
			return
		}
		cold = append(cold, float64(d)/float64(time.Millisecond))
		g.proc.stop(10 * time.Second)
	}
	for range h.prof.startups {
		g, d, err := h.l.startGantry(ctx, "gantry-startup", gantrySpec{bin: h.bin, cacheDir: warmDir, mockURL: h.mockURL})
		if err != nil {
			h.rep.Check("startup (warm)", false, err.Error())
			return
		}
		warm = append(warm, float64(d)/float64(time.Millisecond))
		g.proc.stop(10 * time.Second)
	}
	for _, m := range []struct {
		level string
		v     []float64
	}{{"cold (empty sqlite)", cold}, {"warm (restart)", warm}} {
		sp := stats.Summarize(m.v)
		key := "cold_ms"
		if m.level == "warm (restart)" {
			key = "warm_ms"
		}
		h.setFigure("startup", "gantry-sqlite", key, sp.Median)
		h.rep.Add(report.Row{Subject: "gantry-sqlite", Scenario: "startup-to-healthz", Level: m.level,
			Value: report.Ptr(sp.Median), Unit: "ms", Note: fmt.Sprintf("median of %d, IQR %.1f ms, 10 ms polling", sp.N, sp.IQR)})
	}
}
