package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"gantry/bench/internal/procstat"
	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// The reference server (METHOD.md §11) is a stock Coder binary the bench
// starts itself with -reference-bin, on its own PostgreSQL database
// (-reference-postgres-url). It is only ever run as a separate process:
// nothing of it is linked into the bench or gantry.

// referenceServer is the running reference the api phase measures.
type referenceServer struct {
	proc    *proc
	url     string
	version string
	// idleRSS of the server process in MiB, 10 s after healthz.
	idleRSS float64
	// stopped between its idle sample and the api phase, which restarts
	// bin on dbURL with dir.
	stopped         bool
	bin, dbURL, dir string
}

// refStartLimit bounds one start of the reference: a cold start runs all of
// Coder's migrations, which takes seconds on a busy two-core box.
const refStartLimit = 3 * time.Minute

// refStopGrace is how long the reference gets to shut down on SIGTERM.
const refStopGrace = 15 * time.Second

// startReference measures the reference's start-up (when the startup phase
// runs) and starts the instance the api phase measures (when it runs). On
// failure the reference is reported unavailable, with the reason, and the
// run goes on with gantry alone; the failed check makes the exit status
// non-zero because the reference was asked for explicitly.
func (h *harness) startReference(ctx context.Context) {
	err := h.runReference(ctx)
	if err != nil {
		h.refErr = err
		h.rep.Env("reference", "unavailable")
		h.rep.Note("reference: unavailable (%v)", err)
		h.rep.Check("reference server started", false, err.Error())
		return
	}
	h.rep.Env("reference", h.ref.version+" (-reference-bin, started by the bench)")
}

func (h *harness) runReference(ctx context.Context) error {
	bin := h.cfg.refBin
	if st, err := os.Stat(bin); err != nil {
		return fmt.Errorf("-reference-bin: %w (build it with scripts/build-reference.sh)", err)
	} else if st.IsDir() || st.Mode()&0o111 == 0 {
		return fmt.Errorf("-reference-bin %s is not an executable file", bin)
	}
	if h.cfg.refPostgresURL == "" {
		return errors.New("-reference-bin needs -reference-postgres-url (a database the bench may drop and create)")
	}
	db, err := newRefDB(h.cfg.refPostgresURL, h.cfg.postgresURL)
	if err != nil {
		return err
	}
	dir := filepath.Join(h.tmp, "reference")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if h.cfg.phaseEnabled("startup") {
		if err := h.referenceStartup(ctx, db, dir); err != nil {
			return fmt.Errorf("startup: %w", err)
		}
	}
	if !h.cfg.phaseEnabled("api") {
		// The header still wants the version: ask a short-lived instance.
		if err := db.reset(ctx); err != nil {
			return err
		}
		r, _, err := h.l.startReference(ctx, bin, db.url, dir)
		if err != nil {
			return err
		}
		defer r.proc.stop(refStopGrace)
		h.ref = &referenceServer{version: r.version}
		return nil
	}
	// The measured instance starts on an empty database, like the gantry
	// subjects start on an empty directory.
	if err := db.reset(ctx); err != nil {
		return err
	}
	r, _, err := h.l.startReference(ctx, bin, db.url, dir)
	if err != nil {
		return err
	}
	h.ref = r
	// Idle RSS before the first user, as for gantry.
	select {
	case <-time.After(h.prof.idleWait):
	case <-ctx.Done():
		return ctx.Err()
	}
	smp, err := procstat.Read(r.proc.Pid())
	if err != nil {
		return fmt.Errorf("idle RSS: %w", err)
	}
	r.idleRSS = mib(smp.RSSBytes)
	h.setFigure("idle", "reference", "rss_mib", r.idleRSS)
	h.rep.Add(report.Row{Subject: "reference", Scenario: "idle-rss", Level: "10s after healthz, no traffic", Value: report.Ptr(r.idleRSS), Unit: "MiB"})
	h.addPostgresRSS(ctx, db, "idle-rss", "10s after healthz, no traffic")
	// The reference shares the subject core (core 1) and is not idle when
	// idle (background jobs): end it until the api phase, which restarts it
	// on the same, migrated database (a warm start), so it takes no CPU from
	// the gateway phases that run first. (Stopping it with SIGSTOP instead
	// was tried: after the 20 minutes of the full profile's gateway phases
	// it did not survive the resume.)
	r.proc.stop(refStopGrace)
	r.stopped = true
	r.bin, r.dbURL, r.dir = bin, db.url, dir
	return nil
}

// resumeReference starts the reference again for the api phase when it was
// ended after its idle sample.
func (h *harness) resumeReference(ctx context.Context) error {
	r := h.ref
	if r == nil || !r.stopped {
		return nil
	}
	nr, _, err := h.l.startReference(ctx, r.bin, r.dbURL, r.dir)
	if err != nil {
		return err
	}
	r.proc, r.url, r.stopped = nr.proc, nr.url, false
	return nil
}

// referenceStartup measures exec -> first 200 on /healthz of the reference,
// cold (empty database: every migration runs) and warm (restart on the
// migrated database), median of prof.startups each.
func (h *harness) referenceStartup(ctx context.Context, db *refDB, dir string) error {
	h.progress("reference startup (%d cold, %d warm)", h.prof.startups, h.prof.startups)
	var cold, warm []float64
	for range h.prof.startups {
		if err := db.reset(ctx); err != nil {
			return err
		}
		r, d, err := h.l.startReference(ctx, h.cfg.refBin, db.url, dir)
		if err != nil {
			return fmt.Errorf("cold: %w", err)
		}
		cold = append(cold, float64(d)/float64(time.Millisecond))
		r.proc.stop(refStopGrace)
	}
	for range h.prof.startups {
		r, d, err := h.l.startReference(ctx, h.cfg.refBin, db.url, dir)
		if err != nil {
			return fmt.Errorf("warm: %w", err)
		}
		warm = append(warm, float64(d)/float64(time.Millisecond))
		r.proc.stop(refStopGrace)
	}
	for _, m := range []struct {
		level, key string
		v          []float64
	}{{"cold (empty database)", "cold_ms", cold}, {"warm (restart)", "warm_ms", warm}} {
		sp := stats.Summarize(m.v)
		h.setFigure("startup", "reference", m.key, sp.Median)
		h.rep.Add(report.Row{Subject: "reference", Scenario: "startup-to-healthz", Level: m.level,
			Value: report.Ptr(sp.Median), Unit: "ms", Note: fmt.Sprintf("median of %d, IQR %.1f ms, 10 ms polling", sp.N, sp.IQR)})
	}
	return nil
}

// startReference execs `coder server` on the subject core, the way
// startGantry does for gantry, and waits for the first 200 on /healthz.
func (l *launcher) startReference(ctx context.Context, bin, pgURL, dir string) (*referenceServer, time.Duration, error) {
	port, err := freePort(ctx)
	if err != nil {
		return nil, 0, err
	}
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	p, err := l.start("reference", coreSubject, referenceArgv(bin, port, pgURL, dir), nil, nil)
	if err != nil {
		return nil, 0, err
	}
	startup, err := waitHealthy(ctx, p, base+"/healthz", refStartLimit)
	if err != nil {
		p.stop(refStopGrace)
		return nil, 0, err
	}
	r := &referenceServer{proc: p, url: base}
	var bi struct {
		Version string `json:"version"`
	}
	if err := apiCall(ctx, newClient(10*time.Second), http.MethodGet, base+"/api/v2/buildinfo", "", nil, http.StatusOK, &bi); err != nil {
		p.stop(refStopGrace)
		return nil, 0, err
	}
	r.version = bi.Version
	return r, startup, nil
}

// referenceArgv is the reference's command line: the METHOD.md §11 flags,
// and what it needs to start offline and leave nothing outside dir.
// Provisioner daemons are off (they would look for or download terraform),
// as in the run that produced ../shared/spec/reference-v2.36.1.
func referenceArgv(bin string, port int, pgURL, dir string) []string {
	base := "http://127.0.0.1:" + strconv.Itoa(port)
	return []string{
		bin, "server",
		"--global-config", filepath.Join(dir, "config"),
		"--http-address", "127.0.0.1:" + strconv.Itoa(port),
		"--access-url", base,
		"--postgres-url", pgURL,
		"--telemetry=false",
		"--update-check=false",
		"--dangerous-disable-rate-limits",
		"--provisioner-daemons=0",
		"--cache-dir", filepath.Join(dir, "cache"),
	}
}

// stopReference ends the measured reference, if one runs.
func (h *harness) stopReference() {
	if h.ref != nil && h.ref.proc != nil && !h.ref.stopped {
		h.ref.proc.stop(refStopGrace)
	}
}

// referenceSubject returns the started reference as an api subject, logged
// in as the first user, or nil (with the reason reported).
func (h *harness) referenceSubject(ctx context.Context) *apiSubject {
	if h.ref == nil || h.ref.proc == nil {
		if h.refErr == nil {
			h.rep.Note("reference: unavailable (not started)")
		}
		return nil
	}
	if err := h.resumeReference(ctx); err != nil {
		h.rep.Note("reference: unavailable (restart for the api phase: %v)", err)
		h.rep.Check("reference server restarted for the api phase", false, err.Error())
		return nil
	}
	tok, id, err := login(ctx, h.client, h.ref.url, h.cfg.refEmail, benchUsername, h.cfg.refPassword)
	if err != nil {
		h.rep.Note("reference: unavailable (login: %v)", err)
		h.rep.Check("reference server login", false, err.Error())
		return nil
	}
	return &apiSubject{name: "reference", url: h.ref.url, token: tok, userID: id, pid: h.ref.proc.Pid()}
}

// referenceRecovered samples the reference and its PostgreSQL after the
// quiet period that follows the load.
func (h *harness) referenceRecovered(ctx context.Context) {
	if h.ref == nil || h.ref.proc == nil || h.ref.proc.exited() {
		return
	}
	smp, err := procstat.Read(h.ref.proc.Pid())
	if err != nil {
		return
	}
	level := fmt.Sprintf("%s after the last load", h.prof.idleWait)
	h.rep.Add(report.Row{Subject: "reference", Scenario: "rss recovered", Level: level,
		Value: report.Ptr(mib(smp.RSSBytes)), Unit: "MiB", Note: fmt.Sprintf("idle at start %.1f MiB", h.ref.idleRSS)})
	if db, err := newRefDB(h.cfg.refPostgresURL, h.cfg.postgresURL); err == nil {
		h.addPostgresRSS(ctx, db, "rss recovered", level)
	}
}

// addPostgresRSS reports the reference's PostgreSQL on its own line: the
// VmRSS summed over the backends connected to the reference's database
// (pg_stat_activity), with their PSS (shared buffers divided among the
// processes mapping them) and the whole server's RSS (every database, so
// other users of the server too) in the note. It needs the server on this
// machine, since it reads /proc.
func (h *harness) addPostgresRSS(ctx context.Context, db *refDB, scenario, level string) {
	pids, err := db.backendPids(ctx)
	if err != nil {
		h.rep.Note("reference-postgres: RSS not measured (%v)", err)
		return
	}
	var rss, pss int64
	n := 0
	for _, pid := range pids {
		smp, err := procstat.Read(pid)
		if err != nil {
			continue
		}
		n++
		rss += smp.RSSBytes
		pss += readPss(pid)
	}
	if n == 0 {
		h.rep.Note("reference-postgres: RSS not measured (no backend of %s readable in /proc; is PostgreSQL on another host?)", db.name)
		return
	}
	all, procs := postgresServerRSS()
	h.rep.Add(report.Row{Subject: "reference-postgres", Scenario: scenario, Level: level, Value: report.Ptr(mib(rss)), Unit: "MiB",
		Note: fmt.Sprintf("VmRSS sum of the %d backends serving database %s (PSS %.1f MiB); whole server, all databases: %.1f MiB in %d processes",
			n, db.name, mib(pss), mib(all), procs)})
}

// readPss returns the proportional set size of pid in bytes (0 when
// unreadable).
func readPss(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid))
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		if rest, ok := strings.CutPrefix(line, "Pss:"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				kb, _ := strconv.ParseInt(f[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

// postgresServerRSS sums the VmRSS of every process named "postgres".
func postgresServerRSS() (total int64, n int) {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, 0
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue
		}
		if smp, err := procstat.Read(pid); err == nil {
			total += smp.RSSBytes
			n++
		}
	}
	return total, n
}

// refDB is the reference's dedicated database.
type refDB struct {
	url  string
	name string
	// admin is the same server's maintenance database, to drop and create
	// name from.
	admin *pgx.ConnConfig
}

// newRefDB checks that refURL names a database the bench may drop: not a
// system one, and not gantry's own (-postgres-url).
func newRefDB(refURL, gantryURL string) (*refDB, error) {
	cfg, err := pgx.ParseConfig(refURL)
	if err != nil {
		return nil, fmt.Errorf("-reference-postgres-url: %w", err)
	}
	name := cfg.Database
	switch {
	case name == "":
		return nil, errors.New("-reference-postgres-url names no database")
	case name == "postgres" || strings.HasPrefix(name, "template"):
		return nil, fmt.Errorf("-reference-postgres-url: refusing to drop the system database %q; name a dedicated one, e.g. gantry_bench_ref", name)
	}
	if gantryURL != "" {
		if g, err := pgx.ParseConfig(gantryURL); err == nil && g.Host == cfg.Host && g.Port == cfg.Port && g.Database == name {
			return nil, fmt.Errorf("-reference-postgres-url: database %q is also gantry's -postgres-url; give the reference its own", name)
		}
	}
	admin := cfg.Copy()
	admin.Database = "postgres"
	return &refDB{url: refURL, name: name, admin: admin}, nil
}

func (d *refDB) exec(ctx context.Context, fn func(*pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	c, err := pgx.ConnectConfig(ctx, d.admin)
	if err != nil {
		return fmt.Errorf("reference postgres: %w", err)
	}
	defer func() { _ = c.Close(context.Background()) }()
	return fn(c)
}

// reset drops and re-creates the database, so the next start is a cold one.
func (d *refDB) reset(ctx context.Context) error {
	ident := pgx.Identifier{d.name}.Sanitize()
	return d.exec(ctx, func(c *pgx.Conn) error {
		// FORCE ends the connections a stopped server may have left.
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("drop database %s: %w", d.name, err)
		}
		if _, err := c.Exec(ctx, "CREATE DATABASE "+ident); err != nil {
			return fmt.Errorf("create database %s: %w", d.name, err)
		}
		return nil
	})
}

// backendPids returns the pids of the backends connected to the database.
func (d *refDB) backendPids(ctx context.Context) ([]int, error) {
	var pids []int
	err := d.exec(ctx, func(c *pgx.Conn) error {
		rows, err := c.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = $1", d.name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var pid int32
			if err := rows.Scan(&pid); err != nil {
				return err
			}
			pids = append(pids, int(pid))
		}
		return rows.Err()
	})
	return pids, err
}
