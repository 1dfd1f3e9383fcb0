package cli_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// interceptionsFake serves GET /api/v2/aibridge/interceptions with a fixed
// page in the wire shape of the query API and records the requests.
type interceptionsFake struct {
	mu       sync.Mutex
	requests []*http.Request
}

const interceptionsBody = `{"count": 3, "results": [
 {"id": "0b6f1f7e-0000-4000-8000-000000000002", "api_key_id": "abcdefghij",
  "initiator": {"id": "4c1a0000-0000-4000-8000-000000000001", "username": "ada", "name": "Ada"},
  "provider": "anthropic", "provider_name": "anthropic-eu", "model": "claude-sonnet-4-5", "client": "Claude Code",
  "started_at": "2026-11-27T10:00:00Z", "ended_at": "2026-11-27T10:00:03Z",
  "token_usages": [{"input_tokens": 100, "output_tokens": 20}, {"input_tokens": 50, "output_tokens": 5}],
  "user_prompts": [{"prompt": "Refactor   the\nparser so that it streams tokens instead of buffering the whole file"}],
  "tool_usages": [{"tool": "Read"}, {"tool": "Edit"}], "future_field": {"kept": true}},
 {"id": "0b6f1f7e-0000-4000-8000-000000000001",
  "initiator": {"id": "4c1a0000-0000-4000-8000-000000000001", "username": "ada"},
  "provider": "openai", "provider_name": "openai", "model": "gpt-5", "client": null,
  "started_at": "2026-11-27T09:00:00Z", "ended_at": "2026-11-27T09:00:01Z",
  "token_usages": [], "user_prompts": [], "tool_usages": []}
]}`

func (f *interceptionsFake) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests = append(f.requests, r.Clone(r.Context()))
	f.mu.Unlock()
	rw.Header().Set("Content-Type", "application/json; charset=utf-8")
	switch {
	case r.Header.Get("Coder-Session-Token") != "abcdefghij-0123456789abcdefghijkl":
		rw.WriteHeader(http.StatusUnauthorized)
		_, _ = rw.Write([]byte(`{"message":"You are signed out or your session has expired. Please sign in again to continue."}`))
	case r.URL.Path != "/api/v2/aibridge/interceptions":
		rw.WriteHeader(http.StatusNotFound)
		_, _ = rw.Write([]byte(`{"message":"Route not found."}`))
	case r.URL.Query().Get("model") == "empty" || strings.Contains(r.URL.Query().Get("q"), `model:"none"`):
		_, _ = rw.Write([]byte(`{"count":0,"results":[]}`))
	default:
		_, _ = rw.Write([]byte(interceptionsBody))
	}
}

func (f *interceptionsFake) last(t *testing.T) *http.Request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(t, f.requests)
	return f.requests[len(f.requests)-1]
}

func TestAIBridgeInterceptionsList(t *testing.T) {
	t.Parallel()
	fake := &interceptionsFake{}
	srv := httptest.NewServer(fake)
	t.Cleanup(srv.Close)
	c := newCLI(t, "GANTRY_URL="+srv.URL, "GANTRY_SESSION_TOKEN=abcdefghij-0123456789abcdefghijkl")

	r := c.run("aibridge", "interceptions", "list",
		"--initiator", "me", "--provider", "anthropic-eu", "--model", "claude sonnet", "--client", "Claude Code",
		"--started-after", "2026-11-01", "--started-before", "2026-11-27T12:00:00+01:00", "--limit", "2")
	req := fake.last(t)
	assert.Equal(t, http.MethodGet, req.Method)
	assert.Equal(t, `initiator:"me" provider:"anthropic-eu" model:"claude sonnet" client:"Claude Code" `+
		`started_after:"2026-11-01T00:00:00Z" started_before:"2026-11-27T12:00:00+01:00"`, req.URL.Query().Get("q"))
	assert.Equal(t, "2", req.URL.Query().Get("limit"))
	assert.Empty(t, req.URL.Query().Get("after_id"))

	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 3, r.stdout)
	assert.Regexp(t, `^ID\s+STARTED AT\s+INITIATOR\s+PROVIDER\s+MODEL\s+CLIENT\s+INPUT\s+OUTPUT\s+TOOLS\s+PROMPT$`, lines[0])
	assert.Regexp(t, `^0b6f1f7e-0000-4000-8000-000000000002\s+2026-11-27T10:00:00Z\s+ada\s+anthropic/anthropic-eu\s+claude-sonnet-4-5\s+Claude Code\s+150\s+25\s+2\s+Refactor the parser so that it streams…$`, lines[1])
	assert.Regexp(t, `^0b6f1f7e-0000-4000-8000-000000000001\s+2026-11-27T09:00:00Z\s+ada\s+openai\s+gpt-5\s+Unknown\s+0\s+0\s+0\s*$`, lines[2])
	assert.Equal(t, "Showing 2 of 3; next page: --after-id 0b6f1f7e-0000-4000-8000-000000000001\n", r.stderr)

	// Without filters only the limit (default 100) is sent; the cursor is passed through.
	c.run("aibridge", "interceptions", "list", "--after-id", "0b6f1f7e-0000-4000-8000-000000000001")
	req = fake.last(t)
	assert.Empty(t, req.URL.Query().Get("q"))
	assert.Equal(t, "100", req.URL.Query().Get("limit"))
	assert.Equal(t, "0b6f1f7e-0000-4000-8000-000000000001", req.URL.Query().Get("after_id"))

	// JSON passes the server's objects through, unknown fields included.
	r = c.run("aibridge", "interceptions", "list", "-o", "json")
	var page struct {
		Count   int              `json:"count"`
		Results []map[string]any `json:"results"`
	}
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	assert.Equal(t, 3, page.Count)
	require.Len(t, page.Results, 2)
	assert.Equal(t, map[string]any{"kept": true}, page.Results[0]["future_field"])

	r = c.run("aibridge", "interceptions", "list", "--model", "none")
	assert.Empty(t, r.stdout)
	assert.Equal(t, "No interceptions found.\n", r.stderr)
	r = c.run("aibridge", "interceptions", "list", "--model", "none", "-o", "json")
	assert.JSONEq(t, `{"count":0,"results":[]}`, r.stdout)

	// Bad input is refused before any request.
	before := len(fake.requests)
	assert.Contains(t, c.fail("aibridge", "interceptions", "list", "--limit", "0"), "--limit must be between 1 and 1000")
	assert.Contains(t, c.fail("aibridge", "interceptions", "list", "--limit", "1001"), "--limit must be between 1 and 1000")
	assert.Contains(t, c.fail("aibridge", "interceptions", "list", "--started-after", "yesterday"), `--started-after: "yesterday" is neither`)
	fake.mu.Lock()
	assert.Len(t, fake.requests, before)
	fake.mu.Unlock()

	// Server errors reach the user with their message.
	bad := newCLI(t, "GANTRY_URL="+srv.URL, "GANTRY_SESSION_TOKEN=zzzzzzzzzz-0123456789abcdefghijkl")
	stderr := bad.fail("aibridge", "interceptions", "list")
	assert.Contains(t, stderr, "401")
	assert.Contains(t, stderr, "You are signed out")
}
