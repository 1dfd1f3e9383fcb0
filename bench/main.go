// Command bench measures gantry side by side with a direct baseline and a
// bare ReverseProxy floor, following ../shared/bench/METHOD.md: gateway
// overhead (added latency, TTFT, per-event gap), saturation, streams, memory
// and CPU per request, usage completeness, and the General API.
//
//	go run ./bench -profile quick            # `make bench`, about 3 minutes
//	go run ./bench -profile full             # `make bench-full`, about 20 minutes
//	go run ./bench -postgres-url postgres://postgres@127.0.0.1:5432/test?sslmode=disable
//	go run ./bench -reference-url http://127.0.0.1:3000   # a Coder server for the General API
//	make bench-reference   # starts a coder v2.36.1 server itself (-reference-bin, -reference-postgres-url)
//
// The same binary re-executes itself in the roles "mock" (the mock
// upstream) and "floor" (the ReverseProxy floor); the harness itself is the
// load generator. The human table goes to stderr, JSON lines to stdout (or
// -out). The exit status is non-zero when a correctness check fails.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"strings"
	"syscall"
	"time"
)

// pinnedEnv marks the re-executed, pinned harness process.
const pinnedEnv = "GANTRY_BENCH_PINNED"

type config struct {
	profile     string
	unpinned    bool
	out         string
	postgresURL string
	refURL      string
	refEmail    string
	refPassword string
	gantryBin   string
	pprofDir    string
	only        string
	keep        bool
	// soak is the S10 soak duration (0: off).
	soak time.Duration

	// refBin is a coder binary the bench starts as the reference, on its
	// own database refPostgresURL.
	refBin         string
	refPostgresURL string

	// peers to measure side by side (peers.go), installed under peerDir.
	peers   string
	peerDir string

	// bombardier is the closed-loop cross-check's binary
	// (scripts/install-bombardier.sh); empty: not requested.
	bombardier string

	// role-only flags
	role     string
	addr     string
	upstream string
}

func main() {
	var cfg config
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&cfg.profile, "profile", "quick", "quick (about 3 minutes) or full (about 20 minutes)")
	fs.BoolVar(&cfg.unpinned, "unpinned", false, "no taskset pinning, GOMAXPROCS=2 for every process (co-location view)")
	fs.StringVar(&cfg.out, "out", "", "write JSON lines to this file instead of stdout")
	fs.StringVar(&cfg.postgresURL, "postgres-url", "", "also measure gantry on this PostgreSQL database")
	fs.StringVar(&cfg.refURL, "reference-url", "", "a running Coder-compatible server to measure the General API against")
	fs.StringVar(&cfg.refEmail, "reference-email", benchEmail, "first-user / login email on the reference server")
	fs.StringVar(&cfg.refPassword, "reference-password", benchPassword, "password on the reference server")
	fs.StringVar(&cfg.refBin, "reference-bin", "", "start this coder binary (scripts/build-reference.sh) as the reference server for the startup and api phases")
	fs.StringVar(&cfg.refPostgresURL, "reference-postgres-url", "", "the reference's own PostgreSQL database, dropped and re-created by the bench (with -reference-bin)")
	fs.StringVar(&cfg.gantryBin, "gantry-bin", "", "use this gantry binary instead of building ./cmd/gantry")
	fs.StringVar(&cfg.pprofDir, "pprof-dir", "", "save CPU profiles of gantry under load into this directory")
	fs.StringVar(&cfg.only, "only", "", "comma-separated phases to run (startup,rig,latency,sse,saturation,cpu,fidelity,streams,errors,api,crosscheck,soak); default all (soak only with -soak, crosscheck only with -bombardier)")
	fs.StringVar(&cfg.peers, "peers", "", "comma-separated peer gateways to measure beside gantry ("+peerNames()+"); install them with scripts/install-peers.sh")
	fs.StringVar(&cfg.peerDir, "peer-dir", "bench/.peers", "directory scripts/install-peers.sh installed the peers into")
	fs.StringVar(&cfg.bombardier, "bombardier", "", "bombardier "+bombardierVersion+" binary (scripts/install-bombardier.sh) for the crosscheck phase: closed-loop maximum RPS of the rig and each subject")
	fs.BoolVar(&cfg.keep, "keep", false, "keep the temporary directory (logs, databases)")
	fs.DurationVar(&cfg.soak, "soak", 0, "S10 soak: hold a mixed load on the first gantry for this long and report RSS growth (0: off; METHOD asks for 30m)")
	fs.StringVar(&cfg.role, "role", "", "internal: run as mock or floor")
	fs.StringVar(&cfg.addr, "addr", "127.0.0.1:0", "internal: role listen address")
	fs.StringVar(&cfg.upstream, "upstream", "", "internal: floor upstream URL")
	_ = fs.Parse(os.Args[1:])

	switch cfg.role {
	case "mock":
		exitOn(runMockRole(cfg.addr))
		return
	case "floor":
		exitOn(runFloorRole(cfg.addr, cfg.upstream))
		return
	case "":
	default:
		exitOn(fmt.Errorf("unknown role %q", cfg.role))
	}
	if cfg.profile != "quick" && cfg.profile != "full" {
		exitOn(fmt.Errorf("-profile must be quick or full, not %q", cfg.profile))
	}
	if _, err := parsePeers(cfg.peers); err != nil {
		exitOn(err)
	}
	raiseFileLimit()

	// METHOD.md §2: the load generator runs on core 0 with GOMAXPROCS=1.
	// Re-exec the harness under taskset so it is pinned like the mock.
	_, tasksetErr := exec.LookPath("taskset")
	pinned := !cfg.unpinned && tasksetErr == nil
	if pinned && os.Getenv(pinnedEnv) == "" {
		// Build gantry here, with both cores: the pinned harness and its
		// children are limited to one core and GOMAXPROCS=1.
		os.Exit(buildThenReexec(cfg))
	}
	if pinned {
		runtime.GOMAXPROCS(1)
	} else {
		runtime.GOMAXPROCS(2)
	}

	os.Exit(runWithLimit(cfg, pinned, tasksetErr != nil))
}

// runWithLimit runs the benchmark under the profile's time limit, cancelled
// early by SIGINT/SIGTERM. It returns the exit code rather than exiting so
// its deferred cleanups run first.
func runWithLimit(cfg config, pinned, noTaskset bool) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	limit := 6 * time.Minute
	if cfg.refBin != "" {
		// The reference's cold starts run Coder's migrations.
		limit += 4 * time.Minute
	}
	if cfg.profile == "full" {
		limit = 40 * time.Minute
	}
	if cfg.peers != "" {
		limit += 2 * time.Minute
	}
	if cfg.bombardier != "" {
		limit += 2 * time.Minute
	}
	limit += cfg.soak
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	return runBench(ctx, cfg, pinned, noTaskset)
}

func exitOn(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// buildThenReexec builds the gantry binary (unless -gantry-bin was given),
// then runs this program again under `taskset -c 0` and returns its exit
// code.
func buildThenReexec(cfg config) int {
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	args := os.Args[1:]
	if cfg.gantryBin == "" {
		dir, err := os.MkdirTemp("", "gantry-bench-bin-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		fmt.Fprintln(os.Stderr, "bench: building gantry")
		bin, err := buildGantry(context.Background(), dir)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		args = append([]string{"-gantry-bin", bin}, args...)
	}
	// The child is never cancelled from here: it handles ^C itself and we
	// only wait for it, so the context is a plain background one.
	cmd := exec.CommandContext(context.Background(), "taskset", append([]string{"-c", coreRig, self}, args...)...)
	cmd.Env = append(os.Environ(), pinnedEnv+"=1", "GOMAXPROCS=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	// Let the child handle ^C; we only wait for it.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM)
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench: taskset:", err)
		return 1
	}
	return 0
}

// raiseFileLimit lifts RLIMIT_NOFILE as far as allowed (METHOD.md §2 asks
// for 65536); children inherit it.
func raiseFileLimit() {
	var rl syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl) != nil {
		return
	}
	want := syscall.Rlimit{Cur: 65536, Max: max(rl.Max, 65536)}
	if syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want) == nil {
		return
	}
	rl.Cur = rl.Max
	_ = syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl)
}

// phaseEnabled reports whether -only selects phase.
func (c config) phaseEnabled(phase string) bool {
	if c.only == "" {
		return true
	}
	for p := range strings.SplitSeq(c.only, ",") {
		if strings.TrimSpace(p) == phase {
			return true
		}
	}
	return false
}
