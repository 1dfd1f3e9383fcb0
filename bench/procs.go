package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"
)

// Core assignment (METHOD.md §2): the mock and the load generator share
// core 0, the subject under test owns core 1.
const (
	coreRig     = "0"
	coreSubject = "1"
)

// launcher starts the benchmark's child processes with the run's pinning.
type launcher struct {
	pinned bool
	// gomaxprocs for every child: 1 pinned, 2 unpinned.
	gomaxprocs string
	logDir     string
}

// proc is a running child process.
type proc struct {
	name string
	cmd  *exec.Cmd
	// Started is the instant just before exec, for start-up timing.
	Started time.Time
	done    chan struct{}
	waitErr error
	log     *os.File
}

// Pid of the process under test (taskset execs in place, so it is the
// child's pid).
func (p *proc) Pid() int { return p.cmd.Process.Pid }

// start runs argv on core (empty for no pinning) with extra environment.
// Its stdout and stderr go to a log file; stdoutHook, when set, also
// receives stdout lines (to read a READY line).
func (l *launcher) start(name, core string, argv []string, env []string, stdoutHook func(string)) (*proc, error) {
	if l.pinned && core != "" {
		argv = append([]string{"taskset", "-c", core}, argv...)
	}
	// Not tied to a context: stop ends the process (SIGTERM, grace, then
	// SIGKILL of the group), which a context's plain kill would bypass.
	cmd := exec.CommandContext(context.Background(), argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "GOMAXPROCS="+l.gomaxprocs)
	cmd.Env = append(cmd.Env, env...)
	// Children die with the harness, and get their own process group so a
	// stray grandchild cannot outlive the run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	logf, err := os.Create(fmt.Sprintf("%s/%s-%d.log", l.logDir, name, time.Now().UnixNano()))
	if err != nil {
		return nil, err
	}
	cmd.Stderr = logf
	cmd.Stdout = logf
	var pw *io.PipeWriter
	if stdoutHook != nil {
		var pr *io.PipeReader
		pr, pw = io.Pipe()
		cmd.Stdout = io.MultiWriter(logf, pw)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				stdoutHook(sc.Text())
			}
			_, _ = io.Copy(io.Discard, pr)
		}()
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{}), log: logf}
	p.Started = time.Now()
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		if pw != nil {
			_ = pw.Close()
		}
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		p.waitErr = cmd.Wait()
		if pw != nil {
			_ = pw.Close()
		}
		close(p.done)
	}()
	return p, nil
}

// startRole re-executes this binary in a role (mock, floor) and waits for
// its "READY <url>" line.
func (l *launcher) startRole(ctx context.Context, role, core string, args ...string) (*proc, string, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, "", err
	}
	ready := make(chan string, 1)
	argv := append([]string{self, "-role", role}, args...)
	p, err := l.start(role, core, argv, nil, func(line string) {
		if u, ok := strings.CutPrefix(line, "READY "); ok {
			select {
			case ready <- u:
			default:
			}
		}
	})
	if err != nil {
		return nil, "", err
	}
	select {
	case u := <-ready:
		return p, u, nil
	case <-p.done:
		return nil, "", fmt.Errorf("%s exited before READY: %w (log %s)", role, p.waitErr, p.log.Name())
	case <-time.After(30 * time.Second):
		p.stop(2 * time.Second)
		return nil, "", fmt.Errorf("%s not READY within 30s (log %s)", role, p.log.Name())
	case <-ctx.Done():
		p.stop(2 * time.Second)
		return nil, "", ctx.Err()
	}
}

// stop sends SIGTERM, waits up to grace, then SIGKILLs the process group.
func (p *proc) stop(grace time.Duration) {
	if p == nil {
		return
	}
	select {
	case <-p.done:
		_ = p.log.Close()
		return
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.done
	}
	_ = p.log.Close()
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// freePort asks the kernel for an unused loopback port.
func freePort(ctx context.Context) (int, error) {
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	addr, ok := ln.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("listener address %v is not TCP", ln.Addr())
	}
	return addr.Port, nil
}

// waitHealthy polls url every 10 ms until it answers 200 and returns the
// time since p started. It gives up when p exits or after limit.
func waitHealthy(ctx context.Context, p *proc, url string, limit time.Duration) (time.Duration, error) {
	c := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return 0, err
		}
		resp, err := c.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return time.Since(p.Started), nil
			}
		}
		if p.exited() {
			return 0, fmt.Errorf("%s exited: %w (log %s)", p.name, p.waitErr, p.log.Name())
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
		time.Sleep(10 * time.Millisecond)
	}
	return 0, errors.New(p.name + ": no 200 on " + url + " within " + limit.String() + " (log " + p.log.Name() + ")")
}
