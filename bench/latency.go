package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// phaseRig measures the rig ceiling (METHOD.md §2): the load generator
// straight at the mock with the S1 request, and at a static 200 handler
// (the General API ceiling), closed loop at 32 workers.
func (h *harness) phaseRig(ctx context.Context) error {
	tgS1 := h.direct.request(shapeChat, chatBody(2048, false), instantKnobs(2048), "")
	tgStatic := target{method: "GET", url: h.mockURL + "/_bench/static"}
	for _, c := range []struct {
		name string
		tg   target
	}{{"S1 chat 2KB -> mock", tgS1}, {"static 200 handler", tgStatic}} {
		_ = attack(ctx, h.client, c.tg, attackSpec{workers: 32, dur: time.Second, maxReq: 100_000})
		before, _ := procstat.Read(h.mock.Pid())
		r := attack(ctx, h.client, c.tg, attackSpec{workers: 32, dur: h.prof.rigDur, maxReq: 2_000_000})
		after, _ := procstat.Read(h.mock.Pid())
		row := rowFromRun("direct", "rig", c.name+" c32", 32, r)
		row.CPUPct = 100 * float64(after.CPU-before.CPU) / float64(r.elapsed)
		row.Note = "mock CPU % of one core in cpu_pct"
		h.rep.Rig(row)
		if c.tg.url == tgS1.url {
			h.rigRPS = r.rps()
		}
	}
	return nil
}

// rowFromRun fills the latency columns of a row from one attack.
func rowFromRun(subject, scenario, level string, offered float64, r run) report.Row {
	return report.Row{
		Subject: subject, Scenario: scenario, Level: level, Offered: offered,
		Requests: r.total(), RPS: r.rps(),
		P50: us(r.hist.Quantile(0.5)), P99: us(r.hist.Quantile(0.99)), P999: us(r.hist.Quantile(0.999)),
		Errors: r.errs,
	}
}

// latencyScenario is one non-streaming request shape for the c1 rounds.
type latencyScenario struct {
	id    string
	shape shape
	body  []byte
	// respBytes is the mock's response size.
	respBytes int
}

// phaseLatency measures added latency at concurrency 1 (METHOD.md §5):
// rounds interleaved direct / floor / gantry..., perRound requests each
// after a warm-up; per round, added = subject pX − direct pX; report the
// median and IQR of the round values.
func (h *harness) phaseLatency(ctx context.Context) error {
	scenarios := []latencyScenario{
		{"S1 chat 2KB", shapeChat, chatBody(2048, false), 2048},
		{"S2 messages 100KB", shapeMessages, messagesBody(100*1024, false, 30), 2048},
	}
	if h.prof.bigBody {
		scenarios = append(scenarios, latencyScenario{"S5 messages 1MB", shapeMessages, messagesBody(1024*1024, false, 30), 2048})
	}
	for _, sc := range scenarios {
		if err := h.latencyScenario(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) latencyScenario(ctx context.Context, sc latencyScenario) error {
	subjects := h.subjectsFor(sc.id)
	n := len(subjects)
	targets := make([]target, n)
	for i, s := range subjects {
		targets[i] = s.request(sc.shape, sc.body, instantKnobs(sc.respBytes), "")
		_ = attack(ctx, h.client, targets[i], attackSpec{workers: 1, dur: 10 * time.Second, maxReq: h.prof.warmup})
	}
	merged := make([]*stats.Histogram, n)
	errs := make([]report.Errors, n)
	ok := make([]int, n)
	elapsed := make([]time.Duration, n)
	cpu := make([]time.Duration, n)
	p50 := make([][]float64, n)
	p99 := make([][]float64, n)
	lastErr := make([]string, n)
	foreign := make([]time.Duration, n)
	wall := make([]time.Duration, n)
	selfP50 := make([][]float64, n)
	for i := range merged {
		merged[i] = stats.NewHistogram()
	}
	// The self-reported overhead histogram over the timed rounds only.
	promBefore := map[*subject]promOverhead{}
	promErr := map[*subject]error{}
	for _, s := range h.gantrySubjects() {
		promBefore[s], promErr[s] = s.g.scrapeOverhead(ctx, h.client)
	}
	for round := range h.prof.rounds {
		// Rotate the start so drift does not always hit the same subject.
		for k := range n {
			i := (k + round) % n
			w := h.openWindow(subjects[i].pid)
			self := &selfRecorder{hist: stats.NewHistogram()}
			r := attack(ctx, h.client, targets[i], attackSpec{workers: 1, dur: 60 * time.Second, maxReq: h.prof.perRound, validate: self.validate()})
			wr := w.close()
			selfP50[i] = append(selfP50[i], quantileUS(self.hist, 0.5, self.seen && r.errs.Total() == 0))
			cpu[i] += wr.subjectCPU
			foreign[i] += wr.foreign
			wall[i] += wr.wall
			merged[i].Merge(r.hist)
			errs[i].Rig += r.errs.Rig
			errs[i].Transport += r.errs.Transport
			errs[i].Status4xx += r.errs.Status4xx
			errs[i].Status5xx += r.errs.Status5xx
			errs[i].Status429 += r.errs.Status429
			errs[i].Other += r.errs.Other
			ok[i] += r.ok
			elapsed[i] += r.elapsed
			p50[i] = append(p50[i], quantileUS(r.hist, 0.5, r.errs.Total() == 0))
			p99[i] = append(p99[i], quantileUS(r.hist, 0.99, r.errs.Total() == 0))
			if r.errs.Total() > 0 {
				lastErr[i] = r.lastErr
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	for i, s := range subjects {
		row := report.Row{
			Subject: s.name, Scenario: sc.id, Level: "c1", Offered: 1, Requests: ok[i] + errs[i].Total(),
			P50: us(merged[i].Quantile(0.5)), P99: us(merged[i].Quantile(0.99)), P999: us(merged[i].Quantile(0.999)),
			Errors: errs[i],
		}
		if elapsed[i] > 0 {
			row.RPS = float64(ok[i]) / elapsed[i].Seconds()
		}
		if ok[i] > 0 && s != h.direct {
			row.CPUPer1k = float64(cpu[i]) / float64(time.Millisecond) / float64(ok[i]) * 1000
		}
		row.Note = fmt.Sprintf("%d rounds x %d, interleaved", h.prof.rounds, h.prof.perRound)
		markContention(&row, windowResult{wall: wall[i], foreign: foreign[i]}.foreignPct())
		if lastErr[i] != "" {
			row.Note += "; last error: " + truncate(lastErr[i], 160)
		}
		// Added figures only from rounds without errors: an error answer
		// is fast and would flatter the subject.
		if a50, a99, ok := added(p50[i], p50[0], p99[i], p99[0]); i > 0 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
			h.setFigure(sc.id, s.name, "added_p50_us", a50.Median)
			h.setFigure(sc.id, s.name, "added_p99_us", a99.Median)
		}
		h.rep.Add(row)
	}
	// Self-reported vs black-box, net of the floor (selftiming.go).
	var floor selfRounds
	gantries := map[*subject]selfRounds{}
	for i, s := range subjects {
		sr := selfRounds{p50: p50[i], self: selfP50[i]}
		if s.g != nil {
			after, err := s.g.scrapeOverhead(ctx, h.client)
			sr.promErr = errors.Join(promErr[s], err)
			sr.prom = promOverhead{sum: after.sum - promBefore[s].sum, count: after.count - promBefore[s].count}
			gantries[s] = sr
		} else if s.name == "floor" {
			floor = sr
		}
	}
	h.selfVsBlackbox(sc.id, floor, gantries)
	return nil
}

// quantileUS is the histogram's q-quantile in µs, or NaN when the round
// is not usable (no samples or errors), so Summarize skips it.
func quantileUS(hist *stats.Histogram, q float64, usable bool) float64 {
	if !usable || hist.Count() == 0 {
		return math.NaN()
	}
	return us(hist.Quantile(q))
}

// added summarises per-round subject − direct values; ok is false when no
// round was usable.
func added(s50, d50, s99, d99 []float64) (a50, a99 stats.Spread, ok bool) {
	a50 = stats.Summarize(diff(s50, d50))
	a99 = stats.Summarize(diff(s99, d99))
	return a50, a99, a50.N > 0
}

// diff returns a[i] − b[i].
func diff(a, b []float64) []float64 {
	out := make([]float64, min(len(a), len(b)))
	for i := range out {
		out[i] = a[i] - b[i]
	}
	return out
}
