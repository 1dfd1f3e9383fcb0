package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"gantry/internal/authz"
	"gantry/internal/buildinfo"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/site"
	"gantry/internal/updatecheck"
	"gantry/sdk"
)

// DeploymentOptions configure the General endpoints and the /api/v2-wide
// HTTP policy. internal/app fills them from the deployment values; every
// field is computed once at start-up, so the handlers only write.
type DeploymentOptions struct {
	// BuildInfo is served by GET /buildinfo.
	BuildInfo sdk.BuildInfoResponse
	// ConfigJSON is the complete body of GET /deployment/config, encoded once
	// at start-up with secrets already removed (the config package's
	// redaction helpers).
	ConfigJSON []byte
	// SSH is served by GET /deployment/ssh.
	SSH sdk.SSHConfigResponse
	// Experiments are the enabled experiments, already expanded by
	// ExpandExperiments.
	Experiments []string
	// Stats feeds GET /deployment/stats; nil answers "still processing".
	Stats *StatsCache
	// UpdateCheck feeds GET /updatecheck; nil means the check is disabled.
	UpdateCheck *updatecheck.Checker

	// RateLimit is the API rate limit per caller and endpoint per minute
	// (--api-rate-limit); zero or negative, or DisableRateLimits, turns it off.
	RateLimit         int64
	DisableRateLimits bool
	// CSRF configures the anti-CSRF cookie and check on /api/v2.
	CSRF httpmw.CSRFOptions
	// CSP is the Content-Security-Policy of the HTML pages; nil sends none.
	CSP *httpmw.CSP
	// SwaggerEnabled serves the OpenAPI document and its viewer at /swagger.
	SwaggerEnabled bool
	// AccessURL is shown on the HTML pages.
	AccessURL string
}

// Routes exposes the route table, so tests can check that the OpenAPI
// document lists every route.
func (a *API) Routes() chi.Routes {
	r, ok := a.handler.(chi.Routes)
	if !ok {
		panic("developer error: the API handler is not a chi router")
	}
	return r
}

// generalMiddleware is the middleware every /api/v2 route passes through,
// except the AI Bridge gateway (mounted separately, with its own limits):
// the API rate limiter, keyed by user when the request carries a valid
// token, and the CSRF cookie and check.
func (a *API) generalMiddleware() []func(http.Handler) http.Handler {
	d := a.opts.Deployment
	limit := d.RateLimit
	if d.DisableRateLimits {
		limit = 0
	}
	limiter := httpmw.NewRateLimiter(httpmw.RateLimitOptions{
		Limit: limit,
		Now:   a.opts.Now,
		Actor: a.rateLimitActor,
	})
	return []func(http.Handler) http.Handler{limiter.Middleware, httpmw.CSRF(d.CSRF)}
}

// rateLimitActor identifies the caller for the rate limiter through the
// authenticator's in-memory cache, so a valid token costs no query.
// Requests without a usable token are keyed by address instead.
func (a *API) rateLimitActor(r *http.Request) (httpmw.Actor, bool) {
	token := httpmw.APITokenFromRequest(r)
	if token == "" {
		return httpmw.Actor{}, false
	}
	// Shared with the API-key middleware further in: one validation per
	// request (it also records the address with the hourly usage write).
	id, err := httpmw.Authenticate(r, a.ident.authn, token)
	if err != nil {
		return httpmw.Actor{}, false
	}
	return httpmw.Actor{UserID: id.UserID, Username: id.Username, Owner: id.Subject().Can(authz.BypassRateLimit)}, true
}

// siteRoutes registers the non-API pages: the landing page and /cli-auth
// (HTML, with the Content-Security-Policy), their assets, /healthz and the
// OpenAPI document at /swagger.
func (a *API) siteRoutes(r chi.Router) {
	d := a.opts.Deployment
	pages, err := site.New(site.Options{Version: d.BuildInfo.Version, AccessURL: d.AccessURL})
	if err != nil {
		// The templates are embedded and parsed at init; this cannot fail at
		// run time.
		panic("developer error: render site pages: " + err.Error())
	}
	html := r.With()
	if d.CSP != nil {
		html = r.With(d.CSP.Middleware)
	}
	html.Get("/", pages.Landing)
	html.Get("/cli-auth", pages.CLIAuth)
	r.Get("/assets/*", pages.Asset)
	r.Get("/healthz", a.healthz)
	r.Head("/healthz", a.healthz)

	if !d.SwaggerEnabled {
		disabled := func(rw http.ResponseWriter, r *http.Request) {
			httpapi.Write(r.Context(), rw, http.StatusNotFound, sdk.Response{Message: "Swagger documentation is disabled."})
		}
		r.HandleFunc("/swagger", disabled)
		r.HandleFunc("/swagger/*", disabled)
		return
	}
	r.Get("/swagger", func(rw http.ResponseWriter, r *http.Request) {
		http.Redirect(rw, r, "/swagger/index.html", http.StatusFound)
	})
	html.Get("/swagger/index.html", pages.SwaggerUI)
	r.Get("/swagger/doc.json", a.openAPIDocument())
}

// openAPIDocument serves the OpenAPI document, built on first use (the
// route table is complete by then) from the hand-written descriptions and
// the routes, so it lists every route.
func (a *API) openAPIDocument() http.HandlerFunc {
	var (
		once sync.Once
		doc  []byte
		err  error
	)
	return func(rw http.ResponseWriter, r *http.Request) {
		once.Do(func() { doc, err = a.buildOpenAPI() })
		if err != nil {
			httpapi.InternalServerError(rw, r, err)
			return
		}
		rw.Header().Set("Content-Type", "application/json; charset=utf-8")
		_, _ = rw.Write(doc)
	}
}

func (a *API) buildOpenAPI() ([]byte, error) {
	var routes []site.Route
	err := chi.Walk(a.Routes(), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		path, ok := strings.CutPrefix(route, "/api/v2")
		if !ok || strings.HasSuffix(path, "/*") {
			return nil // HTML pages, /healthz; mounts (the gateway speaks its providers' APIs)
		}
		if len(path) > 1 {
			path = strings.TrimSuffix(path, "/")
		}
		if path == "" {
			path = "/"
		}
		routes = append(routes, site.Route{Method: method, Path: path})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("walk routes: %w", err)
	}
	return site.OpenAPIDocument(routes)
}

// SafeExperiments are the experiments "*" enables (v2.36.1's list). Data,
// not code: it changes with every Coder release.
var SafeExperiments = []string{"minimum-implicit-member"}

// KnownExperiments are the experiment names of the Coder release gantry
// follows; others are accepted but logged as unknown.
var KnownExperiments = []string{
	"example", "auto-fill-parameters", "notifications", "workspace-usage", "oauth2",
	"mcp-server-http", "nats_pubsub", "workspace-build-updates", "minimum-implicit-member",
	"ai-gateway-cost-control", "chat-advisor", "chat-virtual-desktop",
}

// ExpandExperiments turns the --experiments values into the enabled list the
// way Coder does: "*" adds the safe experiments, every other entry is
// lower-cased and kept (even unknown ones), order is preserved and the result
// is never nil.
func ExpandExperiments(raw []string) []string {
	out := make([]string, 0, len(raw))
	for _, e := range raw {
		if e == "*" {
			out = append(out, SafeExperiments...)
			continue
		}
		out = append(out, strings.ToLower(e))
	}
	return out
}

// @Summary API root handler
// @Router / [get]
func (a *API) apiRoot(rw http.ResponseWriter, r *http.Request) {
	httpapi.Write(r.Context(), rw, http.StatusOK, sdk.Response{Message: "👋"})
}

// @Summary Build info
// @Router /buildinfo [get]
func (a *API) buildInfo(rw http.ResponseWriter, r *http.Request) {
	httpapi.Write(r.Context(), rw, http.StatusOK, a.opts.Deployment.BuildInfo)
}

// @Summary Get deployment config
// @Security CoderSessionToken
// @Router /deployment/config [get]
func (a *API) deploymentConfig(rw http.ResponseWriter, r *http.Request) {
	if !httpmw.Subject(r).Can(authz.ReadDeploymentConfig) {
		httpapi.Forbidden(rw, r)
		return
	}
	body := a.opts.Deployment.ConfigJSON
	if len(body) == 0 {
		body = []byte("{}\n")
	}
	httpapi.WriteRaw(rw, http.StatusOK, body)
}

// @Summary Get deployment stats
// @Security CoderSessionToken
// @Router /deployment/stats [get]
func (a *API) deploymentStats(rw http.ResponseWriter, r *http.Request) {
	if !httpmw.Subject(r).Can(authz.ReadDeploymentStats) {
		httpapi.Forbidden(rw, r)
		return
	}
	stats, ok := a.opts.Deployment.Stats.Get()
	if !ok {
		httpapi.Write(r.Context(), rw, http.StatusBadRequest, sdk.Response{Message: "Deployment stats are still processing!"})
		return
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, stats)
}

// @Summary SSH config
// @Security CoderSessionToken
// @Router /deployment/ssh [get]
func (a *API) deploymentSSH(rw http.ResponseWriter, r *http.Request) {
	ssh := a.opts.Deployment.SSH
	if ssh.SSHConfigOptions == nil {
		ssh.SSHConfigOptions = map[string]string{}
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, ssh)
}

// @Summary Get enabled experiments
// @Security CoderSessionToken
// @Router /experiments [get]
func (a *API) experiments(rw http.ResponseWriter, r *http.Request) {
	exps := a.opts.Deployment.Experiments
	if exps == nil {
		exps = []string{}
	}
	httpapi.Write(r.Context(), rw, http.StatusOK, exps)
}

// @Summary Get safe experiments
// @Security CoderSessionToken
// @Router /experiments/available [get]
func (a *API) availableExperiments(rw http.ResponseWriter, r *http.Request) {
	httpapi.Write(r.Context(), rw, http.StatusOK, sdk.AvailableExperiments{Safe: SafeExperiments})
}

// @Summary Update check
// @Router /updatecheck [get]
func (a *API) updateCheck(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	version := a.opts.Deployment.BuildInfo.Version
	if version == "" {
		version = buildinfo.Version()
	}
	own := sdk.UpdateCheckResponse{Current: true, Version: version, URL: buildinfo.ExternalURL()}
	if a.opts.Deployment.UpdateCheck == nil {
		httpapi.Write(ctx, rw, http.StatusOK, own)
		return
	}
	// Latest waits for the first check after start-up; do not let a slow
	// release feed hold the request for long.
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := a.opts.Deployment.UpdateCheck.Latest(lctx)
	switch {
	case errors.Is(err, updatecheck.ErrNoResult), errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		httpapi.Write(ctx, rw, http.StatusOK, own)
		return
	case err != nil:
		httpapi.InternalServerError(rw, r, err)
		return
	}
	httpapi.Write(ctx, rw, http.StatusOK, sdk.UpdateCheckResponse{
		Current: updatecheck.IsCurrent(version, res.Version),
		Version: res.Version,
		URL:     res.URL,
	})
}

// maxCSPReportBytes bounds a CSP report body (Coder's limit).
const maxCSPReportBytes = 64 * 1024

// @Summary Report CSP violations
// @Router /csp/reports [post]
func (a *API) postCSPReport(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	var v sdk.CSPViolation
	err := json.NewDecoder(http.MaxBytesReader(rw, r.Body, maxCSPReportBytes)).Decode(&v)
	if err != nil {
		if _, tooLarge := errors.AsType[*http.MaxBytesError](err); tooLarge {
			httpapi.Write(ctx, rw, http.StatusRequestEntityTooLarge, sdk.Response{
				Message: "Request body too large.",
				Detail:  "Maximum CSP report size is 65536 bytes.",
			})
			return
		}
		httpapi.Logger(ctx).WarnContext(ctx, "CSP violation report with invalid JSON", "error", err)
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
			Message: "Failed to read body, invalid json.",
			Detail:  err.Error(),
		})
		return
	}
	attrs := make([]any, 0, 2*len(v.Report))
	for k, val := range v.Report {
		attrs = append(attrs, slog.Any(k, val))
	}
	httpapi.Logger(ctx).DebugContext(ctx, "CSP violation reported", attrs...)
	httpapi.Write(ctx, rw, http.StatusOK, "ok")
}

// @Summary Health check
// @Router /healthz [get]
func (a *API) healthz(rw http.ResponseWriter, _ *http.Request) {
	rw.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, _ = rw.Write([]byte("OK"))
}

// StatsCache holds the deployment statistics, refreshed in the background
// on an interval, like Coder's metrics cache. gantry manages no workspaces,
// so the workspace and session counts are truthfully zero and the latency
// percentiles -1 ("no data"); each refresh pings the store, so stats stop
// advancing when the database is unreachable.
type StatsCache struct {
	interval time.Duration
	ping     func(context.Context) error
	now      func() time.Time
	logger   *slog.Logger

	mu    sync.RWMutex
	stats *sdk.DeploymentStats
}

// statsWindow is how far back the (empty) agent statistics reach.
const statsWindow = 15 * time.Minute

// NewStatsCache returns a cache refreshed every interval (default 30s) once
// Run is started. ping checks the database (nil skips the check).
func NewStatsCache(interval time.Duration, ping func(context.Context) error, now func() time.Time, logger *slog.Logger) *StatsCache {
	if interval <= 0 {
		interval = 30 * time.Second
	}
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	return &StatsCache{interval: interval, ping: ping, now: now, logger: logger}
}

// Get returns the last statistics; false until the first refresh.
func (c *StatsCache) Get() (sdk.DeploymentStats, bool) {
	if c == nil {
		return sdk.DeploymentStats{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.stats == nil {
		return sdk.DeploymentStats{}, false
	}
	return *c.stats, true
}

// Run refreshes until ctx ends. A failed refresh is retried with backoff
// (100ms doubling to one minute) and keeps the previous statistics.
func (c *StatsCache) Run(ctx context.Context) {
	backoff := 100 * time.Millisecond
	for {
		wait := c.interval
		if err := c.refresh(ctx); err != nil {
			if ctx.Err() != nil {
				return
			}
			c.logger.WarnContext(ctx, "refresh deployment stats", "error", err)
			wait = backoff
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = 100 * time.Millisecond
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *StatsCache) refresh(ctx context.Context) error {
	if c.ping != nil {
		if err := c.ping(ctx); err != nil {
			return err
		}
	}
	now := c.now().UTC()
	s := &sdk.DeploymentStats{
		AggregatedFrom: now.Add(-statsWindow),
		CollectedAt:    now,
		NextUpdateAt:   now.Add(c.interval),
		Workspaces: sdk.WorkspaceDeploymentStats{
			ConnectionLatencyMS: sdk.WorkspaceConnectionLatencyMS{P50: -1, P95: -1},
		},
	}
	c.mu.Lock()
	c.stats = s
	c.mu.Unlock()
	return nil
}
