// Package apitest runs the real API on a real loopback HTTP server over a
// real, private database (SQLite, or PostgreSQL when
// GANTRY_TEST_POSTGRES_URL is set) and hands tests an sdk.Client. Tests act
// and assert only through HTTP.
package apitest

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/api"
	"gantry/internal/buildinfo"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/internal/store/dbtest"
	"gantry/internal/userpassword"
	"gantry/sdk"
)

// Default credentials of the first user.
const (
	FirstUserEmail    = "admin@example.com"
	FirstUserUsername = "admin"
	FirstUserName     = "Admin"
	FirstUserPassword = "SomeSecurePassword!1"
)

// Server is a running test deployment.
type Server struct {
	// URL is the server's base URL (http://127.0.0.1:port).
	URL *url.URL
	// HTTP is the underlying httptest server.
	HTTP *httptest.Server
	// API is the handler under test.
	API *api.API
	// Store is the store the API uses (after WithStoreWrapper, the wrapper).
	Store store.Store
	// Options are the options api.New received.
	Options api.Options
}

type config struct {
	opts       api.Options
	store      store.Store
	wrapStore  func(store.Store) store.Store
	wrapHander func(http.Handler) http.Handler
	logger     *slog.Logger
}

// Option adjusts the test deployment.
type Option func(*config)

// WithAPIOptions edits the api.Options before api.New (any area: Identity,
// Deployment, AIBridge).
func WithAPIOptions(f func(*api.Options)) Option {
	return func(c *config) { f(&c.opts) }
}

// WithIdentity edits the identity options.
func WithIdentity(f func(*api.IdentityOptions)) Option {
	return func(c *config) { f(&c.opts.Identity) }
}

// WithLogger sends the server's logs (API and access log) to l. The default
// discards them.
func WithLogger(l *slog.Logger) Option {
	return func(c *config) { c.logger = l }
}

// WithStore makes the deployment use st instead of a fresh database, e.g.
// to run two "replicas" on one database. The caller owns st.
func WithStore(st store.Store) Option {
	return func(c *config) { c.store = st }
}

// WithStoreWrapper wraps the test store, e.g. to count or fail calls.
func WithStoreWrapper(f func(store.Store) store.Store) Option {
	return func(c *config) { c.wrapStore = f }
}

// WithHandler replaces the outer middleware stack around the API. The
// default is RequestID → StaticHeaders → AccessLog → Recover, the part of
// the composition root's stack that Coder's clients depend on.
func WithHandler(f func(http.Handler) http.Handler) Option {
	return func(c *config) { c.wrapHander = f }
}

// New starts a deployment and returns an unauthenticated client for it.
// Everything is torn down when the test ends.
func New(t testing.TB, opts ...Option) (*sdk.Client, *Server) {
	t.Helper()
	c := &config{}
	// Cheap password hashing keeps tests fast; production uses the OWASP
	// defaults (userpassword.DefaultParams). Options may override it.
	c.opts.Identity.PasswordParams = userpassword.Params{Memory: 64, Time: 1, Threads: 1}
	for _, o := range opts {
		o(c)
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	c.opts.Logger = c.logger

	st := c.store
	if st == nil {
		st = dbtest.New(t)
	}
	if c.wrapStore != nil {
		st = c.wrapStore(st)
	}
	c.opts.Store = st

	srv := httptest.NewUnstartedServer(nil)
	u, err := url.Parse("http://" + srv.Listener.Addr().String())
	require.NoError(t, err)
	if c.opts.Identity.AccessURL == nil {
		c.opts.Identity.AccessURL = u
	}
	a := api.New(c.opts)
	var h http.Handler = a
	if c.wrapHander != nil {
		h = c.wrapHander(h)
	} else {
		h = httpmw.RequestID(httpmw.StaticHeaders(buildinfo.Version())(httpmw.AccessLog(c.logger)(httpmw.Recover(h))))
	}
	srv.Config.Handler = h
	srv.Start()
	// Cleanups run last-in first-out: stop HTTP, then the API's background
	// work, then (registered by dbtest.New earlier) the store.
	t.Cleanup(func() { _ = a.Close() })
	t.Cleanup(srv.Close)

	client := sdk.New(u)
	client.HTTPClient = srv.Client()
	client.HTTPClient.Timeout = 30 * time.Second
	return client, &Server{URL: u, HTTP: srv, API: a, Store: st, Options: c.opts}
}

// Context returns a context bounded by the test and by d.
func Context(t testing.TB, d time.Duration) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	t.Cleanup(cancel)
	return ctx
}

// FirstUser is the result of CreateFirstUser.
type FirstUser struct {
	UserID         string
	OrganizationID string
	Email          string
	Username       string
	Password       string
	SessionToken   string
}

// CreateFirstUser sets up the owner account, logs in, and sets the session
// token on client.
func CreateFirstUser(t testing.TB, client *sdk.Client) FirstUser {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	resp, err := client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{
		Email: FirstUserEmail, Username: FirstUserUsername, Name: FirstUserName, Password: FirstUserPassword,
	})
	require.NoError(t, err)
	login, err := client.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: FirstUserEmail, Password: FirstUserPassword})
	require.NoError(t, err)
	client.SessionToken = login.SessionToken
	return FirstUser{
		UserID:         resp.UserID.String(),
		OrganizationID: resp.OrganizationID.String(),
		Email:          FirstUserEmail,
		Username:       FirstUserUsername,
		Password:       FirstUserPassword,
		SessionToken:   login.SessionToken,
	}
}

var userSeq atomic.Int64

// CreateUser creates a user with the given site roles (none, or "member",
// for a plain member) using admin, a client of an owner, and returns a
// client signed in as the new user plus the user.
func CreateUser(t testing.TB, admin *sdk.Client, roles ...string) (*sdk.Client, sdk.User) {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	n := userSeq.Add(1)
	username := fmt.Sprintf("user%d", n)
	if len(roles) > 0 && roles[0] != "member" {
		username = fmt.Sprintf("%s%d", strings.ReplaceAll(roles[0], "-", ""), n)
	}
	email := username + "@example.com"
	password := "Test-Password-" + username
	u, err := admin.CreateUser(ctx, sdk.CreateUserRequest{Email: email, Username: username, Password: password})
	require.NoError(t, err)
	var site []string
	for _, r := range roles {
		if r != "member" && r != "" {
			site = append(site, r)
		}
	}
	if len(site) > 0 {
		u, err = admin.UpdateUserRoles(ctx, u.ID.String(), sdk.UpdateRoles{Roles: site})
		require.NoError(t, err)
	}
	c := sdk.New(admin.URL)
	c.HTTPClient = admin.HTTPClient
	login, err := c.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: email, Password: password})
	require.NoError(t, err)
	c.SessionToken = login.SessionToken
	return c, u
}

// CreateToken creates a named token for user ("me" for the client's own)
// and returns it.
func CreateToken(t testing.TB, client *sdk.Client, user, name string, lifetime time.Duration) string {
	t.Helper()
	ctx := Context(t, 30*time.Second)
	resp, err := client.CreateToken(ctx, user, sdk.CreateTokenRequest{TokenName: name, Lifetime: lifetime})
	require.NoError(t, err)
	return resp.Key
}

// WithToken returns a copy of client that authenticates with token.
func WithToken(client *sdk.Client, token string) *sdk.Client {
	c := sdk.New(client.URL)
	c.HTTPClient = client.HTTPClient
	c.SessionToken = token
	return c
}

// LogBuffer is a concurrency-safe sink for slog output, so tests can scan
// everything the server logged.
type LogBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

// Write implements io.Writer.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// NewCapturingLogger returns a debug-level JSON logger writing to a
// LogBuffer (and to w too, if not nil).
func NewCapturingLogger(w io.Writer) (*slog.Logger, *LogBuffer) {
	b := &LogBuffer{}
	var out io.Writer = b
	if w != nil {
		out = io.MultiWriter(b, w)
	}
	return slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelDebug})), b
}
