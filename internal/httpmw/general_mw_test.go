package httpmw_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"gantry/internal/httpmw"
)

// serve runs h on a loopback listener for the test.
func serve(t *testing.T, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

func do(t *testing.T, req *http.Request) (*http.Response, string) {
	t.Helper()
	c := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

func newReq(t *testing.T, method, u string) *http.Request {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, u, nil)
	require.NoError(t, err)
	return req
}

var okHandler = http.HandlerFunc(func(rw http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(rw, "ok") })

// fakeClock is a manually advanced clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *fakeClock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

func TestRateLimiterSlidingWindow(t *testing.T) {
	t.Parallel()
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	l := httpmw.NewRateLimiter(httpmw.RateLimitOptions{Limit: 2, Now: clock.Now})
	base := serve(t, l.Middleware(okHandler))

	status := func(path string) (int, http.Header) {
		resp, _ := do(t, newReq(t, http.MethodGet, base+path))
		return resp.StatusCode, resp.Header
	}
	s, h := status("/a")
	require.Equal(t, http.StatusOK, s)
	require.Equal(t, "1", h.Get("X-Ratelimit-Remaining"))
	require.Equal(t, "1800000060", h.Get("X-Ratelimit-Reset"))
	s, _ = status("/a")
	require.Equal(t, http.StatusOK, s)
	s, h = status("/a")
	require.Equal(t, http.StatusTooManyRequests, s)
	require.Equal(t, "60", h.Get("Retry-After"))

	// Just after the window: the previous window still weighs almost fully,
	// so no double burst at the boundary.
	clock.Add(61 * time.Second)
	s, _ = status("/a")
	require.Equal(t, http.StatusTooManyRequests, s)
	// Half a window later half the old count has slid out: one request fits.
	clock.Add(30 * time.Second)
	s, _ = status("/a")
	require.Equal(t, http.StatusOK, s)
	s, _ = status("/a")
	require.Equal(t, http.StatusTooManyRequests, s)
	// Two idle windows forget everything.
	clock.Add(3 * time.Minute)
	s, h = status("/a")
	require.Equal(t, http.StatusOK, s)
	require.Equal(t, "1", h.Get("X-Ratelimit-Remaining"))
}

func TestRateLimiterBoundsKeys(t *testing.T) {
	t.Parallel()
	// One key per shard: a caller spraying distinct paths ends up in one
	// overflow bucket and is still limited.
	l := httpmw.NewRateLimiter(httpmw.RateLimitOptions{Limit: 3, MaxKeys: 32})
	base := serve(t, l.Middleware(okHandler))
	limited := 0
	for i := range 20 {
		resp, _ := do(t, newReq(t, http.MethodGet, base+"/p/"+uuid.NewString()+"/"+strings.Repeat("x", i)))
		if resp.StatusCode == http.StatusTooManyRequests {
			limited++
		}
	}
	require.GreaterOrEqual(t, limited, 16, "all but the first bucket's and the overflow bucket's budget are refused")
}

func TestRateLimiterActorAndBypass(t *testing.T) {
	t.Parallel()
	actors := map[string]httpmw.Actor{
		"owner-token":  {UserID: uuid.New(), Username: "admin", Owner: true},
		"member-token": {UserID: uuid.New(), Username: "bob"},
	}
	l := httpmw.NewRateLimiter(httpmw.RateLimitOptions{Limit: 1, Actor: func(r *http.Request) (httpmw.Actor, bool) {
		a, ok := actors[r.Header.Get("Coder-Session-Token")]
		return a, ok
	}})
	base := serve(t, l.Middleware(okHandler))
	req := func(token string, bypass bool) int {
		r := newReq(t, http.MethodGet, base+"/x")
		r.Header.Set("Coder-Session-Token", token)
		if bypass {
			r.Header.Set(httpmw.BypassRateLimitHeader, "true")
		}
		resp, _ := do(t, r)
		return resp.StatusCode
	}
	require.Equal(t, http.StatusOK, req("", false))
	require.Equal(t, http.StatusTooManyRequests, req("", false))
	require.Equal(t, http.StatusTooManyRequests, req("unknown-token", false), "invalid tokens share the address bucket")
	require.Equal(t, http.StatusOK, req("member-token", false), "users have their own bucket")
	require.Equal(t, http.StatusTooManyRequests, req("member-token", false))
	require.Equal(t, http.StatusPreconditionRequired, req("member-token", true))
	for range 3 {
		require.Equal(t, http.StatusOK, req("owner-token", true))
	}
	require.Equal(t, http.StatusTooManyRequests, req("", true), "the header means nothing without a session")
}

func TestRateLimiterDisabled(t *testing.T) {
	t.Parallel()
	for _, limit := range []int64{0, -1} {
		l := httpmw.NewRateLimiter(httpmw.RateLimitOptions{Limit: limit})
		require.Nil(t, l)
		base := serve(t, l.Middleware(okHandler))
		for range 3 {
			resp, _ := do(t, newReq(t, http.MethodGet, base+"/"))
			require.Equal(t, http.StatusOK, resp.StatusCode)
			require.Empty(t, resp.Header.Get("X-Ratelimit-Limit"))
		}
	}
}

func TestCSPMerge(t *testing.T) {
	t.Parallel()
	csp, problems := httpmw.NewCSP(httpmw.CSPOptions{
		Additional: []string{
			"  MEDIA-src media.com media2.com  ",
			"img-src first.example",
			"img-src second.example", // replaces the previous entry
			"worker-src",             // no value: skipped
			"trusted-types gantry",   // not a default directive: appended
		},
		ConnectHosts: []string{"proxy.example"},
	})
	require.Len(t, problems, 1)
	require.Contains(t, problems[0], "worker-src")
	h := csp.Header("gantry.example:8080")
	for _, want := range []string{
		"media-src 'self' media.com media2.com;",
		"img-src 'self' https: data: second.example;",
		"worker-src 'self' blob:;",
		"connect-src 'self' wss://proxy.example ws://proxy.example https://proxy.example http://proxy.example wss://gantry.example:8080 ws://gantry.example:8080;",
		"trusted-types gantry;",
		"report-uri /api/v2/csp/reports;",
	} {
		require.Contains(t, h, want)
	}
	require.NotContains(t, h, "first.example")
	require.True(t, strings.HasPrefix(h, "default-src 'self'; "))

	all, _ := httpmw.NewCSP(httpmw.CSPOptions{AllowAllHosts: true})
	require.Contains(t, all.Header(""), "connect-src 'self' *;")

	base := serve(t, csp.Middleware(okHandler))
	resp, _ := do(t, newReq(t, http.MethodGet, base+"/"))
	u, _ := url.Parse(base)
	require.Equal(t, csp.Header(u.Host), resp.Header.Get("Content-Security-Policy"))
}

func TestHSTSValue(t *testing.T) {
	t.Parallel()
	v, err := httpmw.HSTSValue(0, []string{"preload"})
	require.NoError(t, err)
	require.Empty(t, v)
	v, err = httpmw.HSTSValue(31536000, []string{"includesubdomains", "Preload"})
	require.NoError(t, err)
	require.Equal(t, "max-age=31536000; includeSubDomains; preload", v)
	_, err = httpmw.HSTSValue(60, []string{"everything"})
	require.ErrorContains(t, err, `"everything"`)

	base := serve(t, httpmw.HSTS("max-age=60")(okHandler))
	resp, _ := do(t, newReq(t, http.MethodGet, base+"/"))
	require.Equal(t, "max-age=60", resp.Header.Get("Strict-Transport-Security"))
}

func TestCSRF(t *testing.T) {
	t.Parallel()
	mw := httpmw.CSRF(httpmw.CSRFOptions{ExemptPaths: []string{"/api/v2/csp/reports", "/api/v2/users/first/"}})
	base := serve(t, mw(okHandler))

	// Every response without a valid cookie gets one; Vary: Cookie always.
	resp, _ := do(t, newReq(t, http.MethodGet, base+"/api/v2/buildinfo"))
	var csrf *http.Cookie
	for _, c := range resp.Cookies() {
		if c.Name == httpmw.CSRFCookie {
			csrf = c
		}
	}
	require.NotNil(t, csrf)
	require.Len(t, csrf.Value, 44)
	require.True(t, csrf.HttpOnly)
	require.Equal(t, http.SameSiteLaxMode, csrf.SameSite)
	require.Equal(t, "/", csrf.Path)
	require.Contains(t, resp.Header.Values("Vary"), "Cookie")

	r := newReq(t, http.MethodGet, base+"/")
	r.AddCookie(csrf)
	resp, _ = do(t, r)
	require.Empty(t, resp.Cookies(), "a valid cookie is kept")

	post := func(path string, mod func(*http.Request)) (int, string) {
		r := newReq(t, http.MethodPost, base+path)
		r.AddCookie(&http.Cookie{Name: httpmw.SessionTokenCookie, Value: "abcdefghij-abcdefghijklmnopqrstuv"})
		mod(r)
		resp, body := do(t, r)
		return resp.StatusCode, body
	}
	crossSite := func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "cross-site") }
	s, body := post("/api/v2/users/me/keys", crossSite)
	require.Equal(t, http.StatusBadRequest, s)
	require.True(t, strings.HasPrefix(body, "Something is wrong with your CSRF token."))

	s, _ = post("/api/v2/users/me/keys", func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") })
	require.Equal(t, http.StatusOK, s)
	s, _ = post("/api/v2/users/me/keys", func(r *http.Request) {
		crossSite(r)
		r.Header.Set("Coder-Session-Token", "abcdefghij-abcdefghijklmnopqrstuv")
	})
	require.Equal(t, http.StatusOK, s, "a token in the header is not a browser-attached credential")
	s, _ = post("/api/v2/csp/reports", crossSite)
	require.Equal(t, http.StatusOK, s)
	s, _ = post("/api/v2/users/first/", crossSite)
	require.Equal(t, http.StatusOK, s)

	// No session cookie: nothing to forge.
	r = newReq(t, http.MethodPost, base+"/api/v2/users/login")
	r.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, _ = do(t, r)
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func TestStackHeadersLogAndRecover(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(writerFunc(func(p []byte) (int, error) {
		mu.Lock()
		defer mu.Unlock()
		return logs.Write(p)
	}), &slog.HandlerOptions{Level: slog.LevelDebug}))
	user := uuid.New()
	mux := http.NewServeMux()
	mux.HandleFunc("/panic", func(http.ResponseWriter, *http.Request) { panic("boom") })
	mux.HandleFunc("/abort", func(http.ResponseWriter, *http.Request) { panic(http.ErrAbortHandler) })
	mux.HandleFunc("/me", func(rw http.ResponseWriter, r *http.Request) {
		httpmw.SetUser(r.Context(), user, "alice")
		rw.WriteHeader(http.StatusTeapot)
	})
	h := httpmw.RequestID(httpmw.StaticHeaders("v9.9.9")(httpmw.AccessLog(logger)(httpmw.Recover(mux))))
	base := serve(t, h)

	resp, body := do(t, newReq(t, http.MethodGet, base+"/panic"))
	require.Equal(t, http.StatusInternalServerError, resp.StatusCode)
	id := resp.Header.Get(httpmw.RequestIDHeader)
	require.Len(t, id, 36)
	require.Equal(t, "v9.9.9", resp.Header.Get(httpmw.BuildVersionHeader))
	require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
	require.Contains(t, body, "An internal server error occurred.")
	require.Contains(t, body, id)
	require.NotContains(t, body, "boom", "panic values never reach the client")

	resp, _ = do(t, newReq(t, http.MethodGet, base+"/me"))
	require.Equal(t, http.StatusTeapot, resp.StatusCode)
	meID := resp.Header.Get(httpmw.RequestIDHeader)
	require.NotEqual(t, id, meID, "fresh id per request")

	_, err := http.DefaultClient.Do(newReq(t, http.MethodGet, base+"/abort"))
	require.Error(t, err, "ErrAbortHandler aborts the connection")

	mu.Lock()
	out := logs.String()
	mu.Unlock()
	require.Contains(t, out, `"msg":"handler panic"`)
	require.Contains(t, out, `"request_id":"`+id+`"`)
	require.Contains(t, out, `"status":500`)
	require.Contains(t, out, `"request_id":"`+meID+`","method":"GET","path":"/me","status":418`)
	require.Contains(t, out, `"user_id":"`+user.String()+`","username":"alice"`)
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

func TestRedirectHTTPToHTTPS(t *testing.T) {
	t.Parallel()
	base := serve(t, httpmw.RedirectHTTPToHTTPS(&url.URL{Scheme: "http", Host: "gantry.example"}, "8443"))
	r := newReq(t, http.MethodGet, base+"/api/v2/buildinfo?x=1")
	r.Host = "gantry.example:8080"
	resp, _ := do(t, r)
	require.Equal(t, http.StatusTemporaryRedirect, resp.StatusCode)
	require.Equal(t, "https://gantry.example:8443/api/v2/buildinfo?x=1", resp.Header.Get("Location"))
}
