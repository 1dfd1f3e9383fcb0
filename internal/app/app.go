// Package app is gantry's composition root: it builds the logger, metrics
// registry, store, API, gateway and listeners from the deployment values and
// runs them until the context ends.
//
// Only internal/cli (the server command) and tests import it. Every other
// package receives its dependencies and settings as arguments; nothing reads
// the configuration globally.
package app

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"slices"
	"sync"
	"time"

	"github.com/coder/serpent"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"gantry/internal/api"
	"gantry/internal/authn"
	"gantry/internal/buildinfo"
	"gantry/internal/config"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/updatecheck"
	"gantry/sdk"
)

// Config is what the server command hands to Run.
type Config struct {
	Values  *config.DeploymentValues
	Options serpent.OptionSet
	Stdout  io.Writer
	Stderr  io.Writer
	// Environ is the process environment (for indexed provider variables).
	Environ []string

	// Store, when set, is used instead of opening the configured database
	// (tests; replicas sharing one database in a test). The caller closes it.
	Store store.Store
	// Logger, when set, replaces the logger built from the logging options.
	Logger *slog.Logger
	// ShutdownTimeout bounds the graceful drain of in-flight requests on
	// shutdown; default --shutdown-grace-period, else
	// DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// ConfigureAPI, when set, adjusts the API options right before the API
	// is built (tests use it for cheap password hashing).
	ConfigureAPI func(*api.Options)
	// TraceExporter, when set, receives the spans --trace produces instead
	// of the OTLP exporter (tests). It has no effect without --trace.
	TraceExporter sdktrace.SpanExporter
}

// DefaultShutdownTimeout is how long shutdown waits for in-flight requests.
const DefaultShutdownTimeout = 15 * time.Second

// DeploymentIDKey is the site-config key of the deployment id.
const DeploymentIDKey = "deployment_id"

// Server is a built deployment: bound listeners, the API, background jobs.
type Server struct {
	cfg       Config
	vals      *config.DeploymentValues
	logger    *slog.Logger
	closeLogs func()
	store     store.Store
	ownsStore bool
	registry  *prometheus.Registry
	authn     *authn.Authenticator
	api       *api.API
	handler   http.Handler
	accessURL *url.URL
	// tracerProvider is nil unless --trace is on (tracing.go).
	tracerProvider trace.TracerProvider

	bgCancel context.CancelFunc
	bgWG     sync.WaitGroup

	listeners []*listener
	closeOnce sync.Once
	closeErr  error
	// shutdown closers run in reverse order after the servers stopped.
	closers []func() error
	// drainers run concurrently with the servers' Shutdown, with a
	// deadline shortly before the grace period ends (see Close).
	drainers []func(ctx context.Context) error
}

// listener is one bound socket and the server that will serve it.
type listener struct {
	name string
	ln   net.Listener
	srv  *http.Server
	tls  *tls.Config // for the "tls" listener
}

// Run builds the deployment, prints where it listens and how to create the
// first user, serves until ctx ends, then drains in-flight requests (within
// the shutdown timeout) and closes the store.
func Run(ctx context.Context, cfg Config) error {
	s, err := New(ctx, cfg)
	if err != nil {
		return err
	}
	s.printBanner(ctx)
	return s.Serve(ctx)
}

// New opens the store, builds the API and binds every listener. Nothing is
// served until Serve. On error everything opened so far is closed.
func New(ctx context.Context, cfg Config) (_ *Server, err error) {
	if cfg.Values == nil {
		return nil, errors.New("app: no deployment values")
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = cfg.Values.Gantry.ShutdownGracePeriod.Value()
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = DefaultShutdownTimeout
	}
	vals := cfg.Values
	s := &Server{cfg: cfg, vals: vals, closeLogs: func() {}}
	defer func() {
		if err != nil {
			_ = s.Close()
		}
	}()

	s.logger = cfg.Logger
	if s.logger == nil {
		l, closeLogs, err := newLogger(vals, cfg.Stdout, cfg.Stderr)
		if err != nil {
			return nil, err
		}
		s.logger, s.closeLogs = l, closeLogs
	}

	s.registry = prometheus.NewRegistry()
	var pools []dbPool
	if cfg.Store != nil {
		s.store, pools = cfg.Store, poolsOf(cfg.Store)
	} else {
		st, p, err := openStore(ctx, vals)
		if err != nil {
			return nil, err
		}
		s.store, s.ownsStore, pools = st, true, p
	}
	registerRuntimeMetrics(s.registry, pools)

	deploymentID, err := s.store.EnsureSiteConfig(ctx, DeploymentIDKey, uuid.NewString())
	if err != nil {
		return nil, fmt.Errorf("ensure deployment id: %w", err)
	}

	if err := s.bindListeners(ctx); err != nil {
		return nil, err
	}
	s.accessURL = s.resolveAccessURL()
	// The derived access URL is the effective value: report it in the
	// deployment config as Coder does.
	vals.AccessURL = serpent.URL(*s.accessURL)

	if s.tracerProvider, err = s.newTracerProvider(ctx); err != nil {
		return nil, err
	}

	bgCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	s.bgCancel = cancel

	opts, err := s.apiOptions(bgCtx, deploymentID)
	if err != nil {
		return nil, err
	}
	if cfg.ConfigureAPI != nil {
		cfg.ConfigureAPI(&opts)
	}
	s.api = api.New(opts)
	s.closers = append(s.closers, s.api.Close)

	if s.handler, err = s.rootHandler(s.api); err != nil {
		return nil, err
	}
	s.attachServers()
	return s, nil
}

// apiOptions translates the deployment values into the API's options and
// starts the General endpoints' background jobs.
func (s *Server) apiOptions(bgCtx context.Context, deploymentID string) (api.Options, error) {
	vals := s.vals
	opts := api.Options{Logger: s.logger, Store: s.store}

	// Identity. The token validator (and its cache) is built here so the
	// API and the AI Bridge gateway share it: an invalidation by one reaches
	// both. It is closed after the API, once the servers have stopped.
	sess := vals.Sessions
	s.authn = authn.New(authn.Options{
		Store:                s.store,
		Logger:               s.logger,
		DisableExpiryRefresh: sess.DisableExpiryRefresh.Value(),
	})
	s.closers = append(s.closers, func() error { s.authn.Close(); return nil })
	opts.Identity = api.IdentityOptions{
		Authenticator:         s.authn,
		AccessURL:             s.accessURL,
		SessionDuration:       sess.DefaultDuration.Value(),
		DefaultTokenLifetime:  sess.DefaultTokenDuration.Value(),
		MaxTokenLifetime:      sess.MaximumTokenDuration.Value(),
		MaxAdminTokenLifetime: sess.MaximumAdminTokenDuration.Value(),
		DisableExpiryRefresh:  sess.DisableExpiryRefresh.Value(),
		DisablePasswordAuth:   vals.DisablePasswordAuth.Value(),
		SameSite:              vals.HTTPCookies.SameSite,
		HostPrefixCookie:      vals.HTTPCookies.EnableHostPrefix,
	}
	secure := s.secureCookies()
	opts.Identity.SecureCookie = &secure

	// General endpoints.
	cfgResp, err := config.DeploymentConfigResponse(vals, s.cfg.Options)
	if err != nil {
		return opts, fmt.Errorf("build deployment config response: %w", err)
	}
	cfgJSON, err := json.Marshal(cfgResp)
	if err != nil {
		return opts, fmt.Errorf("encode deployment config: %w", err)
	}
	sshOptions, err := config.ParseSSHConfigOptions(vals.SSHConfig.SSHConfigOptions.Value())
	if err != nil {
		return opts, err
	}
	prefix := vals.SSHConfig.DeploymentName.Value()
	if prefix == "" {
		prefix = "coder."
	}
	experiments := api.ExpandExperiments(vals.Experiments.Value())
	for _, e := range experiments {
		if !slices.Contains(api.KnownExperiments, e) {
			s.logger.Warn("unknown experiment enabled", "experiment", e)
		}
	}
	csp, problems := httpmw.NewCSP(httpmw.CSPOptions{
		Additional:    vals.AdditionalCSPPolicy.Value(),
		AllowAllHosts: vals.Dangerous.AllowAllCors.Value(),
	})
	for _, p := range problems {
		s.logger.Warn(p)
	}
	sessionCookies := []string{httpmw.SessionTokenCookie}
	if vals.HTTPCookies.EnableHostPrefix {
		sessionCookies = append(sessionCookies, "__Host-"+httpmw.SessionTokenCookie)
	}

	stats := api.NewStatsCache(vals.AgentStatRefreshInterval.Value(), s.store.Ping, nil, s.logger)
	s.goBackground(bgCtx, stats.Run)

	var checker *updatecheck.Checker
	if vals.UpdateCheck.Value() {
		checker = updatecheck.New(updatecheck.Options{
			Store:          s.store,
			URL:            vals.Gantry.UpdateCheckURL.String(),
			Interval:       vals.Gantry.UpdateCheckInterval.Value(),
			Logger:         s.logger,
			CurrentVersion: buildinfo.Version(),
		})
		s.goBackground(bgCtx, checker.Run)
	}

	opts.Deployment = api.DeploymentOptions{
		BuildInfo: sdk.BuildInfoResponse{
			ExternalURL:  buildinfo.ExternalURL(),
			Version:      buildinfo.Version(),
			DashboardURL: s.accessURL.String(),
			// gantry has no telemetry reporter, whatever --telemetry says.
			Telemetry:             false,
			WorkspaceProxy:        false,
			AgentAPIVersion:       "1.0",
			ProvisionerAPIVersion: "1.18",
			UpgradeMessage:        vals.CLIUpgradeMessage.Value(),
			DeploymentID:          deploymentID,
		},
		ConfigJSON: append(cfgJSON, '\n'),
		SSH: sdk.SSHConfigResponse{
			HostnamePrefix:   prefix,
			HostnameSuffix:   vals.WorkspaceHostnameSuffix.Value(),
			SSHConfigOptions: sshOptions,
		},
		Experiments:       experiments,
		Stats:             stats,
		UpdateCheck:       checker,
		RateLimit:         vals.RateLimit.API.Value(),
		DisableRateLimits: vals.RateLimit.DisableAll.Value(),
		CSRF: httpmw.CSRFOptions{
			Secure:         secure,
			SessionCookies: sessionCookies,
			ExemptPaths:    []string{"/api/v2/csp/reports", "/api/v2/users/first"},
		},
		CSP:            csp,
		SwaggerEnabled: vals.Swagger.Enable.Value(),
		AccessURL:      s.accessURL.String(),
	}

	bridge, err := s.aibridgeOptions(bgCtx)
	if err != nil {
		return opts, err
	}
	opts.AIBridge = bridge
	return opts, nil
}

// secureCookies is --secure-auth-cookie when set, else "the access URL is
// https".
func (s *Server) secureCookies() bool {
	if s.vals.HTTPCookies.Secure.Value() {
		return true
	}
	return s.accessURL != nil && s.accessURL.Scheme == "https"
}

func (s *Server) goBackground(ctx context.Context, f func(context.Context)) {
	s.bgWG.Add(1)
	go func() {
		defer s.bgWG.Done()
		f(ctx)
	}()
}

// rootHandler wraps the API in the middleware every response passes
// through, outermost first (see package httpmw).
func (s *Server) rootHandler(h http.Handler) (http.Handler, error) {
	vals := s.vals
	// --proxy-trusted-headers/--proxy-trusted-origins: the client address
	// behind a trusted proxy, for the log and the rate limiter.
	realIP, err := httpmw.RealIP(httpmw.RealIPOptions{
		Headers: vals.ProxyTrustedHeaders.Value(),
		Origins: vals.ProxyTrustedOrigins.Value(),
	})
	if err != nil {
		return nil, err
	}
	if vals.RedirectToAccessURL.Value() {
		h = httpmw.RedirectToAccessURL(s.accessURL)(h)
	}
	h = httpmw.CORS(vals.Dangerous.AllowAllCors.Value())(h)
	hsts, err := httpmw.HSTSValue(vals.StrictTransportSecurity.Value(), vals.StrictTransportSecurityOptions.Value())
	if err != nil {
		s.logger.Warn("strict transport security disabled", "error", err)
	}
	h = httpmw.HSTS(hsts)(h)
	h = httpmw.Recover(h)
	h = httpmw.NewMetrics(s.registry).Middleware(h)
	h = httpmw.AccessLog(s.logger)(h)
	h = httpmw.CollapseSlashes(h)
	h = realIP(h)
	h = httpmw.StaticHeaders(buildinfo.Version())(h)
	if s.tracerProvider != nil {
		h = traceHTTP(h, s.tracerProvider)
	}
	h = httpmw.RequestID(h)
	return h, nil
}

// Handler is the complete HTTP handler (all middleware included).
func (s *Server) Handler() http.Handler { return s.handler }

// AccessURL is the deployment's public URL: --access-url, or derived from
// the first listener when unset.
func (s *Server) AccessURL() *url.URL { return s.accessURL }

// Registry is the Prometheus registry the /metrics listener serves.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// Store is the store the deployment uses.
func (s *Server) Store() store.Store { return s.store }

// Addr returns the bound address of the named listener ("http", "tls",
// "prometheus", "pprof"), or "" when it is not enabled.
func (s *Server) Addr(name string) string {
	for _, l := range s.listeners {
		if l.name == name {
			return l.ln.Addr().String()
		}
	}
	return ""
}

// Serve serves every listener until ctx ends or one of them fails, then
// shuts down: in-flight requests get ShutdownTimeout to finish, background
// jobs stop, the API flushes its pending writes and the store is closed.
func (s *Server) Serve(ctx context.Context) error {
	errc := make(chan error, len(s.listeners))
	for _, l := range s.listeners {
		go func() {
			var err error
			if l.srv.TLSConfig != nil {
				err = l.srv.ServeTLS(l.ln, "", "")
			} else {
				err = l.srv.Serve(l.ln)
			}
			if err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("serve %s listener: %w", l.name, err)
			}
		}()
	}
	var serveErr error
	select {
	case <-ctx.Done():
		s.logger.Info("shutting down: draining in-flight requests", "timeout", s.cfg.ShutdownTimeout)
	case serveErr = <-errc:
		s.logger.Error("listener failed, shutting down", "error", serveErr)
	}
	return errors.Join(serveErr, s.Close())
}

// Close stops the servers (draining in-flight requests for up to
// ShutdownTimeout), the background jobs, the API and the store. It is safe
// to call more than once.
//
// The drainers (the AI Bridge gateway) run alongside the servers' Shutdown
// rather than after it: a stream still open near the end of the grace
// period is then ended by its owner, with a provider-shaped error event,
// before Shutdown gives up and cuts the connection. The store is closed last,
// after every drainer has flushed its records.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		var errs []error
		shutdownCtx, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
		drainCtx, cancelDrain := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout-drainMargin(s.cfg.ShutdownTimeout))
		var drainWG sync.WaitGroup
		drainErrs := make([]error, len(s.drainers))
		for i, drain := range s.drainers {
			drainWG.Go(func() { drainErrs[i] = drain(drainCtx) })
		}
		var wg sync.WaitGroup
		for _, l := range s.listeners {
			if l.srv == nil {
				_ = l.ln.Close()
				continue
			}
			wg.Go(func() {
				if err := l.srv.Shutdown(shutdownCtx); err != nil {
					// Requests still running after the grace period are cut.
					_ = l.srv.Close()
					s.logger.Warn("forced shutdown of listener", "listener", l.name, "error", err)
				}
			})
		}
		wg.Wait()
		cancel()
		drainWG.Wait()
		cancelDrain()
		errs = append(errs, drainErrs...)
		if s.bgCancel != nil {
			s.bgCancel()
		}
		s.bgWG.Wait()
		for i := len(s.closers) - 1; i >= 0; i-- {
			if err := s.closers[i](); err != nil {
				errs = append(errs, err)
			}
		}
		if s.ownsStore && s.store != nil {
			if err := s.store.Close(); err != nil {
				errs = append(errs, fmt.Errorf("close store: %w", err))
			}
		}
		if s.logger != nil {
			s.logger.Info("shutdown complete")
		}
		s.closeLogs()
		s.closeErr = errors.Join(errs...)
	})
	return s.closeErr
}

// drainMargin is how long before the end of the grace period the drainers
// end what is still running, so that their handlers have returned by the
// time the servers' Shutdown gives up: a quarter of the period, at most 1s.
func drainMargin(grace time.Duration) time.Duration {
	return min(grace/4, time.Second)
}

// printBanner tells the operator where gantry listens and, on a fresh
// deployment, how to create the first user.
func (s *Server) printBanner(ctx context.Context) {
	w := s.cfg.Stdout
	for _, l := range s.listeners {
		scheme := "http"
		if l.srv != nil && l.srv.TLSConfig != nil {
			scheme = "https"
		}
		_, _ = fmt.Fprintf(w, "Started %s listener at %s://%s\n", l.name, scheme, l.ln.Addr())
	}
	_, _ = fmt.Fprintf(w, "\nAccess URL: %s\n", s.accessURL)
	n, err := s.store.CountUsers(ctx)
	if err == nil && n == 0 {
		_, _ = fmt.Fprintf(w, "\nNo users yet. Create the first user (it becomes the owner) with:\n"+
			"  gantry login %[1]s --first-user-username admin --first-user-email admin@example.com\n"+
			"or, on this host, with the same database flags as the server:\n"+
			"  gantry server create-admin-user\n"+
			"(`coder login %[1]s` works too.)\n", s.accessURL)
	} else {
		_, _ = fmt.Fprintf(w, "Sign in with: gantry login %s\n", s.accessURL)
	}
}
