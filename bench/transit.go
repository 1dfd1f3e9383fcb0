package main

import (
	"math"
	"time"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// transitRounds gathers the per-event transit times of the gap phase: the
// mock stamps each content delta with the wall-clock time it wrote it
// (X-Mock-Stamp) and the harness subtracts it from the arrival. Unlike the
// gap between two events, the transit does not contain the mock's timer
// jitter (the stamp is taken after the timer fired), so a subject's added
// transit resolves the per-event relay cost to a few microseconds where the
// gap comparison cannot (METHOD §5, inter-frame overhead).
type transitRounds struct {
	hist     []*stats.Histogram
	p50, p99 [][]float64
}

func newTransitRounds(n int) *transitRounds {
	t := &transitRounds{hist: make([]*stats.Histogram, n), p50: make([][]float64, n), p99: make([][]float64, n)}
	for i := range t.hist {
		t.hist[i] = stats.NewHistogram()
	}
	return t
}

// add records one round of subject i (nil: the stream failed).
func (t *transitRounds) add(i int, transit []time.Duration) {
	if len(transit) == 0 {
		t.p50[i] = append(t.p50[i], math.NaN())
		t.p99[i] = append(t.p99[i], math.NaN())
		return
	}
	for _, d := range transit {
		t.hist[i].Record(d)
	}
	t.p50[i] = append(t.p50[i], us(stats.ExactQuantile(transit, 0.5)))
	t.p99[i] = append(t.p99[i], us(stats.ExactQuantile(transit, 0.99)))
}

// report adds one row per subject, in the order of the rounds; subject 0
// is direct, the baseline.
func (t *transitRounds) report(h *harness, subjects []*subject, scenario string) {
	for i, s := range subjects {
		if t.hist[i].Count() == 0 {
			continue
		}
		row := report.Row{
			Subject: s.name, Scenario: scenario, Level: "transit", Offered: 1,
			Requests: len(t.p50[i]),
			P50:      us(t.hist[i].Quantile(0.5)), P99: us(t.hist[i].Quantile(0.99)), P999: us(t.hist[i].Quantile(0.999)),
			Note: "per-event transit: arrival − the mock's send stamp; added = subject − direct per round",
		}
		if a50, a99, ok := added(t.p50[i], t.p50[0], t.p99[i], t.p99[0]); i > 0 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
		}
		h.rep.Add(row)
	}
}
