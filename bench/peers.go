package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gantry/bench/internal/report"
	"gantry/bench/internal/sse"
)

// Peers (METHOD.md §7): other gateways measured side by side with gantry,
// installed from npm at run time by scripts/install-peers.sh into
// -peer-dir (bench/.peers, gitignored) and started pinned like gantry. They
// record nothing, so the records and tokens checks stay with the gantry
// subjects; the phases that compare relaying (latency, sse, streams,
// saturation, cpu) measure them, each scenario only after a probe showed
// the peer really serves it.

// peerSpec is one peer the bench knows how to start.
type peerSpec struct {
	name    string
	pkg     string // npm package
	version string // the only version accepted
	entry   string // script inside the package that starts the server
}

var knownPeers = []peerSpec{
	{name: "portkey", pkg: "@portkey-ai/gateway", version: "1.15.2", entry: "build/start-server.js"},
}

// parsePeers turns the -peers flag into specs, in flag order.
func parsePeers(flag string) ([]peerSpec, error) {
	var out []peerSpec
	for name := range strings.SplitSeq(flag, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		i := slices.IndexFunc(knownPeers, func(p peerSpec) bool { return p.name == name })
		if i < 0 {
			return nil, fmt.Errorf("-peers: unknown peer %q (known: %s)", name, peerNames())
		}
		if !slices.ContainsFunc(out, func(p peerSpec) bool { return p.name == name }) {
			out = append(out, knownPeers[i])
		}
	}
	return out, nil
}

func peerNames() string {
	names := make([]string, len(knownPeers))
	for i, p := range knownPeers {
		names[i] = p.name
	}
	return strings.Join(names, ",")
}

// packageVersion reads the version of an installed npm package under dir.
func packageVersion(dir, pkg string) (string, error) {
	b, err := os.ReadFile(filepath.Join(dir, "node_modules", filepath.FromSlash(pkg), "package.json"))
	if err != nil {
		return "", err
	}
	var meta struct {
		Version string `json:"version"`
	}
	if err := json.Unmarshal(b, &meta); err != nil {
		return "", fmt.Errorf("%s package.json: %w", pkg, err)
	}
	return meta.Version, nil
}

// installedEntry returns the peer's start script under dir, or why it
// cannot be used.
func (p peerSpec) installedEntry(dir string) (string, error) {
	v, err := packageVersion(dir, p.pkg)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("%s not installed in %s (scripts/install-peers.sh)", p.pkg, dir)
	}
	if err != nil {
		return "", err
	}
	if v != p.version {
		return "", fmt.Errorf("%s %s installed in %s, want %s (scripts/install-peers.sh)", p.pkg, v, dir, p.version)
	}
	entry := filepath.Join(dir, "node_modules", filepath.FromSlash(p.pkg), filepath.FromSlash(p.entry))
	if _, err := os.Stat(entry); err != nil {
		return "", err
	}
	return entry, nil
}

// portkeyArgv is the Portkey gateway's command line: its Node server on
// port, without the log UI (--headless).
func portkeyArgv(node, entry string, port int) []string {
	return []string{node, entry, "--port=" + strconv.Itoa(port), "--headless"}
}

// portkeyEnv runs it as deployed (NODE_ENV=production also skips the UI).
func portkeyEnv() []string { return []string{"NODE_ENV=production"} }

// mockKnobHeaders are the mock's per-request knobs. Portkey forwards only
// the headers listed in x-portkey-forward-headers.
var mockKnobHeaders = []string{
	"x-mock-body-bytes", "x-mock-chunk-bytes", "x-mock-chunk-interval-ms", "x-mock-chunks",
	"x-mock-fail-after", "x-mock-fail-every-n", "x-mock-scenario", "x-mock-stamp",
	"x-mock-status", "x-mock-ttft-ms",
}

// portkeyHeaders routes a request through Portkey to the mock: the provider
// by shape, the mock as custom host (Portkey trusts loopback hosts by
// default, TRUSTED_CUSTOM_HOSTS otherwise), and the mock's knobs forwarded.
// The provider key itself travels in the shape's usual header.
func portkeyHeaders(sh shape, mockURL string, hd http.Header) {
	provider := "openai"
	if sh == shapeMessages {
		provider = "anthropic"
	}
	hd.Set("X-Portkey-Provider", provider)
	hd.Set("X-Portkey-Custom-Host", mockURL+"/v1")
	hd.Set("X-Portkey-Forward-Headers", strings.Join(mockKnobHeaders, ","))
}

// peerServer is a running peer.
type peerServer struct {
	spec    peerSpec
	proc    *proc
	url     string
	mockURL string
	// unserved maps a scenario id to why the peer does not serve it
	// (probePeer); the phases leave the peer out of those scenarios.
	unserved map[string]string
}

// decorate adds the peer's routing headers to a request of shape sh.
func (p *peerServer) decorate(sh shape, hd http.Header) {
	if p.spec.name == "portkey" {
		portkeyHeaders(sh, p.mockURL, hd)
	}
}

// Scenario ids the probe covers; the saturation, cpu and sse-load phases
// use the S1 request, the streams phase S3's shape.
const (
	scenS1 = "S1 chat 2KB"
	scenS2 = "S2 messages 100KB"
	scenS3 = "S3 messages SSE tool_use"
	scenS4 = "S4 responses SSE"
	scenS5 = "S5 messages 1MB"
)

// serves reports whether s takes part in scenario: every non-peer does.
func (s *subject) serves(scenario string) bool {
	return s.peer == nil || s.peer.unserved[scenario] == ""
}

// subjectsFor returns the subjects that serve scenario, direct first.
func (h *harness) subjectsFor(scenario string) []*subject {
	var out []*subject
	for _, s := range h.subjects {
		if s.serves(scenario) {
			out = append(out, s)
		}
	}
	return out
}

// peerStatus is the environment header value for a peer that is not
// running, or its version line.
func peerStatus(requested bool, why error) string {
	switch {
	case !requested:
		return "not requested (-peers)"
	case why != nil:
		return "unavailable (" + why.Error() + ")"
	}
	return ""
}

// startPeers starts the requested peers; one that cannot start is reported
// unavailable in the environment header and leaves the rest of the run as
// it is.
func (h *harness) startPeers(ctx context.Context) {
	requested, err := parsePeers(h.cfg.peers)
	if err != nil {
		// main validated the flag already.
		h.rep.Note("peers: %v", err)
		return
	}
	for _, spec := range knownPeers {
		if !slices.ContainsFunc(requested, func(p peerSpec) bool { return p.name == spec.name }) {
			h.rep.Env(spec.name, peerStatus(false, nil))
			continue
		}
		p, version, err := h.startPeer(ctx, spec)
		if err != nil {
			h.rep.Env(spec.name, peerStatus(true, err))
			h.rep.Note("%s: not measured: %v", spec.name, err)
			continue
		}
		h.rep.Env(spec.name, version)
		h.peers = append(h.peers, p)
	}
}

func (h *harness) startPeer(ctx context.Context, spec peerSpec) (*peerServer, string, error) {
	entry, err := spec.installedEntry(h.cfg.peerDir)
	if err != nil {
		return nil, "", err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, "", err
	}
	out, err := exec.CommandContext(ctx, node, "--version").Output()
	if err != nil {
		return nil, "", fmt.Errorf("node --version: %w", err)
	}
	version := fmt.Sprintf("%s (node %s", spec.version, strings.TrimSpace(string(out)))
	if v, err := packageVersion(h.cfg.peerDir, "@hono/node-server"); err == nil {
		version += ", @hono/node-server " + v
	}
	version += ")"
	port, err := freePort(ctx)
	if err != nil {
		return nil, "", err
	}
	proc, err := h.l.start(spec.name, coreSubject, portkeyArgv(node, entry, port), portkeyEnv(), nil)
	if err != nil {
		return nil, "", err
	}
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	d, err := waitHealthy(ctx, proc, url+"/", 30*time.Second)
	if err != nil {
		proc.stop(2 * time.Second)
		return nil, "", err
	}
	h.rep.Add(report.Row{Subject: spec.name, Scenario: "startup-to-healthz", Level: "one start",
		Value: report.Ptr(float64(d) / float64(time.Millisecond)), Unit: "ms", Note: "exec -> first 200 on GET /, 10 ms polling"})
	return &peerServer{spec: spec, proc: proc, url: url, mockURL: h.mockURL, unserved: map[string]string{}}, version, nil
}

// addPeerSubjects samples the peers' idle RSS, probes every scenario and
// appends them to the subjects.
func (h *harness) addPeerSubjects(ctx context.Context) {
	for _, p := range h.peers {
		s := &subject{name: p.spec.name, pid: p.proc.Pid(), anthropic: p.url, openai: p.url + "/v1", token: upstreamKey, peer: p}
		h.sampleIdle(s)
		h.rep.Add(report.Row{Subject: s.name, Scenario: "idle-rss", Level: "after start-up, no traffic", Value: report.Ptr(s.idleRSS), Unit: "MiB"})
		h.probePeer(ctx, s)
		h.subjects = append(h.subjects, s)
	}
}

// probeCase is one scenario's request, for the direct baseline and a peer.
type probeCase struct {
	id     string
	shape  shape
	body   []byte
	stream bool
	scen   string
}

func (h *harness) probeCases() []probeCase {
	cases := []probeCase{
		{scenS1, shapeChat, chatBody(2048, false), false, ""},
		{scenS2, shapeMessages, messagesBody(100*1024, false, 30), false, ""},
	}
	if h.prof.bigBody {
		cases = append(cases, probeCase{scenS5, shapeMessages, messagesBody(1024*1024, false, 30), false, ""})
	}
	for _, sc := range sseScenarios() {
		cases = append(cases, probeCase{sc.id, sc.shape, sc.body, true, sc.scenario})
	}
	return cases
}

// Probe streams: probeChunks content deltas probeInterval apart, so a
// relayed stream spreads its content over (probeChunks-1)*probeInterval.
const (
	probeChunks   = 4
	probeInterval = 50 * time.Millisecond
)

// probePeer sends each scenario's request once through the peer and once
// directly. A scenario is unserved when the peer answers anything but 200,
// loses content events, or delivers a stream's content in one burst
// (METHOD.md §8: a peer that buffers is recorded as "buffers", not fast).
func (h *harness) probePeer(ctx context.Context, s *subject) {
	for _, c := range h.probeCases() {
		knobs := instantKnobs(2048)
		if c.stream {
			knobs = streamKnobs(probeChunks, probeInterval)
		}
		want, _ := h.stream(ctx, h.direct.request(c.shape, c.body, knobs, c.scen), nil)
		got, err := h.stream(ctx, s.request(c.shape, c.body, knobs, c.scen), nil)
		why := probeVerdict(c.stream, want, got, err)
		if why == "" {
			continue
		}
		s.peer.unserved[c.id] = why
		row := report.Row{Subject: s.name, Scenario: c.id, Level: "not served", Note: "probe: " + why + "; no figures for this scenario"}
		if strings.HasPrefix(why, report.FlagBuffers) {
			row.Flags = append(row.Flags, report.FlagBuffers)
		}
		h.rep.Add(row)
	}
}

// probeVerdict is "" when got (through the peer) serves the scenario like
// want (direct), else why not.
func probeVerdict(stream bool, want, got *sse.Trace, err error) string {
	switch {
	case err != nil:
		return "request failed: " + truncate(err.Error(), 120)
	case got.Status != http.StatusOK:
		return fmt.Sprintf("status %d: %s", got.Status, truncate(strings.TrimSpace(string(got.Body)), 120))
	case !stream:
		return ""
	case want == nil || len(got.Content) != len(want.Content):
		n := -1
		if want != nil {
			n = len(want.Content)
		}
		return fmt.Sprintf("%d content events, direct %d", len(got.Content), n)
	}
	spread := got.Content[len(got.Content)-1] - got.Content[0]
	if spread < (probeChunks-1)*probeInterval/2 {
		return fmt.Sprintf("%s: %d content events over %s, paced %s apart upstream",
			report.FlagBuffers, len(got.Content), spread.Round(time.Millisecond), probeInterval)
	}
	return ""
}

// freshPeerConns closes the stream client's idle connections before a
// peer's concurrent streams. Node closes a keep-alive connection after 5 s
// idle, and a POST written on a pooled one as it closes fails with EOF
// (Go does not retry a non-idempotent request); the streams phase leaves
// up to 1,000 idle connections behind, so the next run would hit that.
func freshPeerConns(h *harness, s *subject) {
	if s.peer != nil {
		h.streamClient.CloseIdleConnections()
	}
}

func (h *harness) stopPeers() {
	for _, p := range h.peers {
		p.proc.stop(2 * time.Second)
	}
}
