package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/sse"
	"gantry/bench/internal/stats"
)

// pacing is the mock's SSE pacing (METHOD.md §3 default).
const pacing = 20 * time.Millisecond

// sseScenario is one streaming shape.
type sseScenario struct {
	id       string
	shape    shape
	body     []byte
	scenario string // X-Mock-Scenario
}

func sseScenarios() []sseScenario {
	return []sseScenario{
		{"S3 messages SSE tool_use", shapeMessages, messagesBody(8*1024, true, 4), "tool"},
		{"S4 responses SSE", shapeResponses, responsesBody(8*1024, true), "tool,thinking"},
	}
}

// stream runs one SSE request to completion (bounded by 60 s).
func (h *harness) stream(ctx context.Context, tg target, onFirst func()) (*sse.Trace, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, tg.method, tg.url, bytes.NewReader(tg.body))
	if err != nil {
		return nil, err
	}
	req.Header = tg.header.Clone()
	return sse.Do(ctx, h.streamClient, req, onFirst)
}

// phaseSSE measures added time-to-first-token and per-event gap overhead
// at concurrency 1, with the buffering check (METHOD.md §5).
func (h *harness) phaseSSE(ctx context.Context) error {
	for _, sc := range sseScenarios() {
		if err := h.sseTTFT(ctx, sc); err != nil {
			return err
		}
		if err := h.sseGaps(ctx, sc); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) sseTTFT(ctx context.Context, sc sseScenario) error {
	subjects := h.subjectsFor(sc.id)
	n := len(subjects)
	targets := make([]target, n)
	for i, s := range subjects {
		targets[i] = s.request(sc.shape, sc.body, streamKnobs(2, pacing), sc.scenario)
		for range 3 { // warm-up
			if _, err := h.stream(ctx, targets[i], nil); err != nil {
				return fmt.Errorf("%s %s: %w", sc.id, s.name, err)
			}
		}
	}
	hist := make([]*stats.Histogram, n)
	p50 := make([][]float64, n)
	p99 := make([][]float64, n)
	errs := make([]report.Errors, n)
	for i := range hist {
		hist[i] = stats.NewHistogram()
	}
	for round := range h.prof.ttftRounds {
		for k := range n {
			i := (k + round) % n
			rh := stats.NewHistogram()
			for range h.prof.ttftPerRound {
				tr, err := h.stream(ctx, targets[i], nil)
				switch {
				case err != nil:
					errs[i].Add(0)
				case tr.Status != http.StatusOK:
					errs[i].Add(tr.Status)
				case tr.FirstContent == 0:
					errs[i].Other++ // 200 without any content event
				default:
					rh.Record(tr.FirstContent)
				}
			}
			hist[i].Merge(rh)
			usable := rh.Count() == uint64(h.prof.ttftPerRound)
			p50[i] = append(p50[i], quantileUS(rh, 0.5, usable))
			p99[i] = append(p99[i], quantileUS(rh, 0.99, usable))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for i, s := range subjects {
		row := report.Row{
			Subject: s.name, Scenario: sc.id, Level: "TTFT c1", Offered: 1, Requests: int(hist[i].Count()) + errs[i].Total(),
			P50: us(hist[i].Quantile(0.5)), P99: us(hist[i].Quantile(0.99)), P999: us(hist[i].Quantile(0.999)),
			Errors: errs[i], Note: fmt.Sprintf("time to first content event; %d rounds x %d streams", h.prof.ttftRounds, h.prof.ttftPerRound),
		}
		if a50, a99, ok := added(p50[i], p50[0], p99[i], p99[0]); i > 0 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
			h.setFigure(sc.id, s.name, "added_ttft_p50_us", a50.Median)
			if errs[i].Total() == 0 {
				// Median over rounds, like the added latency (METHOD.md §8):
				// a pooled p99 of a few dozen streams is their maximum.
				h.setFigure(sc.id, s.name, "added_ttft_p99_us", a99.Median)
			}
		}
		h.rep.Add(row)
	}
	return nil
}

func (h *harness) sseGaps(ctx context.Context, sc sseScenario) error {
	subjects := h.subjectsFor(sc.id)
	n := len(subjects)
	targets := make([]target, n)
	knobs := streamKnobs(h.prof.gapChunks, pacing)
	knobs["X-Mock-Stamp"] = 1 // send stamps, for the per-event transit time
	for i, s := range subjects {
		targets[i] = s.request(sc.shape, sc.body, knobs, sc.scenario)
	}
	gaps, transit := newEventRounds(n), newEventRounds(n)
	errs := make([]report.Errors, n)
	contentCounts := make([][]int, n)
	under := make([]float64, n)
	for round := range h.prof.gapRounds {
		for k := range n {
			i := (k + round) % n
			tr, err := h.stream(ctx, targets[i], nil)
			if err != nil || tr.Status != http.StatusOK {
				status := 0 // transport error, also mid-stream
				if err == nil {
					status = tr.Status
				}
				errs[i].Add(status)
				gaps.fail(i)
				transit.fail(i)
				continue
			}
			if len(tr.Transit) > 0 {
				transit.record(i, tr.Transit)
			} else {
				transit.fail(i)
			}
			gaps.record(i, tr.Gaps())
			contentCounts[i] = append(contentCounts[i], len(tr.Content))
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	for i, s := range subjects {
		row := report.Row{
			Subject: s.name, Scenario: sc.id, Level: fmt.Sprintf("gap %dx%s", h.prof.gapChunks, pacing), Offered: 1,
			Requests: len(contentCounts[i]) + errs[i].Total(),
			Errors:   errs[i],
		}
		row.P50, row.P99, row.P999 = gaps.pooled(i)
		under[i] = 0
		if h := gaps.hist[i]; h.Count() > 0 {
			under[i] = float64(h.CountBelow(time.Millisecond)) / float64(h.Count())
		}
		row.Note = fmt.Sprintf("per-event gap; %.1f%% of gaps < 1 ms", 100*under[i])
		// With 20 ms pacing, gaps under 1 ms mean events were held and
		// released together. Some events are legitimately back to back
		// (a tool call's deltas), so compare with the direct stream.
		extra := under[i] - under[0]
		if i > 0 && extra > 0.05 {
			row.Flags = append(row.Flags, report.FlagBuffers)
		}
		if a50, a99, ok := gaps.added(i); i > 0 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
			if errs[i].Total() == 0 {
				h.setFigure(sc.id, s.name, "added_gap_p99_us", a99.Median)
				h.setFigure(sc.id, s.name, "buffered_fraction", max(extra, 0))
			}
		}
		if i > 0 {
			// Every content event the mock sent directly must arrive
			// through the subject too.
			if len(contentCounts[0]) > 0 {
				want := contentCounts[0][0]
				intact := !slices.ContainsFunc(contentCounts[i], func(c int) bool { return c != want })
				detail := fmt.Sprintf("direct %d events per stream, %s %v", want, s.name, contentCounts[i])
				switch {
				case s.peer == nil:
					h.rep.Check(fmt.Sprintf("%s: every SSE content event delivered (%s)", sc.id, s.name), intact && len(contentCounts[i]) > 0, detail)
				case !intact:
					// Peers are observed, not checked.
					row.Note += "; content events lost: " + detail
				}
			}
		}
		h.rep.Add(row)
	}
	reportTransit(h, subjects, sc.id, transit)
	return nil
}

// streamSubjects are the subjects of the streams phase: all of them in the
// full profile; in the quick one direct, floor, the first gantry (the
// store is off the streaming path, so a second backend adds little) and
// the peers. A peer that does not serve S3's stream is left out.
func (h *harness) streamSubjects() []*subject {
	var out []*subject
	gantries := 0
	for _, s := range h.subjects {
		if s.g != nil {
			gantries++
			if h.prof.name != "full" && gantries > 1 {
				continue
			}
		}
		if s.serves(scenS3) {
			out = append(out, s)
		}
	}
	return out
}

// streamOutcome aggregates a set of concurrent streams.
type streamOutcome struct {
	n, ok, incomplete, failed int
	maxGap                    time.Duration
	gaps                      *stats.Histogram
	frames                    int
	wall                      time.Duration
	errs                      report.Errors
	lastErr                   string
}

// concurrentStreams opens n streams of tg, starting them evenly over
// stagger, and waits for all of them. onAllOpen runs once every stream has
// received its first content event (or after the open timeout).
func (h *harness) concurrentStreams(ctx context.Context, tg target, n int, wantContent int, stagger time.Duration, onAllOpen func()) streamOutcome {
	out := streamOutcome{n: n, gaps: stats.NewHistogram()}
	var (
		mu     sync.Mutex
		wg     sync.WaitGroup
		opened sync.WaitGroup
	)
	opened.Add(n)
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var once sync.Once
			first := func() { once.Do(opened.Done) }
			defer first()
			time.Sleep(time.Duration(i) * stagger / time.Duration(n))
			tr, err := h.stream(ctx, tg, first)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err != nil:
				out.failed++
				out.errs.Add(0)
				if isRigError(err.Error()) {
					out.errs.Transport--
					out.errs.Rig++
				}
				out.lastErr = err.Error()
				return
			case tr.Status != http.StatusOK:
				out.failed++
				out.errs.Add(tr.Status)
				out.lastErr = fmt.Sprintf("status %d: %s", tr.Status, truncate(string(tr.Body), 200))
				return
			}
			out.frames += len(tr.Content)
			for _, g := range tr.Gaps() {
				out.gaps.Record(g)
				out.maxGap = max(out.maxGap, g)
			}
			if len(tr.Content) != wantContent {
				out.incomplete++
				out.lastErr = fmt.Sprintf("%d of %d content events", len(tr.Content), wantContent)
				return
			}
			out.ok++
		}()
	}
	if onAllOpen != nil {
		allOpen := make(chan struct{})
		go func() { opened.Wait(); close(allOpen) }()
		select {
		case <-allOpen:
		case <-time.After(stagger + 30*time.Second):
		case <-ctx.Done():
		}
		onAllOpen()
	}
	wg.Wait()
	out.wall = time.Since(start)
	return out
}

// phaseStreams holds slow streams to measure memory per open stream, then
// ramps concurrent paced streams (64 x 20 ms) (METHOD.md §5). Memory comes
// first, before the ramp has grown the heap.
func (h *harness) phaseStreams(ctx context.Context) error {
	for _, s := range h.subjects {
		if s.peer == nil && !slices.Contains(h.streamSubjects(), s) {
			h.rep.Note("%s: streams phase skipped in the quick profile (run -profile full)", s.name)
		}
	}
	if err := h.streamMemory(ctx); err != nil {
		return err
	}
	body := messagesBody(2048, true, 0)
	const chunks = 64
	best := map[string]int{}
	stopped := map[string]bool{}
	directOK := map[int]bool{}
	for _, n := range h.prof.sustained {
		for _, s := range h.streamSubjects() {
			if stopped[s.name] {
				continue
			}
			freshPeerConns(h, s)
			tg := s.request(shapeMessages, body, streamKnobs(chunks, pacing), "")
			smp, _ := procstat.Start(s.pid, 100*time.Millisecond)
			o := h.concurrentStreams(ctx, tg, n, chunks, 500*time.Millisecond, nil)
			var peak, cpuPct float64
			if smp != nil {
				sum, _ := smp.Stop()
				peak = mib(sum.PeakRSS)
				if o.wall > 0 {
					// How busy the subject's own core was: headroom left
					// when the rig, not the subject, is what fails.
					cpuPct = 100 * float64(sum.CPU()) / float64(o.wall)
				}
			}
			pass := o.failed == 0 && o.incomplete == 0 && o.maxGap <= 10*pacing
			row := report.Row{
				Subject: s.name, Scenario: "paced streams 64x20ms", Level: fmt.Sprintf("N=%d", n), Offered: float64(n),
				Requests: n, RPS: float64(o.frames) / o.wall.Seconds(),
				P50: us(o.gaps.Quantile(0.5)), P99: us(o.gaps.Quantile(0.99)), P999: us(o.gaps.Quantile(0.999)),
				Errors: o.errs, RSSIdle: s.idleRSS, RSSPeak: peak, CPUPct: cpuPct,
				Note: fmt.Sprintf("rps column = frames/s; max gap %s; incomplete %d; pass=%v; subject CPU %.0f%% of a core", o.maxGap.Round(time.Millisecond), o.incomplete, pass, cpuPct),
			}
			if o.lastErr != "" {
				row.Note += "; last error: " + truncate(o.lastErr, 120)
			}
			switch {
			case s == h.direct:
				directOK[n] = pass
			case pass:
				best[s.name] = n
			case !directOK[n]:
				// The rig fails at this N too: not the subject's limit.
				row.Flags = append(row.Flags, report.FlagRigBound)
			default:
				stopped[s.name] = true
			}
			h.rep.Add(row)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	for _, s := range h.streamSubjects()[1:] {
		n := best[s.name]
		h.rep.Add(report.Row{Subject: s.name, Scenario: "streams sustained", Level: "64x20ms, no stall",
			Value: report.Ptr(float64(n)), Unit: "streams", Note: fmt.Sprintf("highest N of %v with every frame, gaps <= 200 ms, 0 errors", h.prof.sustained)})
		h.setFigure("streams", s.name, "sustained", float64(n))
	}
	return nil
}

// streamMemory holds N slow streams (1 frame/s) and reports
// (RSS_N − RSS_before)/N.
func (h *harness) streamMemory(ctx context.Context) error {
	body := messagesBody(2048, true, 0)
	// RSS rarely shrinks back, so only the first N measured starts from a
	// heap no earlier streams grew: N = 1,000 (the target's) comes first,
	// and later rows say that they understate (their Go heap and stack
	// figures, taken after a forced GC, do not).
	for k, n := range h.prof.memN {
		for _, s := range h.streamSubjects()[1:] {
			freshPeerConns(h, s)
			tg := s.request(shapeMessages, body, streamKnobs(h.prof.memChunks, h.prof.memInterval), "")
			var heapBefore, heapPlateau, stackBefore, stackPlateau int64
			if s.g != nil {
				heapBefore, stackBefore = s.g.memStats(ctx, h.client)
			}
			before, err := procstat.Read(s.pid)
			if err != nil {
				return err
			}
			var steady []float64
			goroutines := 0
			o := h.concurrentStreams(ctx, tg, n, h.prof.memChunks, 500*time.Millisecond, func() {
				// Sample the plateau: every stream is open and idle
				// between frames.
				for range 10 {
					if smp, err := procstat.Read(s.pid); err == nil {
						steady = append(steady, float64(smp.RSSBytes))
					}
					time.Sleep(100 * time.Millisecond)
				}
				if s.g != nil {
					goroutines = s.g.goroutines(ctx, h.client)
					heapPlateau, stackPlateau = s.g.memStats(ctx, h.client)
					if h.cfg.pprofDir != "" {
						path := filepath.Join(h.cfg.pprofDir, fmt.Sprintf("%s-heap-%d-streams.pprof", s.name, n))
						if err := s.g.saveProfile(ctx, path, 0); err == nil {
							h.rep.Note("%s: heap profile with %d open streams saved to %s", s.name, n, path)
						}
					}
				}
			})
			rss := stats.Summarize(steady).Median
			perStream := (rss - float64(before.RSSBytes)) / float64(n) / 1024
			note := fmt.Sprintf("RSS before %.1f MiB, plateau %.1f MiB; %d ok, %d failed", mib(before.RSSBytes), rss/(1<<20), o.ok, o.failed+o.incomplete)
			if goroutines > 0 {
				note += fmt.Sprintf("; %d goroutines at plateau (%.1f per stream)", goroutines, float64(goroutines)/float64(n))
			}
			if heapBefore > 0 && heapPlateau > 0 {
				note += fmt.Sprintf("; Go heap in use %.1f -> %.1f MiB (%.1f KiB/stream), goroutine stacks %.1f -> %.1f MiB (%.1f KiB/stream)",
					mib(heapBefore), mib(heapPlateau), float64(heapPlateau-heapBefore)/float64(n)/1024,
					mib(stackBefore), mib(stackPlateau), float64(stackPlateau-stackBefore)/float64(n)/1024)
			}
			if perStream <= 0 {
				note += "; RSS did not grow (heap reused from earlier phases): see the Go heap figure"
			} else if k > 0 {
				note += fmt.Sprintf("; measured after N=%d in the same process, so RSS reuses that heap and this understates: see the Go heap and stack figures", h.prof.memN[0])
			}
			h.rep.Add(report.Row{Subject: s.name, Scenario: "memory per open stream", Level: fmt.Sprintf("N=%d slow (1 frame/%s)", n, h.prof.memInterval),
				Value: report.Ptr(perStream), Unit: "KiB/stream", Errors: o.errs, Note: note})
			if o.failed+o.incomplete == 0 && perStream > 0 {
				h.setFigure("memory", s.name, fmt.Sprintf("kib_per_stream_%d", n), perStream)
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	return nil
}

// loadRate is the background rate of the TTFT-under-load runs: 50% of the
// subject's saturation goodput from this run's saturation phase, else 50%
// of the rig ceiling, else a fixed 500 req/s; source says which.
func (h *harness) loadRate(s *subject) (rate float64, source string) {
	if sat, ok := h.figure("saturation", s.name, "rps"); ok && sat > 0 {
		return sat / 2, fmt.Sprintf("50%% of its saturation goodput (%.0f req/s)", sat)
	}
	if h.rigRPS > 0 {
		return h.rigRPS / 2, fmt.Sprintf("50%% of the rig ceiling (%.0f req/s): saturation not measured in this run", h.rigRPS)
	}
	return 500, "fixed 500 req/s: neither saturation nor the rig ceiling measured in this run"
}

// phaseSSELoad repeats the TTFT measurement under a background open-loop
// S1 load at 50% of the subject's saturation rate (METHOD.md §5, TTFT
// row). The direct baseline runs under the same background rate sent
// straight to the mock, so the mock and the load generator are as busy on
// both sides. It runs after the saturation phase, whose goodput it needs.
func (h *harness) phaseSSELoad(ctx context.Context) error {
	scenarios := sseScenarios()
	if h.prof.name != "full" {
		scenarios = scenarios[:1] // S3 only in the quick profile
	}
	for _, sc := range scenarios {
		for _, s := range h.proxySubjects() {
			if !s.serves(sc.id) || !s.serves(scenS1) {
				continue
			}
			if err := h.ttftUnderLoad(ctx, sc, s); err != nil {
				return err
			}
		}
	}
	return nil
}

func (h *harness) ttftUnderLoad(ctx context.Context, sc sseScenario, s *subject) error {
	rate, source := h.loadRate(s)
	sides := []*subject{h.direct, s}
	var (
		streams [2]target
		bgs     [2]target
		hist    = [2]*stats.Histogram{stats.NewHistogram(), stats.NewHistogram()}
		p50     [2][]float64
		p99     [2][]float64
		errs    [2]report.Errors
		bgOK    [2]int
		bgErrs  [2]report.Errors
		bgTime  [2]time.Duration
		bgLast  [2]string
	)
	s1 := chatBody(2048, false)
	for j, side := range sides {
		streams[j] = side.request(sc.shape, sc.body, streamKnobs(2, pacing), sc.scenario)
		bgs[j] = side.request(shapeChat, s1, instantKnobs(2048), "")
	}
	for round := range h.prof.ttftRounds {
		for k := range 2 {
			j := (k + round) % 2
			bgCtx, stop := context.WithCancel(ctx)
			done := make(chan run, 1)
			go func() {
				done <- attack(bgCtx, h.client, bgs[j], attackSpec{rate: rate, dur: 60 * time.Second, maxReq: int(rate * 60)})
			}()
			// Let the background load reach its rate before timing.
			time.Sleep(300 * time.Millisecond)
			rh := stats.NewHistogram()
			for range h.prof.ttftPerRound {
				tr, err := h.stream(ctx, streams[j], nil)
				switch {
				case err != nil:
					errs[j].Add(0)
				case tr.Status != http.StatusOK:
					errs[j].Add(tr.Status)
				case tr.FirstContent == 0:
					errs[j].Other++
				default:
					rh.Record(tr.FirstContent)
				}
			}
			stop()
			bg := <-done
			bgOK[j] += bg.ok
			bgTime[j] += bg.elapsed
			addErrors(&bgErrs[j], bg.errs)
			if bg.lastErr != "" {
				bgLast[j] = bg.lastErr
			}
			hist[j].Merge(rh)
			usable := rh.Count() == uint64(h.prof.ttftPerRound)
			p50[j] = append(p50[j], quantileUS(rh, 0.5, usable))
			p99[j] = append(p99[j], quantileUS(rh, 0.99, usable))
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	level := fmt.Sprintf("TTFT c1 under %.0f req/s S1 background", rate)
	for j, side := range sides {
		row := report.Row{
			Subject: side.name, Scenario: sc.id, Level: level, Offered: 1, Requests: int(hist[j].Count()) + errs[j].Total(),
			P50: us(hist[j].Quantile(0.5)), P99: us(hist[j].Quantile(0.99)), P999: us(hist[j].Quantile(0.999)),
			Errors: errs[j],
		}
		bgRPS := 0.0
		if bgTime[j] > 0 {
			bgRPS = float64(bgOK[j]) / bgTime[j].Seconds()
		}
		row.Note = fmt.Sprintf("background through %s at %s; background goodput %.0f req/s, errors %s; %d rounds x %d streams",
			side.name, source, bgRPS, bgErrs[j], h.prof.ttftRounds, h.prof.ttftPerRound)
		if bgLast[j] != "" {
			row.Note += "; last background error: " + truncate(bgLast[j], 120)
		}
		if side == h.direct {
			row.Level += " (baseline for " + s.name + ")"
		}
		if a50, a99, ok := added(p50[1], p50[0], p99[1], p99[0]); j == 1 && ok {
			row.AddedP50, row.AddedP99 = &a50, &a99
			h.setFigure(sc.id, s.name, "added_ttft_p50_loaded_us", a50.Median)
			if errs[1].Total() == 0 && errs[0].Total() == 0 {
				h.setFigure(sc.id, s.name, "added_ttft_p99_loaded_us", us(hist[1].Quantile(0.99))-us(hist[0].Quantile(0.99)))
			}
		}
		h.rep.Add(row)
	}
	return nil
}
