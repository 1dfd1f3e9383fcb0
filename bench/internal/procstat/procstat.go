// Package procstat samples a process's resident memory and CPU time from
// /proc (Linux), the way METHOD.md §4 asks: VmRSS from /proc/<pid>/status,
// utime+stime from /proc/<pid>/stat, every 100 ms.
package procstat

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ClockTicks is USER_HZ, the unit of utime/stime in /proc/<pid>/stat. It is
// 100 on every Linux architecture Go supports (the kernel ABI fixes it);
// reading sysconf(_SC_CLK_TCK) would need cgo.
const ClockTicks = 100

// Sample is one reading of a process.
type Sample struct {
	At       time.Time
	RSSBytes int64
	// CPU is utime+stime of all the process's threads.
	CPU time.Duration
}

// Read takes one sample of pid.
func Read(pid int) (Sample, error) {
	s := Sample{At: time.Now()}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, fmt.Errorf("read status: %w", err)
	}
	if s.RSSBytes, err = ParseVMRSS(status); err != nil {
		return s, err
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, fmt.Errorf("read stat: %w", err)
	}
	if s.CPU, err = ParseCPU(stat); err != nil {
		return s, err
	}
	return s, nil
}

// ParseVMRSS extracts VmRSS (in bytes) from the contents of
// /proc/<pid>/status.
func ParseVMRSS(status []byte) (int64, error) {
	for line := range bytes.Lines(status) {
		rest, ok := bytes.CutPrefix(line, []byte("VmRSS:"))
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 1 {
			break
		}
		kb, err := strconv.ParseInt(string(f[0]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse VmRSS %q: %w", f[0], err)
		}
		return kb * 1024, nil
	}
	return 0, errors.New("no VmRSS line (process exited or is a zombie)")
}

// ParseCPU extracts utime+stime from the contents of /proc/<pid>/stat. The
// command name (field 2) may contain spaces and parentheses, so fields are
// counted from the last ')'.
func ParseCPU(stat []byte) (time.Duration, error) {
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, errors.New("malformed stat: no ')'")
	}
	f := bytes.Fields(stat[i+1:])
	// f[0] is field 3 (state); utime is field 14, stime field 15.
	if len(f) < 13 {
		return 0, fmt.Errorf("malformed stat: %d fields after comm", len(f))
	}
	var ticks int64
	for _, raw := range f[11:13] {
		n, err := strconv.ParseInt(string(raw), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("parse cpu ticks %q: %w", raw, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * time.Second / ClockTicks, nil
}

// Summary is what a sampling window saw.
type Summary struct {
	First, Last Sample
	PeakRSS     int64
	Samples     int
}

// CPU is the CPU time the process used during the window.
func (s Summary) CPU() time.Duration { return s.Last.CPU - s.First.CPU }

// Sampler reads a process every interval until stopped.
type Sampler struct {
	pid      int
	interval time.Duration

	mu      sync.Mutex
	sum     Summary
	lastErr error
	cancel  context.CancelFunc
	done    chan struct{}
}

// Start samples pid every interval (100 ms when zero) until Stop. The first
// sample is taken synchronously so a dead pid fails fast.
func Start(pid int, interval time.Duration) (*Sampler, error) {
	if interval <= 0 {
		interval = 100 * time.Millisecond
	}
	first, err := Read(pid)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Sampler{
		pid: pid, interval: interval, cancel: cancel, done: make(chan struct{}),
		sum: Summary{First: first, Last: first, PeakRSS: first.RSSBytes, Samples: 1},
	}
	go s.loop(ctx)
	return s, nil
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.take()
		}
	}
}

func (s *Sampler) take() {
	smp, err := Read(s.pid)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.lastErr = err
		return
	}
	s.sum.Last = smp
	s.sum.PeakRSS = max(s.sum.PeakRSS, smp.RSSBytes)
	s.sum.Samples++
}

// Snapshot returns the summary so far without stopping.
func (s *Sampler) Snapshot() Summary {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum
}

// Stop takes a final sample, stops the loop and returns the summary. The
// error is the last read failure, if any (for example the process died).
func (s *Sampler) Stop() (Summary, error) {
	s.cancel()
	<-s.done
	s.take()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sum, s.lastErr
}

// CoreTimes is one CPU's cumulative time from /proc/stat.
type CoreTimes struct {
	At    time.Time
	Busy  time.Duration // user+nice+system+irq+softirq+steal
	Total time.Duration
}

// ReadCore reads the cumulative times of CPU n from /proc/stat.
func ReadCore(n int) (CoreTimes, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return CoreTimes{}, err
	}
	return ParseCore(b, n)
}

// ParseCore extracts CPU n's line from the contents of /proc/stat.
func ParseCore(stat []byte, n int) (CoreTimes, error) {
	prefix := []byte(fmt.Sprintf("cpu%d ", n))
	for line := range bytes.Lines(stat) {
		rest, ok := bytes.CutPrefix(line, prefix)
		if !ok {
			continue
		}
		f := bytes.Fields(rest)
		if len(f) < 8 {
			return CoreTimes{}, fmt.Errorf("malformed /proc/stat line for cpu%d", n)
		}
		var v [8]int64
		for i := range v {
			x, err := strconv.ParseInt(string(f[i]), 10, 64)
			if err != nil {
				return CoreTimes{}, fmt.Errorf("parse /proc/stat cpu%d: %w", n, err)
			}
			v[i] = x
		}
		// user nice system idle iowait irq softirq steal
		busy := v[0] + v[1] + v[2] + v[5] + v[6] + v[7]
		total := busy + v[3] + v[4]
		tick := time.Second / ClockTicks
		return CoreTimes{At: time.Now(), Busy: time.Duration(busy) * tick, Total: time.Duration(total) * tick}, nil
	}
	return CoreTimes{}, fmt.Errorf("no cpu%d line in /proc/stat", n)
}
