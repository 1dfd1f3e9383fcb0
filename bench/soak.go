package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// S10 soak (METHOD.md §6): a constant mixed load against the first gantry
// subject for -soak, sampling RSS and goroutines, to catch leaks as a
// growth rate.
const (
	soakRate       = 200.0 // S1 req/s
	soakStreamGap  = 200 * time.Millisecond
	soakChunks     = 8
	soakRecoverGap = 10 * time.Second
	// soakLimitRate: a leak worth catching grows RSS by at least this
	// much. Retaining 100 bytes per S1 request at 200 req/s is 1.1
	// MiB/min; one leaked goroutine (≥ 8 KiB with its stack) per stream
	// at 5 streams/s is 2.3 MiB/min.
	soakLimitRate = 1.0 // MiB/min
	// soakLimitTotal: RSS moves in steps of a few MiB (heap growth, the
	// scavenger returning pages), which over a short window look like a
	// steep slope. A failure also needs this much growth over the
	// regression window, so `-soak 2m` does not fail on one step while a
	// 30-minute soak is held to soakLimitRate.
	soakLimitTotal = 5.0 // MiB
	// soakGoroutineSlack: goroutines after the load may exceed the
	// pre-load count by this much (timers, a connection being closed).
	soakGoroutineSlack = 10
	// upstreamPoolFrame marks the goroutines of gantry's idle upstream
	// connections (two per pooled connection, kept up to 90 s): not a leak.
	upstreamPoolFrame = "net/http.(*persistConn)"
)

// parseGoroutines reads a goroutine profile in the debug=1 text format and
// returns the total and the goroutines of pooled upstream connections.
func parseGoroutines(text string) (total, pool int) {
	for block := range strings.SplitSeq(text, "\n\n") {
		block = strings.TrimSpace(block)
		if rest, ok := strings.CutPrefix(block, "goroutine profile: total "); ok {
			// The header shares the first block with the first stack.
			f := strings.Fields(rest)
			if len(f) > 0 {
				total, _ = strconv.Atoi(f[0])
			}
			_, block, _ = strings.Cut(block, "\n")
		}
		f := strings.Fields(block)
		if len(f) < 2 || f[1] != "@" {
			continue
		}
		n, err := strconv.Atoi(f[0])
		if err == nil && strings.Contains(block, upstreamPoolFrame) {
			pool += n
		}
	}
	return total, pool
}

// goroutineSplit reads gantry's goroutine profile: the total and the
// goroutines of its idle upstream pool (0, 0 when unreadable).
func (g *gantryServer) goroutineSplit(ctx context.Context, c *http.Client) (total, pool int) {
	s, ok := g.pprofText(ctx, c, "/debug/pprof/goroutine?debug=1", 16<<20)
	if !ok {
		return 0, 0
	}
	return parseGoroutines(s)
}

// soakLimit is the growth limit (MiB/min) for a regression window.
func soakLimit(window time.Duration) float64 {
	return max(soakLimitRate, soakLimitTotal/window.Minutes())
}

// slope is the least-squares slope of y over x (NaN with fewer than two
// distinct x).
func slope(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return math.NaN()
	}
	var sx, sy, sxx, sxy float64
	for i := range x {
		sx += x[i]
		sy += y[i]
		sxx += x[i] * x[i]
		sxy += x[i] * y[i]
	}
	den := n*sxx - sx*sx
	if den == 0 {
		return math.NaN()
	}
	return (n*sxy - sx*sy) / den
}

// soakSample is one sample of the gateway process.
type soakSample struct {
	at         time.Duration // since the load started
	rssMiB     float64
	goroutines int
}

// phaseSoak holds S1 at soakRate and one S3 stream every soakStreamGap
// against the first gantry subject for cfg.soak.
func (h *harness) phaseSoak(ctx context.Context) error {
	gs := h.gantrySubjects()
	if len(gs) == 0 {
		h.rep.Note("soak: no gantry subject")
		return nil
	}
	s := gs[0]
	dur := h.cfg.soak
	before, counted := h.countBefore(ctx, s, "soak")
	pre, err := procstat.Read(s.pid)
	if err != nil {
		return err
	}
	preGoroutines, prePool := s.g.goroutineSplit(ctx, h.client)
	// A stream's content events include the tool call's deltas: take the
	// expected count from one stream straight to the mock.
	streamTarget := s.request(shapeMessages, messagesBody(8*1024, true, 4), streamKnobs(soakChunks, pacing), "tool")
	wantContent := soakChunks
	if tr, err := h.stream(ctx, h.direct.request(shapeMessages, messagesBody(8*1024, true, 4), streamKnobs(soakChunks, pacing), "tool"), nil); err == nil && tr.Status == http.StatusOK {
		wantContent = len(tr.Content)
	}
	interval := time.Second
	if dur > 10*time.Minute {
		interval = 5 * time.Second
	}

	start := time.Now()
	var (
		mu            sync.Mutex
		samples       []soakSample
		heapMid, heap int64
		wg            sync.WaitGroup
		streamOK      int
		streamErrs    report.Errors
		streamLast    string
		s1            run
	)
	loadCtx, stopLoad := context.WithTimeout(ctx, dur)
	defer stopLoad()
	win := h.openWindow(s.pid)
	// Sampler: RSS and goroutines every interval; the live Go heap (after
	// a forced GC) at the start of the second half and at the end.
	wg.Go(func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		midDone := false
		for {
			select {
			case <-loadCtx.Done():
				heap, _ = s.g.memStats(ctx, h.client)
				return
			case <-t.C:
			}
			at := time.Since(start)
			smp, err := procstat.Read(s.pid)
			if err != nil {
				continue
			}
			gr := s.g.goroutines(ctx, h.client)
			if !midDone && at >= dur/2 {
				heapMid, _ = s.g.memStats(ctx, h.client)
				midDone = true
			}
			mu.Lock()
			samples = append(samples, soakSample{at: at, rssMiB: mib(smp.RSSBytes), goroutines: gr})
			mu.Unlock()
		}
	})
	wg.Go(func() {
		tg := s.request(shapeChat, chatBody(2048, false), instantKnobs(2048), "")
		s1 = attack(loadCtx, h.client, tg, attackSpec{rate: soakRate, dur: dur, maxReq: int(soakRate * dur.Seconds())})
	})
	var streams sync.WaitGroup
	tick := time.NewTicker(soakStreamGap)
	for n := 0; n < int(dur/soakStreamGap); n++ {
		select {
		case <-loadCtx.Done():
		case <-tick.C:
			streams.Go(func() {
				tr, err := h.stream(ctx, streamTarget, nil)
				mu.Lock()
				defer mu.Unlock()
				switch {
				case err != nil:
					streamErrs.Add(0)
					streamLast = err.Error()
				case tr.Status != http.StatusOK:
					streamErrs.Add(tr.Status)
					streamLast = fmt.Sprintf("status %d", tr.Status)
				case len(tr.Content) != wantContent:
					streamErrs.Other++
					streamLast = fmt.Sprintf("%d of %d content events", len(tr.Content), wantContent)
				default:
					streamOK++
				}
			})
			continue
		}
		break
	}
	tick.Stop()
	streams.Wait()
	stopLoad()
	wg.Wait()
	loadWall := time.Since(start)
	wr := win.close()

	// Recovered: soakRecoverGap after the load, as for the other phases.
	// Our idle keep-alive connections would each hold a gantry goroutine
	// (and look like a leak): close them first.
	h.client.CloseIdleConnections()
	h.streamClient.CloseIdleConnections()
	select {
	case <-time.After(soakRecoverGap):
	case <-ctx.Done():
		return ctx.Err()
	}
	rec, _ := procstat.Read(s.pid)
	recGoroutines, recPool := s.g.goroutineSplit(ctx, h.client)

	// Linear regression over the second half.
	var xs, rss, grs, all []float64
	peak := 0.0
	for _, smp := range samples {
		peak = max(peak, smp.rssMiB)
		if smp.at >= dur/2 {
			xs = append(xs, smp.at.Minutes())
			rss = append(rss, smp.rssMiB)
			grs = append(grs, float64(smp.goroutines))
			all = append(all, smp.rssMiB)
		}
	}
	growth := slope(xs, rss)
	grSlope := slope(xs, grs)
	steady := stats.Summarize(all).Median
	window := dur - dur/2
	limit := soakLimit(window)

	load := rowFromRun(s.name, "S10 soak", fmt.Sprintf("%s: S1 %.0f req/s + S3 stream every %s", dur, soakRate, soakStreamGap), soakRate, s1)
	addErrors(&load.Errors, streamErrs)
	load.Requests += streamOK + streamErrs.Total()
	load.RSSIdle, load.RSSPeak, load.RSSRecov = s.idleRSS, peak, mib(rec.RSSBytes)
	load.Note = fmt.Sprintf("latency columns: S1 only; %d streams ok (%d content events each); load ran %s", streamOK, wantContent, loadWall.Round(time.Second))
	markContention(&load, wr.foreignPct())
	if wr.wall > 0 {
		load.CPUPct = 100 * float64(wr.subjectCPU) / float64(wr.wall)
	}
	if s1.lastErr != "" || streamLast != "" {
		load.Note += "; last errors: " + truncate(s1.lastErr, 80) + " / " + truncate(streamLast, 80)
	}
	h.rep.Add(load)
	note := fmt.Sprintf("RSS: idle %.1f MiB (after start-up), %.1f before the soak, steady %.1f (median of the second half), peak %.1f, recovered %.1f (%s after); "+
		"goroutines %d before (%d of them idle upstream connections), %+.1f/min over the second half, %d recovered (%d idle upstream); %d samples every %s in the regression window",
		s.idleRSS, mib(pre.RSSBytes), steady, peak, mib(rec.RSSBytes), soakRecoverGap, preGoroutines, prePool, grSlope, recGoroutines, recPool, len(xs), interval)
	if heapMid > 0 && heap > 0 {
		note += fmt.Sprintf("; live Go heap (after GC) %.1f -> %.1f MiB over the second half (%+.2f MiB/min)",
			mib(heapMid), mib(heap), (mib(heap)-mib(heapMid))/window.Minutes())
	}
	h.rep.Add(report.Row{Subject: s.name, Scenario: "S10 soak", Level: "RSS growth, second half (linear regression)",
		Value: report.Ptr(growth), Unit: "MiB/min", RSSIdle: s.idleRSS, RSSPeak: peak, RSSRecov: mib(rec.RSSBytes), Note: note})
	h.setFigure("soak", s.name, "rss_growth_mib_per_min", growth)
	h.rep.Check(fmt.Sprintf("soak: RSS growth <= %.1f MiB/min over the second half (%s)", limit, s.name), !math.IsNaN(growth) && growth <= limit,
		fmt.Sprintf("%+.2f MiB/min over %s (%d samples); goroutines %+.1f/min in the same window, foreign CPU on gantry's core %.0f%% "+
			"(latency spikes widen the connection pools, which a short soak sees as growth; the pools are bounded and idle out)",
			growth, window, len(xs), grSlope, wr.foreignPct()))
	h.rep.Check(fmt.Sprintf("soak: goroutines back to the pre-load count (+%d) after the load, idle upstream pool aside (%s)", soakGoroutineSlack, s.name),
		recGoroutines > 0 && recGoroutines-recPool <= preGoroutines-prePool+soakGoroutineSlack,
		fmt.Sprintf("%d before, %d %s after (idle upstream connections' goroutines: %d before, %d after, not counted)",
			preGoroutines-prePool, recGoroutines-recPool, soakRecoverGap, prePool, recPool))
	if counted {
		h.checkRecords(ctx, s, "soak", before, s1.ok+streamOK)
	}
	return nil
}
