package main

import (
	"math"
	"os"
	"strconv"
	"time"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
)

// window measures one timed run: the subject's CPU, and the CPU that
// processes outside the benchmark took from the subject's core. On a shared
// machine the second number says how far the figures can be trusted.
type window struct {
	h       *harness
	subject int
	core    procstat.CoreTimes
	ours    map[int]time.Duration
	start   time.Time
	coreN   int
}

// subjectCorePids are our processes pinned to the subject core.
func (h *harness) subjectCorePids() []int {
	subjects := h.proxySubjects()
	pids := make([]int, 0, len(subjects))
	for _, s := range subjects {
		pids = append(pids, s.pid)
	}
	return pids
}

// openWindow starts measuring a run against the subject whose process is
// subjectPid. For the direct subject (the mock) the relevant core is the
// rig core, shared by the mock and the harness.
func (h *harness) openWindow(subjectPid int) *window {
	w := &window{h: h, subject: subjectPid, ours: map[int]time.Duration{}, start: time.Now(), coreN: coreNumber(coreSubject)}
	pids := append(h.subjectCorePids(), subjectPid)
	if subjectPid == h.mock.Pid() {
		w.coreN = coreNumber(coreRig)
		pids = []int{subjectPid, os.Getpid()}
	}
	for _, pid := range pids {
		if smp, err := procstat.Read(pid); err == nil {
			w.ours[pid] = smp.CPU
		}
	}
	w.core, _ = procstat.ReadCore(w.coreN)
	return w
}

func coreNumber(core string) int {
	n, _ := strconv.Atoi(core)
	return n
}

// windowResult is what a window saw.
type windowResult struct {
	wall       time.Duration
	subjectCPU time.Duration
	// foreign is CPU used on the subject core by other processes; NaN
	// when the run is not pinned (the core is not the subject's alone).
	foreign time.Duration
}

func (w *window) close() windowResult {
	r := windowResult{wall: time.Since(w.start)}
	var oursDelta time.Duration
	for pid, before := range w.ours {
		smp, err := procstat.Read(pid)
		if err != nil {
			continue
		}
		d := smp.CPU - before
		if pid == w.subject {
			r.subjectCPU = d
		}
		oursDelta += d
	}
	core, err := procstat.ReadCore(w.coreN)
	if err != nil || !w.h.l.pinned || w.core.Total == 0 {
		r.foreign = -1
		return r
	}
	r.foreign = max(core.Busy-w.core.Busy-oursDelta, 0)
	return r
}

// foreignPct is the foreign CPU in % of the core over the wall time (NaN
// when unknown).
func (r windowResult) foreignPct() float64 {
	if r.foreign < 0 || r.wall <= 0 {
		return math.NaN()
	}
	return min(100*float64(r.foreign)/float64(r.wall), 100)
}

// markContention fills the row's foreign CPU and flags it when another
// process took more than 10% of the subject core.
func markContention(row *report.Row, pct float64) {
	if math.IsNaN(pct) {
		return
	}
	row.ForeignPct = pct
	if pct > 10 {
		row.Flags = append(row.Flags, report.FlagContended)
	}
}
