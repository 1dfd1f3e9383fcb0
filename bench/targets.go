package main

import (
	"fmt"
	"sync"
)

// figures holds the headline numbers the targets are evaluated on, keyed
// by scenario, subject and metric.
type figures struct {
	mu sync.Mutex
	m  map[string]float64
}

func figKey(scenario, subject, metric string) string { return scenario + "|" + subject + "|" + metric }

func (h *harness) setFigure(scenario, subject, metric string, v float64) {
	h.figs.mu.Lock()
	defer h.figs.mu.Unlock()
	if h.figs.m == nil {
		h.figs.m = map[string]float64{}
	}
	h.figs.m[figKey(scenario, subject, metric)] = v
}

func (h *harness) figure(scenario, subject, metric string) (float64, bool) {
	h.figs.mu.Lock()
	defer h.figs.mu.Unlock()
	v, ok := h.figs.m[figKey(scenario, subject, metric)]
	return v, ok
}

// evaluateTargets compares the run's figures with issue 7's targets. Each
// target is evaluated for every gantry subject; a target whose figure was
// not measured is reported as n/a.
func (h *harness) evaluateTargets() {
	type cmp struct {
		name     string
		want     string
		scenario string
		metric   string
		le       bool // true: figure <= limit; false: figure >= limit
		limit    float64
		unit     string
	}
	targets := []cmp{
		{"added p50 c1 (S1 2KB)", "<= 500 µs", "S1 chat 2KB", "added_p50_us", true, 500, "µs"},
		{"added p99 c1 (S1 2KB)", "<= 1000 µs", "S1 chat 2KB", "added_p99_us", true, 1000, "µs"},
		{"added p50 c1 (S2 100KB)", "<= 500 µs", "S2 messages 100KB", "added_p50_us", true, 500, "µs"},
		{"added p99 c1 (S2 100KB)", "<= 1000 µs", "S2 messages 100KB", "added_p99_us", true, 1000, "µs"},
		{"saturation, recording on", ">= 3000 req/s", "saturation", "rps", false, 3000, "req/s"},
		{"recorded share at saturation", "= 100%", "completeness", "saturation", false, 1, "(ratio)"},
		{"added TTFT p99 (S3)", "<= 1000 µs", "S3 messages SSE tool_use", "added_ttft_p99_us", true, 1000, "µs"},
		{"added TTFT p99 (S4)", "<= 1000 µs", "S4 responses SSE", "added_ttft_p99_us", true, 1000, "µs"},
		{"per-event gap overhead p99 (S3)", "<= 50 µs", "S3 messages SSE tool_use", "added_gap_p99_us", true, 50, "µs"},
		{"per-event gap overhead p99 (S4)", "<= 50 µs", "S4 responses SSE", "added_gap_p99_us", true, 50, "µs"},
		{"buffered gaps (S3)", "≈ 0 (< 5%)", "S3 messages SSE tool_use", "buffered_fraction", true, 0.05, "(fraction)"},
		{"paced streams sustained", ">= 1000", "streams", "sustained", false, 1000, "streams"},
		{"RSS per open stream (N=1000)", "<= 64 KiB", "memory", "kib_per_stream_1000", true, 64, "KiB"},
		{"CPU per 1k small recorded requests at 1,000 req/s", "<= 250 ms", "cpu", "cpu_ms_per_1k", true, 250, "ms"},
		{"CPU per 1k small recorded requests at 3,000 req/s", "<= 250 ms", "cpu", "cpu_ms_per_1k_3000", true, 250, "ms"},
		{"users/me c16", ">= 10000 req/s", "api users/me", "rps_c16", false, 10000, "req/s"},
		{"startup to /healthz (cold)", "<= 300 ms", "startup", "cold_ms", true, 300, "ms"},
		{"startup to /healthz (warm)", "<= 300 ms", "startup", "warm_ms", true, 300, "ms"},
		{"idle RSS", "<= 40 MiB", "idle", "rss_mib", true, 40, "MiB"},
	}
	names := []string{"gantry-sqlite", "gantry-postgres"}
	for _, t := range targets {
		for _, name := range names {
			subj := name
			if t.scenario == "startup" {
				subj = "gantry-sqlite"
				if name != "gantry-sqlite" {
					continue
				}
			}
			v, ok := h.figure(t.scenario, subj, t.metric)
			label := t.name + " [" + name + "]"
			if !ok {
				if name == "gantry-sqlite" {
					h.rep.Target(label, t.want, "not measured", nil)
				}
				continue
			}
			met := v <= t.limit
			if !t.le {
				met = v >= t.limit
			}
			got := fmt.Sprintf("%.1f %s", v, t.unit)
			h.rep.Target(label, t.want, got, &met)
		}
	}
	// The ratio to the floor (issue 7: added p50 <= 2x the floor's).
	if f, ok := h.figure("S1 chat 2KB", "floor", "added_p50_us"); ok {
		for _, name := range names {
			g, ok := h.figure("S1 chat 2KB", name, "added_p50_us")
			if !ok {
				continue
			}
			met := g <= 2*f
			ratio := "n/a (floor added <= 0)"
			if f > 0 {
				ratio = fmt.Sprintf("%.2fx (%.0f vs %.0f µs)", g/f, g, f)
			}
			h.rep.Target("added p50 c1 vs floor (S1) ["+name+"]", "<= 2x floor", ratio, &met)
		}
	}
}
