package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The first user every subject gets, created the way `coder login` does.
const (
	benchEmail    = "bench@example.com"
	benchUsername = "bench"
	benchPassword = "Bench-Passw0rd!for-gantry-2026"
)

// Provider names the gantry subject is configured with.
const (
	providerAnthropic = "bench-anthropic"
	providerOpenAI    = "bench-openai"
)

// buildGantry compiles ./cmd/gantry into dir, the way `make build` does.
func buildGantry(ctx context.Context, dir string) (string, error) {
	out := filepath.Join(dir, "gantry")
	cmd := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", out, "./cmd/gantry")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/gantry: %w\n%s", err, b)
	}
	return out, nil
}

// gantryServer is a running gantry subject.
type gantryServer struct {
	name     string
	proc     *proc
	url      string
	pprofURL string
	// promURL is the Prometheus listener (the self-reported overhead
	// histogram), empty when not enabled.
	promURL string
	token   string
	userID  string
}

// gantrySpec says how to start one gantry process.
type gantrySpec struct {
	bin         string
	cacheDir    string
	postgresURL string
	mockURL     string
	pprof       bool
	// prometheus enables the Prometheus listener (metrics are collected
	// either way; this only serves them).
	prometheus bool
	// extraArgs are appended to `gantry server` (e.g. circuit breaker
	// settings for the errors phase).
	extraArgs []string
}

// startGantry execs `gantry server` on the subject core and waits for the
// first 200 on /healthz, returning the start-up time (exec to 200).
func (l *launcher) startGantry(ctx context.Context, name string, s gantrySpec) (*gantryServer, time.Duration, error) {
	port, err := freePort(ctx)
	if err != nil {
		return nil, 0, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	argv := []string{
		s.bin, "server",
		"--http-address", "127.0.0.1:" + strconv.Itoa(port),
		"--access-url", base,
		"--cache-dir", s.cacheDir,
		"--telemetry=false",
		"--update-check=false",
		"--dangerous-disable-rate-limits",
		"--aibridge-enabled",
	}
	g := &gantryServer{name: name, url: base}
	if s.pprof {
		pp, err := freePort(ctx)
		if err != nil {
			return nil, 0, err
		}
		argv = append(argv, "--pprof-enable", "--pprof-address", "127.0.0.1:"+strconv.Itoa(pp))
		g.pprofURL = "http://127.0.0.1:" + strconv.Itoa(pp)
	}
	if s.prometheus {
		pp, err := freePort(ctx)
		if err != nil {
			return nil, 0, err
		}
		argv = append(argv, "--prometheus-enable", "--prometheus-address", "127.0.0.1:"+strconv.Itoa(pp))
		g.promURL = "http://127.0.0.1:" + strconv.Itoa(pp)
	}
	if s.postgresURL != "" {
		argv = append(argv, "--postgres-url", s.postgresURL)
	}
	argv = append(argv, s.extraArgs...)
	env := []string{
		"CODER_AIBRIDGE_PROVIDER_0_TYPE=anthropic",
		"CODER_AIBRIDGE_PROVIDER_0_NAME=" + providerAnthropic,
		"CODER_AIBRIDGE_PROVIDER_0_KEY=" + upstreamKey,
		"CODER_AIBRIDGE_PROVIDER_0_BASE_URL=" + s.mockURL,
		"CODER_AIBRIDGE_PROVIDER_1_TYPE=openai",
		"CODER_AIBRIDGE_PROVIDER_1_NAME=" + providerOpenAI,
		"CODER_AIBRIDGE_PROVIDER_1_KEY=" + upstreamKey,
		"CODER_AIBRIDGE_PROVIDER_1_BASE_URL=" + s.mockURL + "/v1",
	}
	p, err := l.start(name, coreSubject, argv, env, nil)
	if err != nil {
		return nil, 0, err
	}
	g.proc = p
	startup, err := waitHealthy(ctx, p, base+"/healthz", 60*time.Second)
	if err != nil {
		p.stop(5 * time.Second)
		return nil, 0, err
	}
	return g, startup, nil
}

// apiCall sends a JSON request and decodes a JSON answer with the wanted
// status.
func apiCall(ctx context.Context, c *http.Client, method, u, token string, in any, want int, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("Coder-Session-Token", token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: status %d: %s", method, u, resp.StatusCode, truncate(string(b), 300))
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			return fmt.Errorf("%s %s: decode: %w", method, u, err)
		}
	}
	return nil
}

// login creates the first user on a Coder-compatible server (or, when one
// exists, logs in with the given credentials) and returns the session token
// and the user's id.
func login(ctx context.Context, c *http.Client, base, email, username, password string) (token, userID string, err error) {
	first := map[string]any{"email": email, "username": username, "name": "Bench", "password": password, "trial": false}
	err = apiCall(ctx, c, http.MethodPost, base+"/api/v2/users/first", "", first, http.StatusCreated, nil)
	if err != nil && !strings.Contains(err.Error(), "status 409") {
		return "", "", fmt.Errorf("create first user: %w", err)
	}
	var lr struct {
		SessionToken string `json:"session_token"`
	}
	if err := apiCall(ctx, c, http.MethodPost, base+"/api/v2/users/login", "", map[string]string{"email": email, "password": password}, http.StatusCreated, &lr); err != nil {
		return "", "", fmt.Errorf("login: %w", err)
	}
	var me struct {
		ID string `json:"id"`
	}
	if err := apiCall(ctx, c, http.MethodGet, base+"/api/v2/users/me", lr.SessionToken, nil, http.StatusOK, &me); err != nil {
		return "", "", fmt.Errorf("users/me: %w", err)
	}
	if lr.SessionToken == "" || me.ID == "" {
		return "", "", errors.New("login returned an empty token or user id")
	}
	return lr.SessionToken, me.ID, nil
}

// interceptionPage is the part of GET /api/v2/aibridge/interceptions the
// completeness check reads.
type interceptionPage struct {
	Count   int `json:"count"`
	Results []struct {
		ID          string  `json:"id"`
		EndedAt     *string `json:"ended_at"`
		TokenUsages []struct {
			Input      int64 `json:"input_tokens"`
			Output     int64 `json:"output_tokens"`
			CacheRead  int64 `json:"cache_read_input_tokens"`
			CacheWrite int64 `json:"cache_write_input_tokens"`
		} `json:"token_usages"`
	} `json:"results"`
}

// recordTotals is what gantry recorded.
type recordTotals struct {
	Records                              int
	Input, Output, CacheRead, CacheWrite int64
	Pages                                int
}

// interceptionCount returns the total number of (ended) interceptions.
func (g *gantryServer) interceptionCount(ctx context.Context, c *http.Client) (int, error) {
	var p interceptionPage
	err := apiCall(ctx, c, http.MethodGet, g.url+"/api/v2/aibridge/interceptions?limit=1", g.token, nil, http.StatusOK, &p)
	return p.Count, err
}

// stableCount polls the interception count until it stops changing
// (recording is asynchronous and batched), bounded by limit.
func (g *gantryServer) stableCount(ctx context.Context, c *http.Client, want int, limit time.Duration) (int, error) {
	deadline := time.Now().Add(limit)
	last, same := -1, 0
	for {
		n, err := g.interceptionCount(ctx, c)
		if err != nil {
			return 0, err
		}
		if n == want {
			return n, nil
		}
		if n == last {
			same++
		} else {
			same = 0
		}
		// Stable for 1 s and not the wanted number: report it.
		if (same >= 5 && want < 0) || time.Now().After(deadline) {
			return n, nil
		}
		last = n
		time.Sleep(200 * time.Millisecond)
	}
}

// sumSince pages through the interceptions started after since and sums
// their token usage, bounded by maxPages pages of 1000.
func (g *gantryServer) sumSince(ctx context.Context, c *http.Client, since time.Time, maxPages int) (recordTotals, error) {
	var t recordTotals
	q := url.QueryEscape("started_after:" + since.UTC().Format(time.RFC3339))
	offset := 0
	for t.Pages < maxPages {
		var p interceptionPage
		u := fmt.Sprintf("%s/api/v2/aibridge/interceptions?limit=1000&offset=%d&q=%s", g.url, offset, q)
		if err := apiCall(ctx, c, http.MethodGet, u, g.token, nil, http.StatusOK, &p); err != nil {
			return t, err
		}
		t.Pages++
		for _, r := range p.Results {
			t.Records++
			for _, u := range r.TokenUsages {
				t.Input += u.Input
				t.Output += u.Output
				t.CacheRead += u.CacheRead
				t.CacheWrite += u.CacheWrite
			}
		}
		offset += len(p.Results)
		if len(p.Results) == 0 || offset >= p.Count {
			break
		}
	}
	return t, nil
}

// pprofText fetches a text pprof page of gantry (path and query), at most
// limit bytes; ok is false when pprof is off or the page is unreadable.
func (g *gantryServer) pprofText(ctx context.Context, c *http.Client, path string, limit int64) (string, bool) {
	if g.pprofURL == "" {
		return "", false
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.pprofURL+path, nil)
	if err != nil {
		return "", false
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", false
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, limit))
	if err != nil && len(b) == 0 {
		return "", false
	}
	return string(b), true
}

// goroutines reads the goroutine count from the pprof endpoint (0 when
// pprof is off or unreachable).
func (g *gantryServer) goroutines(ctx context.Context, c *http.Client) int {
	s, ok := g.pprofText(ctx, c, "/debug/pprof/goroutine?debug=1", 200)
	if !ok {
		return 0
	}
	// "goroutine profile: total N"
	if i := strings.Index(s, "total "); i >= 0 {
		f := strings.Fields(s[i+6:])
		if len(f) > 0 {
			n, _ := strconv.Atoi(f[0])
			return n
		}
	}
	return 0
}

// memStats runs a GC through the pprof heap endpoint (gc=1) and returns
// the runtime's HeapInuse and stack in-use bytes (0 when pprof is off or
// unreadable).
func (g *gantryServer) memStats(ctx context.Context, c *http.Client) (heap, stack int64) {
	b, ok := g.pprofText(ctx, c, "/debug/pprof/heap?debug=1&gc=1", 64<<20)
	if !ok {
		return 0, 0
	}
	// The runtime.MemStats trailer has lines like "# HeapInuse = 1234".
	field := func(name string) int64 {
		if _, rest, ok := strings.Cut(b, "# "+name+" = "); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n
			}
		}
		return 0
	}
	// Stack is printed as "# Stack = <inuse> / <sys>".
	return field("HeapInuse"), field("Stack")
}

// saveProfile fetches a CPU profile of d from the pprof endpoint into path;
// d = 0 fetches a heap profile instead.
func (g *gantryServer) saveProfile(ctx context.Context, path string, d time.Duration) error {
	if g.pprofURL == "" {
		return errors.New("pprof not enabled")
	}
	u := fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", g.pprofURL, int(d.Seconds()))
	if d == 0 {
		u = g.pprofURL + "/debug/pprof/heap"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return err
	}
	resp, err := (&http.Client{Timeout: d + 30*time.Second}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("pprof: status %d", resp.StatusCode)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		_ = f.Close()
		return err
	}
	return f.Close()
}

// profileUnder runs spec against tg for a few seconds while taking a CPU
// profile of g, when -pprof-dir is set, and returns the successful
// requests (they reach the store like any other).
func (h *harness) profileUnder(ctx context.Context, g *gantryServer, tg target, spec attackSpec, label string) int {
	if h.cfg.pprofDir == "" || g.pprofURL == "" {
		return 0
	}
	const d = 5 * time.Second
	path := filepath.Join(h.cfg.pprofDir, g.name+"-"+label+"-cpu.pprof")
	done := make(chan error, 1)
	go func() { done <- g.saveProfile(ctx, path, d) }()
	spec.dur = d + 500*time.Millisecond
	spec.maxReq = 1_000_000
	r := attack(ctx, h.client, tg, spec)
	if err := <-done; err != nil {
		h.rep.Note("%s: pprof capture failed: %v", g.name, err)
	} else {
		h.rep.Note("%s: CPU profile (%s, %s) saved to %s", g.name, label, d, path)
	}
	return r.ok
}
