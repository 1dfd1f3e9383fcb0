package main

import (
	"context"
	"net"
	"net/http"
	"strings"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"gantry/bench/internal/report"
	"gantry/bench/internal/stats"
)

// newClient is the load generator's HTTP client: keep-alive, a pool
// larger than any concurrency we drive (METHOD.md §8: the default of 2
// idle connections per host churns), no compression, HTTP/1.1.
func newClient(timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        16384,
			MaxIdleConnsPerHost: 16384,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// target is one request shape.
type target struct {
	method string
	url    string
	body   []byte
	header http.Header
}

// run is what one attack measured.
type run struct {
	hist    *stats.Histogram
	ok      int
	errs    report.Errors
	elapsed time.Duration
	lastErr string
}

func (r run) total() int { return r.ok + r.errs.Total() }

// rps is the goodput.
func (r run) rps() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

func (r run) errRate() float64 {
	if r.total() == 0 {
		return 0
	}
	return float64(r.errs.Total()) / float64(r.total())
}

// countPacer wraps a pacer and stops after n hits, so every attack is
// bounded in count as well as in time.
type countPacer struct {
	vegeta.Pacer
	n uint64
}

func (p countPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if hits >= p.n {
		return 0, true
	}
	return p.Pacer.Pace(elapsed, hits)
}

// attackSpec describes one bounded attack.
type attackSpec struct {
	// rate > 0: open loop at rate req/s. rate == 0: closed loop with
	// workers concurrent requests.
	rate    float64
	workers int
	dur     time.Duration
	maxReq  int
	// validate, when set, decides whether a 2xx response counts as a
	// success (General API: headers and body).
	validate func(*vegeta.Result) bool
}

// attack runs spec against tg with client c. Latencies go into an
// HDR-style histogram; errors are split by class.
func attack(ctx context.Context, c *http.Client, tg target, spec attackSpec) run {
	// Only Client: the other transport options mutate the shared transport.
	opts := []func(*vegeta.Attacker){vegeta.Client(c)}
	var pacer vegeta.Pacer
	if spec.rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: int(spec.rate), Per: time.Second}
		opts = append(opts, vegeta.Workers(64), vegeta.MaxWorkers(4096))
	} else {
		w := uint64(max(spec.workers, 1))
		pacer = vegeta.ConstantPacer{} // zero: as fast as the workers go
		opts = append(opts, vegeta.Workers(w), vegeta.MaxWorkers(w))
	}
	maxReq := spec.maxReq
	if maxReq <= 0 {
		maxReq = 1 << 30
	}
	atk := vegeta.NewAttacker(opts...)
	vt := vegeta.Target{Method: tg.method, URL: tg.url, Body: tg.body, Header: tg.header}
	res := run{hist: stats.NewHistogram()}
	start := time.Now()
	results := atk.Attack(vegeta.NewStaticTargeter(vt), countPacer{pacer, uint64(maxReq)}, spec.dur, "")
	stop := context.AfterFunc(ctx, func() { atk.Stop() })
	defer stop()
	var last time.Time
	for r := range results {
		res.hist.Record(r.Latency)
		if end := r.Timestamp.Add(r.Latency); end.After(last) {
			last = end
		}
		switch {
		case r.Code == 0:
			if isRigError(r.Error) {
				res.errs.Rig++
			} else {
				res.errs.Transport++
			}
			res.lastErr = r.Error
		case r.Code >= 200 && r.Code < 300 && (spec.validate == nil || spec.validate(r)):
			res.ok++
		default:
			res.errs.Add(int(r.Code))
			if r.Code >= 200 && r.Code < 300 {
				res.lastErr = "invalid 2xx response"
			} else {
				res.lastErr = r.Error + ": " + truncate(string(r.Body), 200)
			}
		}
	}
	res.elapsed = last.Sub(start)
	if res.elapsed <= 0 {
		res.elapsed = time.Since(start)
	}
	return res
}

// isRigError recognises failures on the harness's side: descriptors or
// ephemeral ports exhausted.
func isRigError(msg string) bool {
	for _, s := range []string{"too many open files", "cannot assign requested address", "address already in use"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// us converts a duration to float microseconds for the report.
func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }
