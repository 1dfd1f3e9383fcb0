package main

import (
	"math"
	"time"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// eventRounds collects per-event durations of the gap phase (the gaps
// between content events, or their transit times) by subject and round: a
// histogram over every event, and each round's exact p50 and p99 (the
// overhead is tens of µs on 20 ms gaps, below the histogram's resolution
// there), from which the added figures are medians over rounds.
type eventRounds struct {
	hist     []*stats.Histogram
	p50, p99 [][]float64
}

func newEventRounds(n int) *eventRounds {
	e := &eventRounds{hist: make([]*stats.Histogram, n), p50: make([][]float64, n), p99: make([][]float64, n)}
	for i := range e.hist {
		e.hist[i] = stats.NewHistogram()
	}
	return e
}

// record adds one round of subject i.
func (e *eventRounds) record(i int, ds []time.Duration) {
	for _, d := range ds {
		e.hist[i].Record(d)
	}
	e.p50[i] = append(e.p50[i], us(stats.ExactQuantile(ds, 0.5)))
	e.p99[i] = append(e.p99[i], us(stats.ExactQuantile(ds, 0.99)))
}

// fail adds a round of subject i that has no figure.
func (e *eventRounds) fail(i int) {
	e.p50[i] = append(e.p50[i], math.NaN())
	e.p99[i] = append(e.p99[i], math.NaN())
}

// pooled returns subject i's p50, p99 and p99.9 over every event.
func (e *eventRounds) pooled(i int) (p50, p99, p999 float64) {
	h := e.hist[i]
	return us(h.Quantile(0.5)), us(h.Quantile(0.99)), us(h.Quantile(0.999))
}

// added is subject i − subject 0 (direct) per round, summarised.
func (e *eventRounds) added(i int) (a50, a99 stats.Spread, ok bool) {
	return added(e.p50[i], e.p50[0], e.p99[i], e.p99[0])
}

// reportTransit adds one transit row per subject. The mock stamps each
// content delta with the wall-clock time it wrote it (X-Mock-Stamp) and the
// harness subtracts it from the arrival. Unlike the gap between two events,
// the transit does not contain the mock's timer jitter (the stamp is taken
// after the timer fired), so a subject's added transit resolves the
// per-event relay cost where the gap comparison cannot (METHOD §5,
// inter-frame overhead). Subject 0 is direct, the baseline.
func reportTransit(h *harness, subjects []*subject, scenario string, t *eventRounds) {
	for i, s := range subjects {
		if t.hist[i].Count() == 0 {
			continue
		}
		row := report.Row{
			Subject: s.name, Scenario: scenario, Level: "transit", Offered: 1,
			Requests: len(t.p50[i]),
			Note:     "per-event transit: arrival − the mock's send stamp; added = subject − direct per round",
		}
		row.P50, row.P99, row.P999 = t.pooled(i)
		if a50, a99, ok := t.added(i); i > 0 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
		}
		h.rep.Add(row)
	}
}
