package aibridge_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/store"
)

func TestMain(m *testing.M) {
	// dbtest keeps one shared administrative connection pool to PostgreSQL
	// open for the whole test binary; it is not the gateway's.
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("database/sql.(*DB).connectionOpener"))
}

// Tokens the static authenticator accepts.
const (
	tokenAlice = "alice0000-secretsecretsecret"
	tokenBob   = "bob000000-secretsecretsecret"
)

var (
	aliceID = uuid.MustParse("11111111-1111-4111-8111-111111111111")
	bobID   = uuid.MustParse("22222222-2222-4222-8222-222222222222")
)

// staticAuth is the unit-test Authenticator; the acceptance tests use real
// gantry tokens.
var staticAuth = aibridge.AuthenticatorFunc(func(_ context.Context, token string) (aibridge.Actor, error) {
	switch token {
	case tokenAlice:
		return aibridge.Actor{UserID: aliceID, Username: "alice", APIKeyID: "alice0000"}, nil
	case tokenBob:
		return aibridge.Actor{UserID: bobID, Username: "bob", APIKeyID: "bob000000"}, nil
	}
	return aibridge.Actor{}, aibridge.ErrUnauthorized
})

// memWriter collects record batches (unit tests only; the acceptance tests
// write to a real database).
type memWriter struct {
	mu   sync.Mutex
	recs map[uuid.UUID]*memRecord
	// order of interception starts
	order []uuid.UUID
}

type memRecord struct {
	ic       store.Interception
	ended    *time.Time
	usages   []store.TokenUsage
	prompts  []store.UserPrompt
	tools    []store.ToolUsage
	thoughts []store.ModelThought
}

func newMemWriter() *memWriter { return &memWriter{recs: map[uuid.UUID]*memRecord{}} }

func (m *memWriter) get(id uuid.UUID) *memRecord {
	r := m.recs[id]
	if r == nil {
		r = &memRecord{}
		m.recs[id] = r
	}
	return r
}

func (m *memWriter) InsertAIBridgeBatch(_ context.Context, b store.AIBridgeBatch) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, ic := range b.Interceptions {
		r := m.get(ic.ID)
		r.ic = ic
		// Like the store: an interception may arrive already ended (the
		// recorder folds an end into a start of the same batch).
		if ic.EndedAt != nil && r.ended == nil {
			at := *ic.EndedAt
			r.ended = &at
		}
		m.order = append(m.order, ic.ID)
	}
	for _, u := range b.TokenUsages {
		r := m.get(u.InterceptionID)
		r.usages = append(r.usages, u)
	}
	for _, p := range b.UserPrompts {
		r := m.get(p.InterceptionID)
		r.prompts = append(r.prompts, p)
	}
	for _, tu := range b.ToolUsages {
		r := m.get(tu.InterceptionID)
		r.tools = append(r.tools, tu)
	}
	for _, th := range b.ModelThoughts {
		r := m.get(th.InterceptionID)
		r.thoughts = append(r.thoughts, th)
	}
	for _, e := range b.Ends {
		if r := m.get(e.ID); r.ended == nil {
			at := e.EndedAt
			r.ended = &at
		}
	}
	return nil
}

// all returns copies of every record in start order.
func (m *memWriter) all() []memRecord {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]memRecord, 0, len(m.order))
	for _, id := range m.order {
		out = append(out, *m.recs[id])
	}
	return out
}

// byResponseID finds the interception whose token usage names respID.
func (m *memWriter) byResponseID(respID string) (memRecord, bool) {
	for _, r := range m.all() {
		if slices.ContainsFunc(r.usages, func(u store.TokenUsage) bool { return u.ProviderResponseID == respID }) {
			return r, true
		}
	}
	return memRecord{}, false
}

type harness struct {
	gw     *aibridge.Gateway
	srv    *httptest.Server
	mocks  map[string]*mockupstream.Server
	rec    *memWriter
	client *http.Client
	reg    *prometheus.Registry
}

// newHarness starts one mock upstream per provider ("anthropic" of type
// anthropic, "openai" of type openai unless cfg says otherwise) and a gateway
// in front of them. mutate may change the config after the base URLs are
// set.
func newHarness(t *testing.T, providers []aibridge.Provider, mutate func(*aibridge.Config)) *harness {
	t.Helper()
	if providers == nil {
		providers = []aibridge.Provider{
			{Name: "anthropic", Type: aibridge.TypeAnthropic, Key: "sk-ant-central"},
			{Name: "openai", Type: aibridge.TypeOpenAI, Key: "sk-openai-central"},
		}
	}
	h := &harness{mocks: map[string]*mockupstream.Server{}, rec: newMemWriter()}
	cfg := aibridge.Config{StreamIdleTimeout: 10 * time.Second}
	for _, p := range providers {
		m := mockupstream.New(mockupstream.Options{KeepBodies: true, Defaults: mockupstream.Knobs{
			Chunks: 6, ChunkInterval: time.Millisecond, ChunkBytes: 16, BodyBytes: 512, Status: http.StatusOK,
		}})
		base := m.Start()
		t.Cleanup(m.Close)
		h.mocks[p.Name] = m
		if p.BaseURL == "" {
			p.BaseURL = base
			if p.Type == aibridge.TypeOpenAI {
				p.BaseURL = base + "/v1"
			}
		}
		cfg.Providers = append(cfg.Providers, p)
	}
	if mutate != nil {
		mutate(&cfg)
	}
	h.reg = prometheus.NewRegistry()
	gw, err := aibridge.New(aibridge.Options{Config: cfg, Auth: staticAuth, Store: h.rec, Registerer: h.reg})
	require.NoError(t, err)
	h.gw = gw
	h.srv = httptest.NewServer(gw)
	tr := &http.Transport{}
	h.client = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		h.srv.CloseClientConnections()
		h.srv.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, gw.Close(ctx))
	})
	return h
}

func (h *harness) url(path string) string { return h.srv.URL + path }

// flush waits until the gateway has written every record so far.
func (h *harness) flush(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.NoError(t, h.gw.Flush(ctx))
}

// waitEnded polls until n interceptions are ended (handlers end them after
// the response is complete, which can be a moment after the client sees
// it).
func (h *harness) waitEnded(t *testing.T, n int) []memRecord {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h.flush(t)
		all := h.rec.all()
		ended := 0
		for _, r := range all {
			if r.ended != nil {
				ended++
			}
		}
		if ended >= n {
			return all
		}
		if time.Now().After(deadline) {
			t.Fatalf("want %d ended interceptions, have %d of %d", n, ended, len(all))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// nopStore discards records (benchmarks).
type nopStore struct{}

func (nopStore) InsertAIBridgeBatch(context.Context, store.AIBridgeBatch) error { return nil }
