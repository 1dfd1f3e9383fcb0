package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// Self-reported vs black-box (METHOD.md §5, last row; §12 flag
// `self-vs-blackbox mismatch`).
//
// gantry's Server-Timing "gantry;dur=" covers arrival in the gateway
// handler → start of the upstream call. The black-box added latency also
// contains a loopback hop, the HTTP server and the response relay, which
// no in-process timer sees. The floor emits the same span ("floor;dur="),
// so the comparison is like with like: per round,
//
//	black-box: (gantry p50 − direct p50) − (floor p50 − direct p50)
//	self:      gantry self p50 − floor self p50
//
// and the medians of the rounds must agree within selfRelTolerance and
// selfAbsTolerance.
const (
	selfRelTolerance = 0.20
	// selfAbsTolerance: the per-round p50s move by tens of µs on this
	// 2-core box from scheduling alone (the IQRs of the floor's added p50
	// are 20-130 µs), so a 20% band around a difference of tens of µs is
	// noise; a disagreement must also exceed this to count.
	selfAbsTolerance = 50.0 // µs
	overheadMetric   = "gantry_aibridge_gateway_overhead_seconds"
)

// parseServerTiming returns the first "dur=" of a Server-Timing header
// value (milliseconds, as the header defines it).
func parseServerTiming(v string) (time.Duration, bool) {
	for entry := range strings.SplitSeq(v, ",") {
		for param := range strings.SplitSeq(entry, ";") {
			if ms, ok := strings.CutPrefix(strings.TrimSpace(param), "dur="); ok {
				f, err := strconv.ParseFloat(ms, 64)
				if err != nil || f < 0 || math.IsInf(f, 0) || math.IsNaN(f) {
					return 0, false
				}
				return time.Duration(f * float64(time.Millisecond)), true
			}
		}
	}
	return 0, false
}

// selfRecorder collects the Server-Timing of every 2xx answer of an
// attack; attack calls validate from its single result loop, so no lock.
type selfRecorder struct {
	hist *stats.Histogram
	seen bool
}

func (s *selfRecorder) validate() func(r *vegeta.Result) bool {
	return func(r *vegeta.Result) bool {
		if d, ok := parseServerTiming(r.Headers.Get("Server-Timing")); ok {
			s.hist.Record(d)
			s.seen = true
		}
		return true
	}
}

// promOverhead is the sum (seconds) and count of gantry's overhead
// histogram over all its series.
type promOverhead struct {
	sum   float64
	count float64
}

// scrapeOverhead reads the overhead histogram from gantry's Prometheus
// listener.
func (g *gantryServer) scrapeOverhead(ctx context.Context, c *http.Client) (promOverhead, error) {
	if g.promURL == "" {
		return promOverhead{}, fmt.Errorf("no Prometheus listener")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.promURL+"/metrics", nil)
	if err != nil {
		return promOverhead{}, err
	}
	resp, err := c.Do(req)
	if err != nil {
		return promOverhead{}, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return promOverhead{}, fmt.Errorf("metrics: status %d", resp.StatusCode)
	}
	return parseOverhead(io.LimitReader(resp.Body, 64<<20))
}

// parseOverhead sums the _sum and _count samples of the overhead histogram
// in a Prometheus text exposition.
func parseOverhead(r io.Reader) (promOverhead, error) {
	var p promOverhead
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		var dst *float64
		switch {
		case strings.HasPrefix(line, overheadMetric+"_sum"):
			dst = &p.sum
		case strings.HasPrefix(line, overheadMetric+"_count"):
			dst = &p.count
		default:
			continue
		}
		// "name{labels} value [timestamp]" or "name value [timestamp]".
		rest := line
		if i := strings.LastIndexByte(line, '}'); i >= 0 {
			rest = line[i+1:]
		} else if _, after, ok := strings.Cut(line, " "); ok {
			rest = after
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		if v, err := strconv.ParseFloat(f[0], 64); err == nil {
			*dst += v
		}
	}
	return p, sc.Err()
}

// selfMismatch applies the agreement rule: a mismatch needs both a relative
// difference above selfRelTolerance (of the black-box figure) and an
// absolute one above selfAbsTolerance.
func selfMismatch(blackbox, self float64) bool {
	d := math.Abs(blackbox - self)
	return d > selfAbsTolerance && d > selfRelTolerance*math.Abs(blackbox)
}

// selfRounds is what the latency rounds collected for the comparison.
type selfRounds struct {
	// p50 are the black-box per-round p50s (µs), self the per-round
	// Server-Timing p50s (µs, NaN when the subject sent none).
	p50, self []float64
	// prom is the overhead histogram delta over the timed rounds.
	prom    promOverhead
	promErr error
}

// selfVsBlackbox adds one row per gantry subject comparing its
// self-reported overhead with the black-box one, both net of the floor.
func (h *harness) selfVsBlackbox(scenario string, floor selfRounds, gantries map[*subject]selfRounds) {
	floorSelf := stats.Summarize(floor.self)
	for _, s := range h.gantrySubjects() {
		g, ok := gantries[s]
		if !ok {
			continue
		}
		bb := stats.Summarize(diff(g.p50, floor.p50))
		self := stats.Summarize(diff(g.self, floor.self))
		gSelf := stats.Summarize(g.self)
		row := report.Row{Subject: s.name, Scenario: scenario, Level: "self-reported vs black-box (net of floor)", Unit: "µs"}
		if bb.N == 0 || self.N == 0 {
			row.Note = fmt.Sprintf("not comparable: %d usable black-box rounds, %d rounds with Server-Timing from both gantry (%d) and the floor (%d)",
				bb.N, self.N, gSelf.N, floorSelf.N)
			h.rep.Add(row)
			continue
		}
		row.Value = report.Ptr(self.Median)
		row.AddedP50 = &bb
		mismatch := selfMismatch(bb.Median, self.Median)
		if mismatch {
			row.Flags = append(row.Flags, report.FlagMismatch)
		}
		row.Note = fmt.Sprintf("value = self (gantry − floor Server-Timing p50) %.0f [IQR %.0f] µs; added_p50 = black-box (gantry − floor p50) %.0f [IQR %.0f] µs; "+
			"raw Server-Timing p50: gantry %.0f µs, floor %.0f µs; agreement rule: within 20%% or %.0f µs",
			self.Median, self.IQR, bb.Median, bb.IQR, gSelf.Median, floorSelf.Median, selfAbsTolerance)
		switch {
		case g.promErr != nil:
			row.Note += "; Prometheus overhead histogram: " + g.promErr.Error()
		case g.prom.count > 0:
			mean := g.prom.sum / g.prom.count * 1e6
			row.Note += fmt.Sprintf("; Prometheus %s mean %.0f µs over %.0f requests (pre- + post-upstream; minus the floor's Server-Timing p50: %.0f µs)",
				overheadMetric, mean, g.prom.count, mean-floorSelf.Median)
			h.setFigure(scenario, s.name, "prom_overhead_mean_us", mean)
		default:
			row.Note += "; Prometheus overhead histogram: no observations"
		}
		h.setFigure(scenario, s.name, "self_minus_floor_us", self.Median)
		h.setFigure(scenario, s.name, "blackbox_minus_floor_us", bb.Median)
		h.rep.Add(row)
	}
}
