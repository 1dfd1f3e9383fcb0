package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"gantry/bench/internal/floor"
	"gantry/internal/aibridge/mockupstream"
)

// Fixed values the fidelity check expects upstream, byte for byte.
const (
	upstreamKey      = "sk-bench-upstream-0123456789"
	anthropicBeta    = "interleaved-thinking-2025-05-14,fine-grained-tool-streaming-2025-05-14"
	anthropicVersion = "2023-06-01"
	// checkHeader asks the mock-side wrapper to verify a request.
	checkHeader    = "X-Bench-Check"
	bodyHashHeader = "X-Bench-Body-Sha256"
)

// serveRole runs handler on addr until SIGTERM/SIGINT, printing
// "READY <url>" once listening.
func serveRole(addr string, handler http.Handler) error {
	// The context bounds only the listen call; the server runs until a
	// signal arrives.
	var lc net.ListenConfig
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 120 * time.Second}
	fmt.Printf("READY http://%s\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	select {
	case err := <-errc:
		return err
	case <-sig:
		_ = srv.Close()
		return nil
	}
}

// runMockRole serves the gateway helper's mock upstream, behind a thin
// wrapper that adds the harness's fidelity counters and a static 200
// handler (the General API rig ceiling).
func runMockRole(addr string) error {
	defaults := mockupstream.DefaultKnobs()
	m := mockupstream.New(mockupstream.Options{Defaults: defaults, MaxRecords: 1})
	fid := &fidelity{}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /_bench/static", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"ok":true}`))
	})
	mux.HandleFunc("GET /_bench/fidelity", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(fid.snapshot())
	})
	mux.Handle("/", fid.wrap(m))
	return serveRole(addr, mux)
}

// runFloorRole serves the bare ReverseProxy floor in front of upstream.
func runFloorRole(addr, upstream string) error {
	u, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	return serveRole(addr, floor.New(u, upstreamKey, 4096))
}

// fidelityStats counts what the checked requests carried upstream.
type fidelityStats struct {
	Checked         int64  `json:"checked"`
	BetaMismatch    int64  `json:"beta_mismatch"`
	VersionMismatch int64  `json:"version_mismatch"`
	AuthMismatch    int64  `json:"auth_mismatch"`
	BodyMismatch    int64  `json:"body_mismatch"`
	Last            string `json:"last_mismatch,omitempty"`
}

type fidelity struct {
	mu sync.Mutex
	s  fidelityStats
}

func (f *fidelity) snapshot() fidelityStats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.s
}

// wrap verifies requests marked with checkHeader: the provider key (and
// only it) as credentials, anthropic-* headers byte for byte, and the body
// hash when the harness sent one. Unmarked requests pass untouched, so the
// timed runs pay nothing for it.
func (f *fidelity) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(checkHeader) == "" {
			next.ServeHTTP(w, r)
			return
		}
		var problems []string
		if r.Header.Get(checkHeader) == "anthropic" {
			if got := r.Header.Get("Anthropic-Beta"); got != anthropicBeta {
				problems = append(problems, "anthropic-beta="+got)
			}
			if got := r.Header.Get("Anthropic-Version"); got != anthropicVersion {
				problems = append(problems, "anthropic-version="+got)
			}
		}
		authOK := false
		for _, h := range []struct{ name, want string }{{"X-Api-Key", upstreamKey}, {"Authorization", "Bearer " + upstreamKey}} {
			vals := r.Header.Values(h.name)
			if len(vals) == 0 {
				continue
			}
			if len(vals) != 1 || vals[0] != h.want {
				authOK = false
				problems = append(problems, "auth header "+h.name+" is not the provider key")
				break
			}
			authOK = true
		}
		if !authOK && len(problems) == 0 {
			problems = append(problems, "no provider key upstream")
		}
		if want := r.Header.Get(bodyHashHeader); want != "" {
			body, err := io.ReadAll(r.Body)
			if err == nil {
				sum := sha256.Sum256(body)
				if hex.EncodeToString(sum[:]) != want {
					problems = append(problems, "body changed")
				}
				r.Body = io.NopCloser(bytes.NewReader(body))
			}
		}
		f.mu.Lock()
		f.s.Checked++
		for _, p := range problems {
			switch {
			case len(p) > 14 && p[:14] == "anthropic-beta":
				f.s.BetaMismatch++
			case len(p) > 17 && p[:17] == "anthropic-version":
				f.s.VersionMismatch++
			case p == "body changed":
				f.s.BodyMismatch++
			default:
				f.s.AuthMismatch++
			}
			f.s.Last = r.URL.Path + ": " + p
		}
		f.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}
