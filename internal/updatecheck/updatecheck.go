// Package updatecheck asks a release feed whether a newer gantry exists.
//
// The feed is a GitHub-style "latest release" JSON document ({"tag_name",
// "html_url"}). Each replica polls it on an interval and stores the answer in
// the store's site configuration, so every replica (and a restarted one)
// serves the same result from GET /api/v2/updatecheck, and a fresh result
// saved by one replica spares the others a request.
package updatecheck

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/semver"

	"gantry/internal/store"
)

// SiteConfigKey is where the last result is stored.
const SiteConfigKey = "last_update_check"

// ErrNoResult means no check has succeeded yet on any replica.
var ErrNoResult = errors.New("no update check result yet")

// Result is the outcome of one successful check.
type Result struct {
	Checked time.Time `json:"checked"`
	Version string    `json:"version"`
	URL     string    `json:"url"`
}

// SiteConfig is the part of store.Store the checker uses.
type SiteConfig interface {
	GetSiteConfig(ctx context.Context, key string) (string, error)
	UpsertSiteConfig(ctx context.Context, key, value string) error
}

// Options configure a Checker.
type Options struct {
	Store SiteConfig
	// URL of the latest-release JSON document.
	URL string
	// Interval between checks; default 24h.
	Interval time.Duration
	// Timeout bounds one attempt; default 30s.
	Timeout    time.Duration
	HTTPClient *http.Client
	Logger     *slog.Logger
	// CurrentVersion is the running version; a newer release is logged.
	CurrentVersion string
	Now            func() time.Time
}

// Checker polls the release feed. Run it in a goroutine; Latest serves the
// stored result.
type Checker struct {
	opts      Options
	firstOnce sync.Once
	first     chan struct{} // closed after the initial attempt
}

// New returns a checker; nothing happens until Run.
func New(opts Options) *Checker {
	if opts.Interval <= 0 {
		opts.Interval = 24 * time.Hour
	}
	if opts.Timeout <= 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = &http.Client{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Checker{opts: opts, first: make(chan struct{})}
}

// Run checks now if the stored result is missing or older than the interval,
// then again each time the stored result becomes due, until ctx ends.
func (c *Checker) Run(ctx context.Context) {
	defer c.markFirst()
	for {
		wait := c.opts.Interval
		last, err := c.stored(ctx)
		switch {
		case err == nil && c.opts.Now().Sub(last.Checked) < c.opts.Interval:
			// Fresh enough (maybe another replica's): wait until it is due.
			wait = c.opts.Interval - c.opts.Now().Sub(last.Checked)
		case err != nil && !errors.Is(err, ErrNoResult):
			c.opts.Logger.WarnContext(ctx, "read last update check", "error", err)
		default:
			if r, err := c.check(ctx); err != nil {
				if ctx.Err() != nil {
					return
				}
				c.opts.Logger.WarnContext(ctx, "update check failed", "error", err)
				// Retry sooner than a full interval after a failure.
				wait = min(c.opts.Interval, time.Hour)
			} else if !IsCurrent(c.opts.CurrentVersion, r.Version) {
				c.opts.Logger.InfoContext(ctx, "a new version of gantry is available",
					"current", c.opts.CurrentVersion, "latest", r.Version, "url", r.URL)
			}
		}
		c.markFirst()
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

func (c *Checker) markFirst() { c.firstOnce.Do(func() { close(c.first) }) }

// Latest waits for the initial attempt of Run (or ctx) and returns the stored
// result; ErrNoResult when no check has succeeded.
func (c *Checker) Latest(ctx context.Context) (Result, error) {
	select {
	case <-c.first:
	case <-ctx.Done():
		return Result{}, ctx.Err()
	}
	return c.stored(ctx)
}

func (c *Checker) stored(ctx context.Context) (Result, error) {
	raw, err := c.opts.Store.GetSiteConfig(ctx, SiteConfigKey)
	if errors.Is(err, store.ErrNotFound) {
		return Result{}, ErrNoResult
	}
	if err != nil {
		return Result{}, fmt.Errorf("get last update check: %w", err)
	}
	var r Result
	if err := json.Unmarshal([]byte(raw), &r); err != nil {
		return Result{}, fmt.Errorf("decode last update check: %w", err)
	}
	return r, nil
}

// check fetches the feed once and stores the result.
func (c *Checker) check(ctx context.Context) (Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.opts.URL, nil)
	if err != nil {
		return Result{}, fmt.Errorf("new request: %w", err)
	}
	req.Header.Set("Accept", "application/vnd.github+json, application/json")
	resp, err := c.opts.HTTPClient.Do(req)
	if err != nil {
		return Result{}, fmt.Errorf("get latest release: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return Result{}, fmt.Errorf("get latest release: unexpected status %s", resp.Status)
	}
	var rel struct {
		TagName string `json:"tag_name"`
		HTMLURL string `json:"html_url"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&rel); err != nil {
		return Result{}, fmt.Errorf("decode latest release: %w", err)
	}
	if rel.TagName == "" {
		return Result{}, errors.New("decode latest release: no tag_name")
	}
	r := Result{Checked: c.opts.Now().UTC(), Version: rel.TagName, URL: rel.HTMLURL}
	raw, err := json.Marshal(r)
	if err != nil {
		return Result{}, fmt.Errorf("encode update check: %w", err)
	}
	if err := c.opts.Store.UpsertSiteConfig(ctx, SiteConfigKey, string(raw)); err != nil {
		return Result{}, fmt.Errorf("store update check: %w", err)
	}
	return r, nil
}

// IsCurrent reports whether current is at least latest. Development builds
// ("v0.0.0-devel+abc") compare by their release part only, so they are
// never newer than a real release.
func IsCurrent(current, latest string) bool {
	if strings.Contains(current, "-devel") {
		current, _, _ = strings.Cut(current, "-")
	}
	return semver.Compare(current, latest) >= 0
}
