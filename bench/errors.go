package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// S8, errors and failover (METHOD.md §6). The harness decides every
// request's status itself (X-Mock-Status per request) rather than using the
// mock's fail_every_n, whose counter is global to the mock: that way each
// subject gets exactly the same sequence and the counts per status must
// match direct's exactly.
const (
	errEvery429 = 7
	errEvery503 = 11
	// errRequests is a multiple of 3 × 7 × 11, so every (shape, status)
	// pair occurs.
	errRequests = 3 * 7 * 11 * 4
	errWorkers  = 4
	// ownBreakerMsg is in the body of gantry's own circuit-breaker 503.
	ownBreakerMsg = "circuit breaker is open"
)

// errStatus is the status the mock is told to answer request i (from 1).
func errStatus(i int) int {
	switch {
	case i%errEvery503 == 0:
		return http.StatusServiceUnavailable
	case i%errEvery429 == 0:
		return http.StatusTooManyRequests
	}
	return http.StatusOK
}

// errKinds are the request shapes the sequence rotates through.
var errKinds = []struct {
	name  string
	shape shape
	body  func() []byte
}{
	{"chat", shapeChat, func() []byte { return chatBody(2048, false) }},
	{"messages", shapeMessages, func() []byte { return messagesBody(4096, false, 2) }},
	{"messages-sse", shapeMessages, func() []byte { return messagesBody(4096, true, 2) }},
}

// errOutcome is what one subject answered to the sequence.
type errOutcome struct {
	byStatus map[int]int
	errs     report.Errors
	// bodies: "<kind> <status>" -> body hash -> count, for error answers.
	bodies map[string]map[[32]byte]int
	// retryAfter counts error answers that carried the provider's
	// Retry-After.
	retryAfter int
	own503     int
	lastErr    string
	hist       *stats.Histogram
	wall       time.Duration
}

// do sends one request and returns its status, headers and body.
func (h *harness) do(ctx context.Context, tg target) (int, http.Header, []byte, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, tg.method, tg.url, bytes.NewReader(tg.body))
	if err != nil {
		return 0, nil, nil, 0, err
	}
	req.Header = tg.header.Clone()
	start := time.Now()
	resp, err := h.client.Do(req)
	if err != nil {
		return 0, nil, nil, 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	return resp.StatusCode, resp.Header, b, time.Since(start), err
}

// errSequence sends the S8 sequence to s with errWorkers workers.
func (h *harness) errSequence(ctx context.Context, s *subject) errOutcome {
	bodies := make([][]byte, len(errKinds))
	for k, kind := range errKinds {
		bodies[k] = kind.body()
	}
	out := errOutcome{byStatus: map[int]int{}, bodies: map[string]map[[32]byte]int{}, hist: stats.NewHistogram()}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next atomic.Int64
	)
	deadline := time.Now().Add(60 * time.Second)
	start := time.Now()
	for range errWorkers {
		wg.Go(func() {
			for ctx.Err() == nil && time.Now().Before(deadline) {
				i := int(next.Add(1))
				if i > errRequests {
					return
				}
				k := i % len(errKinds)
				want := errStatus(i)
				knobs := streamKnobs(4, time.Millisecond)
				knobs["X-Mock-Status"] = want
				tg := s.request(errKinds[k].shape, bodies[k], knobs, "")
				status, hd, body, d, err := h.do(ctx, tg)
				mu.Lock()
				if err != nil {
					out.errs.Add(0)
					out.lastErr = err.Error()
					mu.Unlock()
					continue
				}
				out.hist.Record(d)
				switch {
				case status >= 200 && status < 300:
				case status == http.StatusServiceUnavailable && strings.Contains(string(body), ownBreakerMsg):
					out.own503++
					out.errs.Add(status)
				default:
					out.errs.Add(status)
					key := fmt.Sprintf("%s %d", errKinds[k].name, status)
					if out.bodies[key] == nil {
						out.bodies[key] = map[[32]byte]int{}
					}
					out.bodies[key][sha256.Sum256(body)]++
					if hd.Get("Retry-After") != "" {
						out.retryAfter++
					}
				}
				out.byStatus[status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	out.wall = time.Since(start)
	return out
}

func (o errOutcome) statusString() string {
	codes := make([]int, 0, len(o.byStatus))
	for c := range o.byStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	parts := make([]string, 0, len(codes))
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d:%d", c, o.byStatus[c]))
	}
	return strings.Join(parts, " ")
}

// phaseErrors runs S8: the same sequence of 200 / 429 / 503 answers through
// every subject. gantry must relay the provider's status, body and
// Retry-After (the counts per status equal direct's), and record every
// interception, failed ones included. A dedicated gantry with the circuit
// breaker on then shows the breaker opening and closing.
func (h *harness) phaseErrors(ctx context.Context) error {
	want := map[int]int{}
	for i := 1; i <= errRequests; i++ {
		want[errStatus(i)]++
	}
	var direct errOutcome
	for _, s := range h.subjects {
		if s.peer != nil {
			continue // S8 checks gantry's relaying contract; peers are not held to it
		}
		before, counted := h.countBefore(ctx, s, "errors")
		o := h.errSequence(ctx, s)
		sent := 0
		for _, n := range o.byStatus {
			sent += n
		}
		sent += o.errs.Transport + o.errs.Rig
		row := report.Row{
			Subject: s.name, Scenario: "S8 errors", Level: fmt.Sprintf("429 every %dth, 503 every %dth, c%d", errEvery429, errEvery503, errWorkers),
			Offered: errWorkers, Requests: sent, RPS: float64(sent) / o.wall.Seconds(),
			P50: us(o.hist.Quantile(0.5)), P99: us(o.hist.Quantile(0.99)), P999: us(o.hist.Quantile(0.999)),
			Errors: o.errs,
			Note:   "statuses " + o.statusString() + "; errors column counts the provider's 429/503 (expected)",
		}
		if s.g != nil {
			row.Note += fmt.Sprintf("; gantry's own 503s (circuit breaker): %d (the breaker is off by default; see gantry-breaker)", o.own503)
		}
		if o.lastErr != "" {
			row.Note += "; last transport error: " + truncate(o.lastErr, 120)
		}
		h.rep.Add(row)
		if s == h.direct {
			direct = o
			h.rep.Check("S8: mock answered the planned statuses (direct)", mapsEqual(o.byStatus, want),
				fmt.Sprintf("planned %v, got %s", want, o.statusString()))
			continue
		}
		// A proxy answers exactly what the provider answered: same count per
		// status, same error body per (shape, status), Retry-After kept.
		h.rep.Check(fmt.Sprintf("S8: provider statuses relayed, counts = direct's (%s)", s.name),
			mapsEqual(o.byStatus, direct.byStatus) && o.own503 == 0 && o.errs.Transport == 0,
			fmt.Sprintf("direct %s; %s %s; own 503s %d; transport errors %d", direct.statusString(), s.name, o.statusString(), o.own503, o.errs.Transport))
		bodyOK, detail := sameBodies(direct.bodies, o.bodies)
		h.rep.Check(fmt.Sprintf("S8: provider error body and Retry-After relayed (%s)", s.name), bodyOK && o.retryAfter == direct.retryAfter,
			fmt.Sprintf("%s; Retry-After on %d error answers (direct %d)", detail, o.retryAfter, direct.retryAfter))
		if counted {
			n, err := s.g.stableCount(ctx, h.client, before+sent, 10*time.Second)
			if err != nil {
				h.rep.Check(fmt.Sprintf("S8: records = requests sent (%s)", s.name), false, "query interceptions: "+err.Error())
			} else {
				h.rep.Check(fmt.Sprintf("S8: records = requests sent (%s)", s.name), n-before == sent,
					fmt.Sprintf("%d records for %d requests (%d failed upstream)", n-before, sent, o.errs.Total()))
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	if len(h.gantrySubjects()) > 0 {
		h.breakerRun(ctx)
	}
	return nil
}

// sameBodies compares the error bodies per (shape, status).
func sameBodies(want, got map[string]map[[32]byte]int) (bool, string) {
	var bad []string
	for k, w := range want {
		g := got[k]
		if len(w) != 1 || len(g) != 1 {
			bad = append(bad, fmt.Sprintf("%s: %d distinct bodies (direct %d)", k, len(g), len(w)))
			continue
		}
		for hash := range w {
			if _, ok := g[hash]; !ok {
				bad = append(bad, k+": body differs from the provider's")
			}
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			bad = append(bad, k+": not answered directly")
		}
	}
	if len(bad) > 0 {
		sort.Strings(bad)
		return false, strings.Join(bad, "; ")
	}
	return true, fmt.Sprintf("%d (shape, status) pairs byte-identical", len(want))
}

func mapsEqual(a, b map[int]int) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Breaker run settings: gantry's defaults (5 consecutive failures, 3
// half-open trials) with a 1 s open period so the run stays short.
const (
	breakerThreshold = 5
	breakerTrials    = 3
	breakerTimeout   = time.Second
)

// breakerRun starts a gantry with the circuit breaker on and sends
// consecutive 503s: the first breakerThreshold are the provider's, the
// rest gantry's own (counted separately, and the mock must not see them);
// after the open period, trial requests close it again.
func (h *harness) breakerRun(ctx context.Context) {
	const name = "gantry-breaker"
	dir := filepath.Join(h.tmp, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		h.rep.Check("S8: circuit breaker opens and closes ("+name+")", false, err.Error())
		return
	}
	g, _, err := h.l.startGantry(ctx, name, gantrySpec{bin: h.bin, cacheDir: dir, mockURL: h.mockURL, extraArgs: []string{
		"--aibridge-circuit-breaker-enabled",
		fmt.Sprintf("--aibridge-circuit-breaker-failure-threshold=%d", breakerThreshold),
		fmt.Sprintf("--aibridge-circuit-breaker-max-requests=%d", breakerTrials),
		"--aibridge-circuit-breaker-timeout=" + breakerTimeout.String(),
	}})
	if err != nil {
		h.rep.Check("S8: circuit breaker opens and closes ("+name+")", false, err.Error())
		return
	}
	defer g.proc.stop(10 * time.Second)
	g.token, g.userID, err = login(ctx, h.client, g.url, benchEmail, benchUsername, benchPassword)
	if err != nil {
		h.rep.Check("S8: circuit breaker opens and closes ("+name+")", false, err.Error())
		return
	}
	s := &subject{name: name, pid: g.proc.Pid(), g: g, token: g.token, openai: g.url + "/api/v2/aibridge/" + providerOpenAI + "/v1"}
	body := chatBody(2048, false)
	fail := s.request(shapeChat, body, map[string]int{"X-Mock-Status": http.StatusServiceUnavailable}, "")
	ok := s.request(shapeChat, body, instantKnobs(2048), "")
	m0, err := h.mockStats(ctx)
	if err != nil {
		h.rep.Check("S8: circuit breaker opens and closes ("+name+")", false, err.Error())
		return
	}
	const burst = breakerThreshold + 3
	relayed, own, other := 0, 0, 0
	for range burst {
		status, _, b, _, err := h.do(ctx, fail)
		switch {
		case err != nil:
			other++
		case status == http.StatusServiceUnavailable && strings.Contains(string(b), ownBreakerMsg):
			own++
		case status == http.StatusServiceUnavailable:
			relayed++
		default:
			other++
		}
	}
	m1, _ := h.mockStats(ctx)
	// Open: wait out the open period, then the trials must go through and
	// close the breaker; one more request checks it is closed.
	time.Sleep(breakerTimeout + 200*time.Millisecond)
	after := 0
	for range breakerTrials + 1 {
		if status, _, _, _, err := h.do(ctx, ok); err == nil && status == http.StatusOK {
			after++
		}
	}
	upstream := m1.Requests - m0.Requests
	pass := relayed == breakerThreshold && own == burst-breakerThreshold && other == 0 &&
		upstream == int64(breakerThreshold) && after == breakerTrials+1
	detail := fmt.Sprintf("%d consecutive 503s sent: %d relayed from the provider, %d gantry's own (%q), %d other; the mock saw %d; after %s: %d of %d succeeded",
		burst, relayed, own, ownBreakerMsg, other, upstream, breakerTimeout, after, breakerTrials+1)
	h.rep.Check("S8: circuit breaker opens after the threshold, rejects without calling the provider, closes after its timeout ("+name+")", pass, detail)
	h.rep.Add(report.Row{Subject: name, Scenario: "S8 circuit breaker", Level: fmt.Sprintf("threshold %d, open %s, %d trials", breakerThreshold, breakerTimeout, breakerTrials),
		Requests: burst + breakerTrials + 1, Value: report.Ptr(float64(own)), Unit: "own 503s", Note: detail})
}

// addErrors adds e to dst.
func addErrors(dst *report.Errors, e report.Errors) {
	dst.Status4xx += e.Status4xx
	dst.Status5xx += e.Status5xx
	dst.Status429 += e.Status429
	dst.Other += e.Other
	dst.Transport += e.Transport
	dst.Rig += e.Rig
}
