package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// apiSubject is a server measured on the General API.
type apiSubject struct {
	name   string
	url    string
	token  string
	userID string
	pid    int // 0 for a -reference-url server (not ours to sample)
}

// phaseAPI measures GET /api/v2/buildinfo (anonymous) and GET
// /api/v2/users/me (authenticated) at fixed concurrency, closed loop,
// interleaving the subjects (METHOD.md §11).
func (h *harness) phaseAPI(ctx context.Context) error {
	var subjects []apiSubject
	servers := map[string]*gantryServer{}
	for _, s := range h.gantrySubjects() {
		subjects = append(subjects, apiSubject{name: s.name, url: s.g.url, token: s.g.token, userID: s.g.userID, pid: s.pid})
		servers[s.name] = s.g
	}
	if ref := h.reference(ctx); ref != nil {
		subjects = append(subjects, *ref)
	}
	if len(subjects) == 0 {
		return fmt.Errorf("no General API subject is running")
	}
	type key struct {
		subject, endpoint string
		level             int
	}
	type acc struct {
		hist *stats.Histogram
		rps  []float64
		errs report.Errors
		ok   int
		cpu  time.Duration
		// foreign CPU on the subject core and wall time, summed.
		foreign, wall time.Duration
	}
	accs := map[key]*acc{}
	endpoints := []string{"buildinfo", "users/me"}
	for rep := range h.prof.apiReps {
		for _, level := range h.prof.apiLevels {
			for _, ep := range endpoints {
				for k := range subjects {
					s := subjects[(k+rep)%len(subjects)]
					tg, validate := s.apiTarget(ep)
					spec := attackSpec{workers: level, dur: h.prof.apiWarm, maxReq: 1_000_000}
					_ = attack(ctx, h.client, tg, spec)
					spec.dur, spec.validate = h.prof.apiDur, validate
					var w *window
					if s.pid != 0 {
						w = h.openWindow(s.pid)
					}
					r := attack(ctx, h.client, tg, spec)
					kk := key{s.name, ep, level}
					a := accs[kk]
					if a == nil {
						a = &acc{hist: stats.NewHistogram()}
						accs[kk] = a
					}
					if w != nil {
						wr := w.close()
						a.cpu += wr.subjectCPU
						a.foreign += wr.foreign
						a.wall += wr.wall
					}
					a.hist.Merge(r.hist)
					a.rps = append(a.rps, r.rps())
					a.ok += r.ok
					a.errs.Transport += r.errs.Transport
					a.errs.Rig += r.errs.Rig
					a.errs.Status4xx += r.errs.Status4xx
					a.errs.Status429 += r.errs.Status429
					a.errs.Status5xx += r.errs.Status5xx
					a.errs.Other += r.errs.Other
					if r.errs.Total() > 0 {
						h.progress("api %s %s c%d: %d errors, last: %s", s.name, ep, level, r.errs.Total(), r.lastErr)
					}
					if ctx.Err() != nil {
						return ctx.Err()
					}
				}
			}
		}
	}
	for _, s := range subjects {
		if g := servers[s.name]; g != nil {
			tg, validate := s.apiTarget("users/me")
			h.profileUnder(ctx, g, tg, attackSpec{workers: 16, validate: validate}, "users-me-c16")
		}
	}
	allOK := true
	for _, s := range subjects {
		for _, ep := range endpoints {
			for _, level := range h.prof.apiLevels {
				a := accs[key{s.name, ep, level}]
				if a == nil {
					continue
				}
				sp := stats.Summarize(a.rps)
				row := report.Row{
					Subject: s.name, Scenario: "GET /api/v2/" + ep, Level: fmt.Sprintf("c%d", level), Offered: float64(level),
					Requests: a.ok + a.errs.Total(), RPS: sp.Median,
					P50: us(a.hist.Quantile(0.5)), P99: us(a.hist.Quantile(0.99)), P999: us(a.hist.Quantile(0.999)),
					Errors: a.errs, Note: fmt.Sprintf("closed loop; rps = median of %d reps (IQR %.0f)", sp.N, sp.IQR),
				}
				if s.pid != 0 && a.ok > 0 {
					row.CPUPer1k = float64(a.cpu) / float64(time.Millisecond) / float64(a.ok) * 1000
					markContention(&row, windowResult{wall: a.wall, foreign: a.foreign}.foreignPct())
				}
				if a.errs.Status429 > 0 {
					row.Flags = append(row.Flags, report.FlagRateLimited)
				}
				if a.errs.Total() > 0 {
					allOK = false
				}
				h.rep.Add(row)
				h.setFigure("api "+ep, s.name, fmt.Sprintf("rps_c%d", level), sp.Median)
			}
		}
	}
	h.rep.Check("all General API responses 200 with JSON content type, X-Coder-Build-Version and the caller's id", allOK, "")
	return nil
}

// apiTarget returns the request and its validation for an endpoint.
func (s apiSubject) apiTarget(ep string) (target, func(*vegeta.Result) bool) {
	hd := http.Header{}
	hd.Set("Accept", "application/json")
	base := func(r *vegeta.Result) bool {
		return r.Code == http.StatusOK &&
			strings.HasPrefix(r.Headers.Get("Content-Type"), "application/json") &&
			r.Headers.Get("X-Coder-Build-Version") != ""
	}
	if ep == "users/me" {
		hd.Set("Coder-Session-Token", s.token)
		id := []byte(`"id":"` + s.userID + `"`)
		return target{method: http.MethodGet, url: s.url + "/api/v2/users/me", header: hd},
			func(r *vegeta.Result) bool { return base(r) && bytes.Contains(r.Body, id) }
	}
	return target{method: http.MethodGet, url: s.url + "/api/v2/buildinfo", header: hd}, base
}

// reference logs in to the reference the bench started (-reference-bin) or
// to the -reference-url server, or reports it unavailable.
func (h *harness) reference(ctx context.Context) *apiSubject {
	if h.cfg.refBin != "" {
		// startReference has already set the header line.
		return h.referenceSubject(ctx)
	}
	if h.cfg.refURL == "" {
		h.rep.Env("reference", "unavailable")
		h.rep.Note("reference: unavailable (no -reference-bin or -reference-url)")
		return nil
	}
	var bi struct {
		Version string `json:"version"`
	}
	url := strings.TrimRight(h.cfg.refURL, "/")
	if err := apiCall(ctx, h.client, http.MethodGet, url+"/api/v2/buildinfo", "", nil, http.StatusOK, &bi); err != nil {
		h.rep.Env("reference", "unavailable")
		h.rep.Note("reference: unavailable (%v)", err)
		return nil
	}
	tok, id, err := login(ctx, h.client, url, h.cfg.refEmail, benchUsername, h.cfg.refPassword)
	if err != nil {
		h.rep.Env("reference", "unavailable")
		h.rep.Note("reference: unavailable (login: %v)", err)
		return nil
	}
	h.rep.Env("reference", bi.Version+" at "+url)
	return &apiSubject{name: "reference", url: url, token: tok, userID: id}
}

// recovered samples each subject's RSS after a quiet period following the
// load (METHOD.md §11: recovered RSS).
func (h *harness) recovered(ctx context.Context) {
	if len(h.gantrySubjects()) == 0 && h.ref == nil {
		return
	}
	select {
	case <-time.After(h.prof.idleWait):
	case <-ctx.Done():
		return
	}
	h.referenceRecovered(ctx)
	for _, s := range h.proxySubjects() {
		smp, err := procstat.Read(s.pid)
		if err != nil {
			continue
		}
		h.rep.Add(report.Row{Subject: s.name, Scenario: "rss recovered", Level: fmt.Sprintf("%s after the last load", h.prof.idleWait),
			Value: report.Ptr(mib(smp.RSSBytes)), Unit: "MiB", Note: fmt.Sprintf("idle at start %.1f MiB", s.idleRSS)})
	}
}
