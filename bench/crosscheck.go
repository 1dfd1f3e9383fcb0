package main

import (
	"bytes"
	"context"
	"debug/buildinfo"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"gantry/bench/internal/report"
)

// The closed-loop cross-check (METHOD.md §4): bombardier, a load generator
// that is not ours, drives the S1 chat 2 KB request with a fixed number of
// connections as fast as the subject answers, for raw maximum RPS only. The
// binary is installed at run time by scripts/install-bombardier.sh into
// .tools/bin and passed with -bombardier; gantry's go.mod never requires
// it. It runs on the rig core like the harness, and the harness waits
// while it runs.

const (
	bombardierModule  = "github.com/codesenberg/bombardier"
	bombardierVersion = "v1.2.6"
	// bombardierTimeout is its per-request timeout; long enough that a
	// queued request is never abandoned (an abandoned one may still be
	// recorded by gantry, which would break records = successes).
	bombardierTimeout = 10 * time.Second
)

// bombardierStatus checks that path is bombardier at the pinned version,
// from the module build info go install embeds, and returns the
// environment header value.
func bombardierStatus(path string) (string, error) {
	if path == "" {
		return "not requested (-bombardier)", nil
	}
	bi, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("%s: %w (scripts/install-bombardier.sh)", path, err)
	}
	if bi.Main.Path != bombardierModule {
		return "", fmt.Errorf("%s is %q, not %s", path, bi.Main.Path, bombardierModule)
	}
	if bi.Main.Version != bombardierVersion {
		return "", fmt.Errorf("%s is %s, want %s (scripts/install-bombardier.sh)", path, bi.Main.Version, bombardierVersion)
	}
	return bi.Main.Version + " (" + path + ")", nil
}

// crosscheckPlan is the connection counts and the duration of each run.
func crosscheckPlan(profile string) ([]int, time.Duration) {
	if profile == "full" {
		return []int{32, 128}, 10 * time.Second
	}
	return []int{32, 128}, 3 * time.Second
}

// bombardierArgv is bombardier's command line for tg: conns connections for
// dur, the body read from bodyFile, JSON result only, latency percentiles
// on. Headers go in sorted order so the command line is reproducible.
func bombardierArgv(bin string, conns int, dur time.Duration, tg target, bodyFile string) []string {
	argv := []string{
		bin,
		"--connections=" + strconv.Itoa(conns),
		"--duration=" + dur.String(),
		"--timeout=" + bombardierTimeout.String(),
		"--latencies",
		"--method=" + tg.method,
		"--format=json",
		"--print=result",
	}
	if bodyFile != "" {
		argv = append(argv, "--body-file="+bodyFile)
	}
	keys := make([]string, 0, len(tg.header))
	for k := range tg.header {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range tg.header[k] {
			argv = append(argv, "--header="+k+": "+v)
		}
	}
	return append(argv, tg.url)
}

// bombardierResult is the part of bombardier's JSON result (--format=json)
// the cross-check reads. Latencies are in microseconds; the req/s figures
// are over its sampling intervals (about 20 ms).
type bombardierResult struct {
	Result struct {
		TimeTakenSeconds float64 `json:"timeTakenSeconds"`
		Req1xx           int     `json:"req1xx"`
		Req2xx           int     `json:"req2xx"`
		Req3xx           int     `json:"req3xx"`
		Req4xx           int     `json:"req4xx"`
		Req5xx           int     `json:"req5xx"`
		// Others counts requests without a status: transport errors.
		Others int `json:"others"`
		Errors []struct {
			Description string `json:"description"`
			Count       int    `json:"count"`
		} `json:"errors"`
		Latency struct {
			Mean        float64            `json:"mean"`
			Max         float64            `json:"max"`
			Percentiles map[string]float64 `json:"percentiles"`
		} `json:"latency"`
		RPS struct {
			Mean float64 `json:"mean"`
			Max  float64 `json:"max"`
		} `json:"rps"`
	} `json:"result"`
}

// parseBombardier decodes bombardier's output: one JSON object, possibly
// after other lines.
func parseBombardier(out []byte) (bombardierResult, error) {
	var r bombardierResult
	i := bytes.IndexByte(out, '{')
	if i < 0 {
		return r, fmt.Errorf("no JSON in bombardier output: %q", truncate(string(out), 200))
	}
	if err := json.Unmarshal(bytes.TrimSpace(out[i:]), &r); err != nil {
		return r, fmt.Errorf("bombardier output: %w", err)
	}
	if r.Result.TimeTakenSeconds <= 0 {
		return r, errors.New("bombardier output: no timeTakenSeconds")
	}
	return r, nil
}

// total is the number of requests bombardier completed.
func (b bombardierResult) total() int {
	r := b.Result
	return r.Req1xx + r.Req2xx + r.Req3xx + r.Req4xx + r.Req5xx + r.Others
}

// goodput is 2xx answers per second over the whole run.
func (b bombardierResult) goodput() float64 {
	return float64(b.Result.Req2xx) / b.Result.TimeTakenSeconds
}

// errs classifies everything but a 2xx as an error.
func (b bombardierResult) errs() report.Errors {
	r := b.Result
	return report.Errors{Status4xx: r.Req4xx, Status5xx: r.Req5xx, Other: r.Req1xx + r.Req3xx, Transport: r.Others}
}

// row turns a run into a report row: rps is the goodput, the latency
// columns are bombardier's percentiles (it has no p99.9).
func (b bombardierResult) row(subject string, conns int) report.Row {
	r := b.Result
	row := report.Row{
		Subject: subject, Scenario: fmt.Sprintf("S1 max RPS (bombardier, closed loop c%d)", conns),
		Level: fmt.Sprintf("c%d x %.0fs", conns, r.TimeTakenSeconds), Offered: float64(conns),
		Requests: b.total(), RPS: b.goodput(),
		P50: r.Latency.Percentiles["50"], P99: r.Latency.Percentiles["99"],
		Errors: b.errs(),
	}
	row.Note = fmt.Sprintf("bombardier req/s mean %.0f, max %.0f (20 ms samples); latency mean %.0f us, max %.0f us",
		r.RPS.Mean, r.RPS.Max, r.Latency.Mean, r.Latency.Max)
	if len(r.Errors) > 0 {
		parts := make([]string, 0, len(r.Errors))
		for _, e := range r.Errors {
			parts = append(parts, fmt.Sprintf("%s x%d", e.Description, e.Count))
		}
		row.Note += "; errors: " + truncate(strings.Join(parts, ", "), 200)
	}
	return row
}

// checkBombardier fills the environment header and remembers a usable
// binary; an unusable one leaves the rest of the run unchanged.
func (h *harness) checkBombardier() {
	status, err := bombardierStatus(h.cfg.bombardier)
	if err != nil {
		h.rep.Env("bombardier", "unavailable ("+err.Error()+")")
		h.rep.Note("crosscheck: not measured: %v", err)
		return
	}
	h.rep.Env("bombardier", status)
	if h.cfg.bombardier != "" {
		h.bombardier = h.cfg.bombardier
	}
}

// runBombardier runs one bombardier on the rig core and parses its result.
func (h *harness) runBombardier(ctx context.Context, conns int, dur time.Duration, tg target, bodyFile string) (bombardierResult, error) {
	ctx, cancel := context.WithTimeout(ctx, dur+bombardierTimeout+30*time.Second)
	defer cancel()
	argv := bombardierArgv(h.bombardier, conns, dur, tg, bodyFile)
	if h.l.pinned {
		argv = append([]string{"taskset", "-c", coreRig}, argv...)
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+h.l.gomaxprocs)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return bombardierResult{}, fmt.Errorf("bombardier c%d: %w: %s", conns, err, truncate(strings.TrimSpace(stderr.String()+" "+stdout.String()), 300))
	}
	return parseBombardier(stdout.Bytes())
}

// phaseCrosscheck measures each subject's raw maximum RPS with bombardier:
// the rig (direct to the mock), then every proxy subject serving S1. On
// gantry subjects the records = successes check covers its requests, so
// the later phases' counts start from settled totals as always.
func (h *harness) phaseCrosscheck(ctx context.Context) error {
	if h.bombardier == "" {
		return nil
	}
	conns, dur := crosscheckPlan(h.prof.name)
	bodyFile := filepath.Join(h.tmp, "crosscheck-s1.json")
	if err := os.WriteFile(bodyFile, chatBody(2048, false), 0o600); err != nil {
		return err
	}
	for _, s := range h.subjects {
		if !s.serves(scenS1) {
			continue
		}
		if err := h.crosscheckSubject(ctx, s, conns, dur, bodyFile); err != nil {
			// The other subjects are still measured.
			h.rep.Check("phase crosscheck ("+s.name+")", false, err.Error())
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	return nil
}

// crosscheckSubject runs a warm-up then each connection count against s.
func (h *harness) crosscheckSubject(ctx context.Context, s *subject, conns []int, dur time.Duration, bodyFile string) error {
	tg := s.request(shapeChat, nil, instantKnobs(2048), "")
	before, counted := h.countBefore(ctx, s, "crosscheck")
	// Warm-up: connections open, the recorder at its steady batch size.
	warm, err := h.runBombardier(ctx, conns[0], time.Second, tg, bodyFile)
	if err != nil {
		return err
	}
	ok := warm.Result.Req2xx
	for _, c := range conns {
		w := h.openWindow(s.pid)
		res, err := h.runBombardier(ctx, c, dur, tg, bodyFile)
		wr := w.close()
		if err != nil {
			return err
		}
		ok += res.Result.Req2xx
		h.addCrosscheckRow(s, c, res, wr)
	}
	if counted {
		h.checkRecords(ctx, s, "crosscheck", before, ok)
	}
	return nil
}

// addCrosscheckRow reports one run next to the open-loop figure of the same
// subject from this run: the rig ceiling for direct, the saturation
// goodput for the others.
func (h *harness) addCrosscheckRow(s *subject, conns int, res bombardierResult, wr windowResult) {
	row := res.row(s.name, conns)
	if wr.wall > 0 {
		row.CPUPct = 100 * float64(wr.subjectCPU) / float64(wr.wall)
	}
	if s == h.direct {
		if h.rigRPS > 0 {
			row.Note += fmt.Sprintf("; vegeta closed loop c32 (rig): %.0f req/s, bombardier/vegeta %.2f", h.rigRPS, row.RPS/h.rigRPS)
		}
		row.Note += "; cpu_pct = mock"
		h.rep.Rig(row)
		return
	}
	// bombardier shares the rig core with the mock, so only the subject
	// core is checked for other processes.
	foreign := wr.foreignPct()
	markContention(&row, foreign)
	if h.l.pinned && row.CPUPct < 70 && !(foreign > 10) {
		row.Flags = append(row.Flags, report.FlagRigBound)
	}
	if sat, ok := h.figure("saturation", s.name, "rps"); ok && sat > 0 {
		row.Note += fmt.Sprintf("; open-loop saturation (this run): %.0f req/s, bombardier/open loop %.2f", sat, row.RPS/sat)
		if top := h.prof.ladder[len(h.prof.ladder)-1]; sat >= 0.9*top {
			row.Note += fmt.Sprintf(" (the ladder's top rung, %.0f req/s, passed: a lower bound)", top)
		}
	} else {
		row.Note += "; open-loop saturation not run"
	}
	h.setFigure("crosscheck", s.name, fmt.Sprintf("rps_c%d", conns), row.RPS)
	h.rep.Add(row)
}
