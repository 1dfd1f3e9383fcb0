package cli_test

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"gantry/internal/apitest"
	"gantry/internal/store"
	"gantry/sdk"
)

// seededInterception is what the gateway would have recorded.
type seededInterception struct {
	initiator             uuid.UUID
	provider, name, model string
	client                string
	started               time.Time
	ended                 bool
	usages                [][2]int64 // input, output per upstream response
	prompt                string
	tools                 []string
}

// seedInterceptions writes gateway records straight into the test store (as
// the gateway's recorder does) and returns their ids in the given order.
func seedInterceptions(t *testing.T, st store.Store, in ...seededInterception) []uuid.UUID {
	t.Helper()
	var b store.AIBridgeBatch
	ids := make([]uuid.UUID, len(in))
	for i, s := range in {
		id := uuid.New()
		ids[i] = id
		b.Interceptions = append(b.Interceptions, store.Interception{
			ID: id, InitiatorID: s.initiator, APIKeyID: "abcdefghij", Provider: s.provider, ProviderName: s.name,
			Model: s.model, Client: s.client, StartedAt: s.started,
		})
		for j, u := range s.usages {
			b.TokenUsages = append(b.TokenUsages, store.TokenUsage{
				ID: uuid.New(), InterceptionID: id, ProviderResponseID: "resp-" + string(rune('a'+j)),
				InputTokens: u[0], OutputTokens: u[1], CreatedAt: s.started.Add(time.Second),
			})
		}
		if s.prompt != "" {
			b.UserPrompts = append(b.UserPrompts, store.UserPrompt{
				ID: uuid.New(), InterceptionID: id, Prompt: s.prompt, CreatedAt: s.started,
			})
		}
		for j, tool := range s.tools {
			b.ToolUsages = append(b.ToolUsages, store.ToolUsage{
				ID: uuid.New(), InterceptionID: id, ProviderToolCallID: "call-" + string(rune('a'+j)),
				Tool: tool, Input: `{}`, CreatedAt: s.started.Add(time.Second),
			})
		}
		if s.ended {
			b.Ends = append(b.Ends, store.InterceptionEnd{ID: id, EndedAt: s.started.Add(3 * time.Second)})
		}
	}
	require.NoError(t, st.InsertAIBridgeBatch(apitest.Context(t, 30*time.Second), b))
	return ids
}

func TestAIBridgeInterceptionsList(t *testing.T) {
	t.Parallel()
	client, srv := apitest.New(t)
	first := apitest.CreateFirstUser(t, client)
	member, memberUser := apitest.CreateUser(t, client)
	ownerID := uuid.MustParse(first.UserID)
	base := time.Now().UTC().Truncate(time.Second).Add(-3 * time.Hour)

	ids := seedInterceptions(t, srv.Store,
		seededInterception{
			initiator: ownerID, provider: "anthropic", name: "anthropic-eu", model: "claude-sonnet-4-5",
			client: "Claude Code", started: base.Add(time.Hour), ended: true,
			usages: [][2]int64{{100, 20}, {50, 5}},
			prompt: "Refactor   the\nparser so that it streams tokens instead of buffering the whole file",
			tools:  []string{"Read", "Edit"},
		},
		seededInterception{
			initiator: ownerID, provider: "openai", name: "openai", model: "gpt-5", started: base, ended: true,
			usages: [][2]int64{{7, 3}},
		},
		seededInterception{
			initiator: memberUser.ID, provider: "openai", name: "openai", model: "gpt-5", client: "Codex",
			started: base.Add(2 * time.Hour), ended: true, prompt: "hi",
		},
		// Still running: never listed.
		seededInterception{
			initiator: ownerID, provider: "openai", name: "openai", model: "gpt-5", started: base.Add(150 * time.Minute),
		},
	)
	claude, gpt, codex := ids[0].String(), ids[1].String(), ids[2].String()

	owner := newCLI(t, "GANTRY_URL="+srv.URL.String(), "GANTRY_SESSION_TOKEN="+first.SessionToken)
	list := func(c *cliEnv, args ...string) []string {
		t.Helper()
		r := c.run(append([]string{"aibridge", "interceptions", "list"}, args...)...)
		var got []string
		for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n")[1:] {
			got = append(got, strings.Fields(line)[0])
		}
		return got
	}

	r := owner.run("aibridge", "interceptions", "list")
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	require.Len(t, lines, 4, r.stdout)
	assert.Regexp(t, `^ID\s+STARTED AT\s+INITIATOR\s+PROVIDER\s+MODEL\s+CLIENT\s+INPUT\s+OUTPUT\s+TOOLS\s+PROMPT$`, lines[0])
	assert.Regexp(t, `^`+codex+`\s+\S+\s+`+memberUser.Username+`\s+openai\s+gpt-5\s+Codex\s+0\s+0\s+0\s+hi$`, lines[1])
	assert.Regexp(t, `^`+claude+`\s+`+regexp.QuoteMeta(base.Add(time.Hour).Format(time.RFC3339))+
		`\s+admin\s+anthropic/anthropic-eu\s+claude-sonnet-4-5\s+Claude Code\s+150\s+25\s+2\s+Refactor the parser so that it streams…$`, lines[2])
	assert.Regexp(t, `^`+gpt+`\s+\S+\s+admin\s+openai\s+gpt-5\s+Unknown\s+7\s+3\s+0\s*$`, lines[3])
	assert.Empty(t, r.stderr)

	// Each filter reaches the server.
	assert.Equal(t, []string{claude, gpt}, list(owner, "--initiator", "me"))
	assert.Equal(t, []string{codex}, list(owner, "--initiator", memberUser.Username))
	assert.Equal(t, []string{claude}, list(owner, "--provider", "anthropic-eu"))
	assert.Equal(t, []string{codex, gpt}, list(owner, "--model", "gpt-5"))
	assert.Equal(t, []string{codex}, list(owner, "--client", "Codex"))
	assert.Equal(t, []string{gpt}, list(owner, "--client", "Unknown"))
	assert.Equal(t, []string{codex, claude}, list(owner, "--started-after", base.Add(30*time.Minute).Format(time.RFC3339)))
	assert.Equal(t, []string{gpt}, list(owner, "--started-before", base.Add(30*time.Minute).Format(time.RFC3339)))

	// Paging with the cursor the table suggests.
	r = owner.run("aibridge", "interceptions", "list", "--limit", "2")
	assert.Equal(t, "2 of 3 matching interceptions shown; next page: --after-id "+claude+"\n", r.stderr)
	assert.Equal(t, []string{gpt}, list(owner, "--limit", "2", "--after-id", claude))

	r = owner.run("aibridge", "interceptions", "list", "-o", "json")
	var page sdk.AIBridgeListInterceptionsResponse
	require.NoError(t, json.Unmarshal([]byte(r.stdout), &page))
	assert.EqualValues(t, 3, page.Count)
	require.Len(t, page.Results, 3)
	assert.Equal(t, ids[0], page.Results[1].ID)
	require.Len(t, page.Results[1].TokenUsages, 2)
	assert.EqualValues(t, 150, page.Results[1].TokenUsages[0].InputTokens+page.Results[1].TokenUsages[1].InputTokens)
	assert.Equal(t, "admin", page.Results[1].Initiator.Username)

	r = owner.run("aibridge", "interceptions", "list", "--model", "none")
	assert.Empty(t, r.stdout)
	assert.Equal(t, "No interceptions found.\n", r.stderr)
	r = owner.run("aibridge", "interceptions", "list", "--model", "none", "-o", "json")
	assert.JSONEq(t, `{"count":0,"results":[]}`, r.stdout)

	// Members see only their own.
	m := newCLI(t, "GANTRY_URL="+srv.URL.String(), "GANTRY_SESSION_TOKEN="+member.SessionToken)
	assert.Equal(t, []string{codex}, list(m))

	// Bad input is refused before any request, with the flag named.
	assert.Contains(t, owner.fail("aibridge", "interceptions", "list", "--limit", "0"), "--limit must be between 1 and 1000")
	assert.Contains(t, owner.fail("aibridge", "interceptions", "list", "--limit", "1001"), "--limit must be between 1 and 1000")
	assert.Contains(t, owner.fail("aibridge", "interceptions", "list", "--started-after", "yesterday"), `--started-after: "yesterday" is neither`)
	assert.Contains(t, owner.fail("aibridge", "interceptions", "list", "--after-id", "42"), `--after-id "42" is not an interception id`)

	// Server errors reach the user with their message.
	bad := newCLI(t, "GANTRY_URL="+srv.URL.String(), "GANTRY_SESSION_TOKEN=zzzzzzzzzz-0123456789abcdefghijkl")
	stderr := bad.fail("aibridge", "interceptions", "list")
	assert.Contains(t, stderr, "401")
	assert.Contains(t, stderr, "gantry login")
}
