package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/bench/internal/report"
	"gantry/bench/internal/sse"
)

func TestParsePeers(t *testing.T) {
	t.Parallel()
	for _, flag := range []string{"", " ", ","} {
		got, err := parsePeers(flag)
		require.NoError(t, err, flag)
		require.Empty(t, got, flag)
	}
	got, err := parsePeers(" portkey ,portkey")
	require.NoError(t, err)
	require.Len(t, got, 1)
	require.Equal(t, "@portkey-ai/gateway", got[0].pkg)
	require.Equal(t, "1.15.2", got[0].version)

	_, err = parsePeers("portkey,litellm")
	require.ErrorContains(t, err, `unknown peer "litellm"`)
}

// writePackage fakes an npm install of pkg at version under dir.
func writePackage(t *testing.T, dir, pkg, version string) string {
	t.Helper()
	pkgDir := filepath.Join(dir, "node_modules", filepath.FromSlash(pkg))
	require.NoError(t, os.MkdirAll(pkgDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(pkgDir, "package.json"), []byte(`{"name":"`+pkg+`","version":"`+version+`"}`), 0o600))
	return pkgDir
}

// Only the pinned version, fully installed, is started.
func TestInstalledEntry(t *testing.T) {
	t.Parallel()
	spec := knownPeers[0]
	dir := t.TempDir()

	_, err := spec.installedEntry(dir)
	require.ErrorContains(t, err, "not installed in "+dir)
	require.ErrorContains(t, err, "install-peers.sh")

	pkgDir := writePackage(t, dir, spec.pkg, "1.14.0")
	_, err = spec.installedEntry(dir)
	require.ErrorContains(t, err, "1.14.0 installed")

	writePackage(t, dir, spec.pkg, spec.version)
	_, err = spec.installedEntry(dir)
	require.Error(t, err, "no start script")

	entry := filepath.Join(pkgDir, "build", "start-server.js")
	require.NoError(t, os.MkdirAll(filepath.Dir(entry), 0o755))
	require.NoError(t, os.WriteFile(entry, nil, 0o600))
	got, err := spec.installedEntry(dir)
	require.NoError(t, err)
	require.Equal(t, entry, got)
}

func TestPortkeyArgv(t *testing.T) {
	t.Parallel()
	require.Equal(t, []string{"/usr/bin/node", "/p/start-server.js", "--port=4242", "--headless"},
		portkeyArgv("/usr/bin/node", "/p/start-server.js", 4242))
	require.Equal(t, []string{"NODE_ENV=production"}, portkeyEnv())
}

// A request through Portkey names the provider by shape, points it at the
// mock and forwards every mock knob the harness sets; the provider key
// stays where the shape carries it.
func TestPortkeyRequests(t *testing.T) {
	t.Parallel()
	const mock = "http://127.0.0.1:9000"
	p := &peerServer{spec: knownPeers[0], url: "http://127.0.0.1:9100", mockURL: mock}
	s := &subject{name: "portkey", anthropic: p.url, openai: p.url + "/v1", token: upstreamKey, peer: p}
	knobs := streamKnobs(4, pacing)
	knobs["X-Mock-Stamp"] = 1
	for k, v := range instantKnobs(10) {
		knobs[k] = v
	}
	for _, c := range []struct {
		sh       shape
		url      string
		provider string
	}{
		{shapeMessages, "http://127.0.0.1:9100/v1/messages", "anthropic"},
		{shapeChat, "http://127.0.0.1:9100/v1/chat/completions", "openai"},
		{shapeResponses, "http://127.0.0.1:9100/v1/responses", "openai"},
	} {
		tg := s.request(c.sh, []byte("{}"), knobs, "tool")
		require.Equal(t, c.url, tg.url)
		require.Equal(t, c.provider, tg.header.Get("X-Portkey-Provider"))
		require.Equal(t, mock+"/v1", tg.header.Get("X-Portkey-Custom-Host"))
		if c.sh == shapeMessages {
			require.Equal(t, upstreamKey, tg.header.Get("X-Api-Key"))
		} else {
			require.Equal(t, "Bearer "+upstreamKey, tg.header.Get("Authorization"))
		}
		forwarded := strings.Split(tg.header.Get("X-Portkey-Forward-Headers"), ",")
		for name := range tg.header {
			if strings.HasPrefix(name, "X-Mock-") {
				require.Contains(t, forwarded, strings.ToLower(name), c.sh)
			}
		}
	}
	// Other subjects get no Portkey headers.
	direct := &subject{name: "direct", anthropic: mock, openai: mock + "/v1", token: upstreamKey}
	tg := direct.request(shapeChat, []byte("{}"), knobs, "")
	for name := range tg.header {
		require.False(t, strings.HasPrefix(name, "X-Portkey-"), name)
	}
}

func trace(status int, content ...time.Duration) *sse.Trace {
	return &sse.Trace{Status: status, Content: content}
}

func TestProbeVerdict(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	paced := trace(200, 1*ms, 51*ms, 101*ms, 151*ms)
	require.Empty(t, probeVerdict(false, trace(200), trace(200), nil))
	require.Empty(t, probeVerdict(true, paced, trace(200, 27*ms, 77*ms, 127*ms, 177*ms), nil))

	why := probeVerdict(false, trace(200), &sse.Trace{Status: 500, Body: []byte(`{"message":"Something went wrong"}`)}, nil)
	require.Equal(t, `status 500: {"message":"Something went wrong"}`, why)
	require.Contains(t, probeVerdict(true, paced, nil, os.ErrDeadlineExceeded), "request failed")
	require.Equal(t, "3 content events, direct 4", probeVerdict(true, paced, trace(200, ms, 2*ms, 3*ms), nil))
	// 200 with every event at once: buffered.
	why = probeVerdict(true, paced, trace(200, 151*ms, 152*ms, 152*ms, 153*ms), nil)
	require.True(t, strings.HasPrefix(why, report.FlagBuffers), why)
}

// A peer that does not serve a scenario drops out of it and only of it.
func TestSubjectsForSkipsUnservedPeer(t *testing.T) {
	t.Parallel()
	direct := &subject{name: "direct"}
	floor := &subject{name: "floor"}
	g1 := &subject{name: "gantry-sqlite", g: &gantryServer{}}
	g2 := &subject{name: "gantry-postgres", g: &gantryServer{}}
	pk := &subject{name: "portkey", peer: &peerServer{unserved: map[string]string{scenS3: "buffers"}}}
	h := &harness{prof: profileFor("quick"), subjects: []*subject{direct, floor, g1, g2, pk}}
	require.Equal(t, h.subjects, h.subjectsFor(scenS1))
	require.Equal(t, []*subject{direct, floor, g1, g2}, h.subjectsFor(scenS3))
	require.Equal(t, []*subject{direct, floor, g1}, h.streamSubjects())

	pk.peer.unserved = map[string]string{}
	require.Equal(t, []*subject{direct, floor, g1, pk}, h.streamSubjects())
	h.prof = profileFor("full")
	require.Equal(t, h.subjects, h.streamSubjects())
}

// envOf returns the environment header of rep's JSON output.
func envOf(t *testing.T, rep *report.Report) map[string]string {
	t.Helper()
	var buf bytes.Buffer
	require.NoError(t, rep.WriteJSON(&buf))
	line, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	var env map[string]string
	require.NoError(t, json.Unmarshal(line, &env))
	return env
}

// Without -peers, or with a peer that is not installed, the header says so
// and no peer subject appears.
func TestPeersUnavailable(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		peers, want string
	}{
		{"", "not requested (-peers)"},
		{"portkey", "unavailable (@portkey-ai/gateway not installed in "},
	} {
		rep := &report.Report{}
		h := &harness{cfg: config{peers: c.peers, peerDir: t.TempDir()}, rep: rep, prof: profileFor("quick")}
		h.startPeers(t.Context())
		h.addPeerSubjects(t.Context())
		require.Empty(t, h.peers)
		require.Empty(t, h.subjects)
		require.True(t, strings.HasPrefix(envOf(t, rep)["portkey"], c.want), envOf(t, rep)["portkey"])
		require.False(t, slices.ContainsFunc(rep.Rows(), func(r report.Row) bool { return r.Subject == "portkey" }))
		require.False(t, rep.Failed())
	}
}
