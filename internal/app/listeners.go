package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"gantry/internal/buildinfo"
	"gantry/internal/httpmw"
)

// bindListeners opens every enabled socket before anything is served, so a
// port conflict stops the start with a clear error and tests can listen on
// port 0 and read the bound address.
func (s *Server) bindListeners(ctx context.Context) error {
	vals := s.vals
	bind := func(name, addr string) error {
		ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
		if err != nil {
			return fmt.Errorf("listen %s on %q: %w", name, addr, err)
		}
		s.listeners = append(s.listeners, &listener{name: name, ln: ln})
		return nil
	}
	var tlsCfg *tls.Config
	if vals.TLS.Enable.Value() {
		// Certificates are loaded before any socket is bound.
		var err error
		if tlsCfg, err = tlsConfig(vals.TLS); err != nil {
			return err
		}
	}
	if addr := vals.HTTPAddress.Value(); addr != "" {
		if err := bind("http", addr); err != nil {
			return err
		}
	}
	if vals.TLS.Enable.Value() {
		if err := bind("tls", vals.TLS.Address.String()); err != nil {
			return err
		}
		s.listeners[len(s.listeners)-1].tls = tlsCfg
	}
	if len(s.listeners) == 0 {
		return errors.New("no listener: set --http-address or enable TLS with --tls-enable")
	}
	if vals.Prometheus.Enable.Value() {
		if err := bind("prometheus", vals.Prometheus.Address.String()); err != nil {
			return err
		}
	}
	if vals.Pprof.Enable.Value() {
		if err := bind("pprof", vals.Pprof.Address.String()); err != nil {
			return err
		}
	}
	return nil
}

// resolveAccessURL returns --access-url, or the URL of the TLS (else HTTP)
// listener when it is unset (an unspecified host becomes 127.0.0.1).
func (s *Server) resolveAccessURL() *url.URL {
	if u := s.vals.AccessURL.Value(); u != nil && u.Host != "" {
		cp := *u
		return &cp
	}
	// Prefer the TLS listener: with TLS on, plain HTTP usually redirects.
	for _, name := range []string{"tls", "http"} {
		addr := s.Addr(name)
		if addr == "" {
			continue
		}
		host, port, _ := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
			host = "127.0.0.1"
		}
		scheme := "http"
		if name == "tls" {
			scheme = "https"
		}
		return &url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}
	}
	return &url.URL{Scheme: "http", Host: "127.0.0.1"}
}

// attachServers creates the http.Server of each bound listener.
func (s *Server) attachServers() {
	vals := s.vals
	errLog := slog.NewLogLogger(s.logger.Handler(), slog.LevelDebug)
	newServer := func(h http.Handler) *http.Server {
		return &http.Server{
			Handler:           h,
			ReadHeaderTimeout: 10 * time.Second,
			IdleTimeout:       2 * time.Minute,
			// No WriteTimeout: gateway responses stream for minutes.
			ErrorLog: errLog,
		}
	}
	tlsEnabled := vals.TLS.Enable.Value()
	for _, l := range s.listeners {
		switch l.name {
		case "http":
			h := s.handler
			if tlsEnabled && (vals.TLS.RedirectHTTP.Value() || vals.RedirectToAccessURL.Value()) {
				_, tlsPort, _ := net.SplitHostPort(s.Addr("tls"))
				h = httpmw.RequestID(httpmw.StaticHeaders(buildinfo.Version())(
					httpmw.RedirectHTTPToHTTPS(s.accessURL, tlsPort)))
			}
			l.srv = newServer(h)
		case "tls":
			l.srv = newServer(s.handler)
			l.srv.TLSConfig = l.tls
		case "prometheus":
			mux := http.NewServeMux()
			mux.Handle("/", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{ErrorLog: errLog}))
			l.srv = newServer(mux)
		case "pprof":
			mux := http.NewServeMux()
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
			mux.Handle("/", http.RedirectHandler("/debug/pprof/", http.StatusFound))
			l.srv = newServer(mux)
		}
	}
}

// registerRuntimeMetrics adds the Go runtime, process and database pool
// collectors.
func registerRuntimeMetrics(reg *prometheus.Registry, pools []dbPool) {
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	for _, p := range pools {
		reg.MustRegister(collectors.NewDBStatsCollector(p.db, p.name))
	}
}
