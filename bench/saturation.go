package main

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/internal/aibridge/mockupstream"
)

func (h *harness) mockStats(ctx context.Context) (mockupstream.Stats, error) {
	var st mockupstream.Stats
	err := apiCall(ctx, h.client, http.MethodGet, h.mockURL+"/_mock/stats", "", nil, http.StatusOK, &st)
	return st, err
}

func (h *harness) fidelityStats(ctx context.Context) (fidelityStats, error) {
	var st fidelityStats
	err := apiCall(ctx, h.client, http.MethodGet, h.mockURL+"/_bench/fidelity", "", nil, http.StatusOK, &st)
	return st, err
}

// countBefore returns a gantry subject's settled interception count before
// a phase (the previous phase's asynchronous writes included). counted is
// false for other subjects, and when the query API fails (reported as a
// failed check; the load still runs).
func (h *harness) countBefore(ctx context.Context, s *subject, phase string) (n int, counted bool) {
	if s.g == nil {
		return 0, false
	}
	n, err := s.g.stableCount(ctx, h.client, -1, 10*time.Second)
	if err != nil {
		h.rep.Check(fmt.Sprintf("records = successes (%s, %s)", s.name, phase), false, "query interceptions: "+err.Error())
		return 0, false
	}
	return n, true
}

// checkRecords asserts records = successful requests for a phase.
func (h *harness) checkRecords(ctx context.Context, s *subject, phase string, before, successes int) {
	n, err := s.g.stableCount(ctx, h.client, before+successes, 10*time.Second)
	if err != nil {
		h.rep.Check(fmt.Sprintf("records = successes (%s, %s)", s.name, phase), false, "query interceptions: "+err.Error())
		return
	}
	got := n - before
	h.rep.Check(fmt.Sprintf("records = successes (%s, %s)", s.name, phase), got == successes,
		fmt.Sprintf("%d records for %d successful requests", got, successes))
	if successes > 0 {
		h.setFigure("completeness", s.name, phase, float64(got)/float64(successes))
	}
}

// phaseSaturation runs the open-loop rate ladder with an instant mock
// (S1 body, recording on) and reports goodput per rung (METHOD.md §5); the
// full profile repeats it with a 20 ms mock (in-flight capacity, S6).
func (h *harness) phaseSaturation(ctx context.Context) error {
	mocks := []int{0}
	if h.prof.name == "full" {
		mocks = append(mocks, 20)
	}
	for _, ttft := range mocks {
		for _, s := range h.proxySubjects() {
			if !s.serves(scenS1) {
				continue
			}
			h.ladder(ctx, s, ttft)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

func (h *harness) ladder(ctx context.Context, s *subject, mockTTFT int) {
	knobs := instantKnobs(2048)
	knobs["X-Mock-Ttft-Ms"] = mockTTFT
	scenario := "saturation S1 instant mock"
	if mockTTFT > 0 {
		scenario = fmt.Sprintf("saturation S1 %d ms mock", mockTTFT)
	}
	tg := s.request(shapeChat, chatBody(2048, false), knobs, "")
	before, counted := h.countBefore(ctx, s, scenario)
	// Warm-up (recorded by gantry too, so counted).
	total := attack(ctx, h.client, tg, attackSpec{rate: 500, dur: 2 * time.Second, maxReq: 1000}).ok
	best := 0.0
	bounds := map[float64]float64{1: 0, 5: 0, 10: 0, 50: 0}
	for _, rate := range h.prof.ladder {
		w := h.openWindow(s.pid)
		r := attack(ctx, h.client, tg, attackSpec{rate: rate, dur: h.prof.rungDur, maxReq: int(rate * h.prof.rungDur.Seconds())})
		wr := w.close()
		total += r.ok
		cpu := wr.subjectCPU
		cpuPct := 100 * float64(cpu) / float64(wr.wall)
		row := rowFromRun(s.name, scenario, fmt.Sprintf("%.0f rps", rate), rate, r)
		row.CPUPct = cpuPct
		if r.ok > 0 {
			row.CPUPer1k = float64(cpu) / float64(time.Millisecond) / float64(r.ok) * 1000
		}
		foreign := wr.foreignPct()
		markContention(&row, foreign)
		failed := r.errRate() >= 0.001 || r.rps() < 0.9*rate
		switch {
		case failed && cpuPct < 70 && h.l.pinned && !(foreign > 10):
			// The subject's core was neither busy with the subject nor
			// taken by other processes: the generator or the mock could
			// not keep up.
			row.Flags = append(row.Flags, report.FlagRigBound)
		case h.rigRPS > 0 && r.rps() >= 0.9*h.rigRPS:
			row.Flags = append(row.Flags, report.FlagRigBound)
		}
		row.Note = fmt.Sprintf("cpu_pct = subject CPU, %% of one core; failed=%v", failed)
		if r.lastErr != "" {
			row.Note += "; last error: " + truncate(r.lastErr, 120)
		}
		h.rep.Add(row)
		if !failed {
			best = max(best, r.rps())
			for b := range bounds {
				if us(r.hist.Quantile(0.99)) <= b*1000 {
					bounds[b] = rate
				}
			}
		}
		if failed || ctx.Err() != nil {
			break
		}
	}
	if mockTTFT == 0 {
		h.setFigure("saturation", s.name, "rps", best)
	}
	h.rep.Add(report.Row{Subject: s.name, Scenario: scenario, Level: "saturation: errors < 0.1%, goodput >= 90% offered",
		Value: report.Ptr(best), Unit: "req/s",
		Note: fmt.Sprintf("highest offered rate with absolute p99 <= 1/5/10/50 ms: %.0f/%.0f/%.0f/%.0f", bounds[1], bounds[5], bounds[10], bounds[50])})
	if counted {
		phase := "saturation"
		if mockTTFT > 0 {
			phase = scenario
		}
		h.checkRecords(ctx, s, phase, before, total)
	}
}

// phaseCPU measures CPU-ms per 1,000 small authenticated, recorded
// requests at a fixed open-loop rate.
func (h *harness) phaseCPU(ctx context.Context) error {
	body := chatBody(2048, false)
	for _, s := range h.proxySubjects() {
		if !s.serves(scenS1) {
			continue
		}
		tg := s.request(shapeChat, body, instantKnobs(2048), "")
		before, counted := h.countBefore(ctx, s, "cpu")
		ok := 0
		for i, rate := range h.prof.cpuRates {
			// Warm-up at the rate (METHOD.md §8): connections open and the
			// recorder reaches its steady batch size before the window.
			ok += attack(ctx, h.client, tg, attackSpec{rate: rate, dur: time.Second, maxReq: int(rate)}).ok
			smp, err := procstat.Start(s.pid, 100*time.Millisecond)
			if err != nil {
				return err
			}
			w := h.openWindow(s.pid)
			r := attack(ctx, h.client, tg, attackSpec{rate: rate, dur: h.prof.cpuDur, maxReq: int(rate * h.prof.cpuDur.Seconds())})
			wr := w.close()
			sum, _ := smp.Stop()
			ok += r.ok
			row := rowFromRun(s.name, "cpu per 1k S1", fmt.Sprintf("%.0f rps x %s", rate, h.prof.cpuDur), rate, r)
			if r.ok > 0 {
				row.CPUPer1k = float64(sum.CPU()) / float64(time.Millisecond) / float64(r.ok) * 1000
				metric := "cpu_ms_per_1k"
				if i > 0 {
					metric = fmt.Sprintf("cpu_ms_per_1k_%.0f", rate)
				}
				h.setFigure("cpu", s.name, metric, row.CPUPer1k)
			}
			row.CPUPct = 100 * float64(sum.CPU()) / float64(r.elapsed)
			row.RSSIdle, row.RSSPeak = s.idleRSS, mib(sum.PeakRSS)
			markContention(&row, wr.foreignPct())
			h.rep.Add(row)
			if i == 0 && s.g != nil {
				// Profiled in a separate run so the profiler does not inflate
				// the measured CPU; its records count in the check below.
				ok += h.profileUnder(ctx, s.g, tg, attackSpec{rate: rate}, "cpu-phase")
			}
		}
		if counted {
			h.checkRecords(ctx, s, "cpu", before, ok)
		}
	}
	return nil
}

// phaseFidelity sends a small mixed set of requests, each checked by the
// mock-side wrapper, then compares gantry's records and recorded tokens
// with the mock's usage totals (METHOD.md §12.5).
func (h *harness) phaseFidelity(ctx context.Context) error {
	const each = 10
	type kind struct {
		name   string
		shape  shape
		body   []byte
		stream bool
		scen   string
		hash   bool
	}
	kinds := []kind{
		{"messages", shapeMessages, messagesBody(4096, false, 2), false, "tool", true},
		{"messages-sse", shapeMessages, messagesBody(4096, true, 2), true, "tool,thinking", true},
		{"chat", shapeChat, chatBody(2048, false), false, "", false},
		// No stream_options: the gateway has to ask for usage itself.
		{"chat-sse", shapeChat, sizedBody(2048, func(p string) any {
			return map[string]any{"model": "gpt-bench", "stream": true, "messages": []map[string]any{{"role": "system", "content": p}, {"role": "user", "content": "hi"}}}
		}), true, "tool", false},
		{"responses-sse", shapeResponses, responsesBody(2048, true), true, "tool,thinking", false},
	}
	for _, s := range h.proxySubjects() {
		if s.peer != nil {
			// A peer is not held to gantry's forwarding and recording contract.
			continue
		}
		before, counted := h.countBefore(ctx, s, "fidelity")
		// started_after has second granularity: start on a fresh second.
		since := time.Now().Truncate(time.Second).Add(time.Second)
		time.Sleep(time.Until(since) + 10*time.Millisecond)
		m0, err := h.mockStats(ctx)
		if err != nil {
			return err
		}
		f0, err := h.fidelityStats(ctx)
		if err != nil {
			return err
		}
		ok, sent := 0, 0
		leaked, chatOK := 0, 0
		// Expected recorded input under the two conventions: OpenAI's
		// prompt_tokens includes the cached part, Anthropic's input does
		// not; a gateway may store OpenAI input either way.
		var wantInInclusive, wantInExclusive int64
		for _, k := range kinds {
			tg := withCheck(s.request(k.shape, k.body, streamKnobs(8, time.Millisecond), k.scen), k.shape, k.hash)
			k0, err := h.mockStats(ctx)
			if err != nil {
				return err
			}
			for range each {
				sent++
				tr, err := h.stream(ctx, tg, nil)
				if err != nil || tr.Status != http.StatusOK {
					continue
				}
				ok++
				// The client did not ask for a usage chunk, so it must not
				// get one (the gateway adds include_usage upstream only).
				if k.name == "chat-sse" {
					chatOK++
					if tr.Usage != nil {
						leaked++
					}
				}
			}
			k1, err := h.mockStats(ctx)
			if err != nil {
				return err
			}
			in, cached := k1.InputTokens-k0.InputTokens, k1.CacheRead-k0.CacheRead
			wantInInclusive += in
			if k.shape == shapeMessages {
				wantInExclusive += in
			} else {
				wantInExclusive += in - cached
			}
		}
		m1, err := h.mockStats(ctx)
		if err != nil {
			return err
		}
		f1, err := h.fidelityStats(ctx)
		if err != nil {
			return err
		}
		checked := f1.Checked - f0.Checked
		bad := (f1.BetaMismatch - f0.BetaMismatch) + (f1.VersionMismatch - f0.VersionMismatch) + (f1.AuthMismatch - f0.AuthMismatch) + (f1.BodyMismatch - f0.BodyMismatch)
		detail := fmt.Sprintf("%d requests checked upstream, %d mismatches", checked, bad)
		if bad > 0 {
			detail += "; last: " + f1.Last
		}
		h.rep.Check(fmt.Sprintf("headers forwarded byte for byte, provider key only (%s)", s.name), bad == 0 && checked == int64(sent), detail)
		h.rep.Check(fmt.Sprintf("fidelity set answered 200 (%s)", s.name), ok == sent, fmt.Sprintf("%d/%d", ok, sent))
		if s.g == nil {
			continue
		}
		h.rep.Check(fmt.Sprintf("chat stream without stream_options gets no usage chunk (%s)", s.name), leaked == 0 && chatOK > 0,
			fmt.Sprintf("%d of %d streams carried a usage chunk", leaked, chatOK))
		if !counted {
			continue
		}
		h.checkRecords(ctx, s, "fidelity", before, ok)
		rec, err := s.g.sumSince(ctx, h.client, since, 5)
		if err != nil {
			h.rep.Check(fmt.Sprintf("recorded tokens = mock usage (%s)", s.name), false, "query interceptions: "+err.Error())
			continue
		}
		mIn, mOut := m1.InputTokens-m0.InputTokens, m1.OutputTokens-m0.OutputTokens
		mCR, mCW := m1.CacheRead-m0.CacheRead, m1.CacheWrite-m0.CacheWrite
		convention := "OpenAI input incl. cached"
		inOK := rec.Input == wantInInclusive
		if !inOK && rec.Input == wantInExclusive {
			inOK, convention = true, "OpenAI input excl. cached"
		}
		pass := inOK && rec.Output == mOut && rec.CacheRead == mCR && rec.CacheWrite == mCW && rec.Records == ok
		h.rep.Check(fmt.Sprintf("recorded tokens = mock usage (%s)", s.name), pass,
			fmt.Sprintf("records %d; input %d vs mock %d (%s; %d excl. cached); output %d vs %d; cache read %d vs %d; cache write %d vs %d",
				rec.Records, rec.Input, mIn, convention, wantInExclusive, rec.Output, mOut, rec.CacheRead, mCR, rec.CacheWrite, mCW))
	}
	return nil
}
