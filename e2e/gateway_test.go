//go:build unix

package e2e_test

import (
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge/mockupstream"
)

// TestAgentsThroughGantry is the acceptance test of issue 5 for the real
// agents: Claude Code and Codex, each with a member's gantry token, complete a
// turn through gantry's AI Bridge against the mock upstream; the upstream
// sees only the provider key; the turn is listed by the interceptions API
// with its client, prompt and the token usage the upstream reported.
func TestAgentsThroughGantry(t *testing.T) {
	t.Parallel()
	bins := agents(t)

	anthropicMock, openaiMock := startMock(t), startMock(t)
	anthropicP := provider{Type: "anthropic", Name: "anthropic-e2e", Key: "sk-ant-e2e-central-" + nonce(t), BaseURL: anthropicMock.URL()}
	openaiP := provider{Type: "openai", Name: "openai-e2e", Key: "sk-oai-e2e-central-" + nonce(t), BaseURL: openaiMock.URL() + "/v1"}
	// Codex with its built-in OpenAI provider, on its own provider and mock.
	builtinMock := startMock(t)
	builtinP := provider{Type: "openai", Name: "openai-builtin", Key: "sk-oai-e2e-builtin", BaseURL: builtinMock.URL() + "/v1"}
	// Claude Code's agentic loop runs on its own provider and mock.
	toolsMock := startMock(t)
	toolsP := provider{Type: "anthropic", Name: "anthropic-tools", Key: "sk-ant-e2e-tools", BaseURL: toolsMock.URL()}
	// A second pair of providers, on mocks of their own, for the runs with
	// a token gantry never issued: nothing may reach these mocks.
	rejectAnthropicMock, rejectOpenAIMock := startMock(t), startMock(t)
	rejectAnthropicP := provider{Type: "anthropic", Name: "anthropic-reject", Key: "sk-ant-e2e-reject", BaseURL: rejectAnthropicMock.URL()}
	rejectOpenAIP := provider{Type: "openai", Name: "openai-reject", Key: "sk-oai-e2e-reject", BaseURL: rejectOpenAIMock.URL() + "/v1"}
	d := startGantry(t, anthropicP, openaiP, builtinP, toolsP, rejectAnthropicP, rejectOpenAIP)
	dev, devUser := d.member(t, "dev")
	// The shape of a gantry token (<10-char id>-<22-char secret>), never issued.
	bogus := "e2eBogus00-" + strings.Repeat("x", 22)

	// An agentic loop: the mock answers every request with a call of its
	// get_weather tool, which Claude Code does not have, so Claude Code sends
	// the error back as a tool_result and asks again until --max-turns.
	// Every request is its own interception with its tool call; only the
	// first carries the prompt (the others end with a tool_result).
	t.Run("ClaudeCodeToolLoop", func(t *testing.T) {
		t.Parallel()
		key, keyID := token(t, dev, "claude-code-tools")
		prompt := "e2e tools " + nonce(t) + ": what is the weather in Paris?"
		const turns = 3
		run := claudeRunWith(t, bins.claude, d.bridgeURL(toolsP.Name), key, prompt,
			[]string{"ANTHROPIC_CUSTOM_HEADERS=X-Mock-Scenario: tool"}, "--max-turns", strconv.Itoa(turns))
		var res claudeResult
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(run.stdout)), &res), "stdout:\n%s\nstderr:\n%s", tail(run.stdout), tail(run.stderr))
		require.Equal(t, "error_max_turns", res.Subtype, "the loop must end at --max-turns, not on an error: %s", run.stdout)

		calls := modelCalls(toolsMock, "/v1/messages")
		require.Len(t, calls, turns)
		responseIDs := map[string]bool{}
		for _, c := range calls {
			require.NotEmpty(t, c.ToolCallID, "the mock must have answered with a tool call")
			responseIDs[c.ResponseID] = true
			requireNoSecret(t, c, key)
		}
		want := sumUsage(calls)
		require.Equal(t, want.Input, res.Usage.InputTokens)
		require.Equal(t, want.Output, res.Usage.OutputTokens)

		got := waitInterceptions(t, d.owner, "provider:"+toolsP.Name, turns)
		var total mockupstream.Usage
		prompts := 0
		for _, ic := range got {
			requireInterception(t, ic, devUser.ID.String(), keyID, "anthropic", toolsP.Name, claudeModel, "Claude Code")
			addUsage(&total, recordedUsage(ic))
			prompts += requirePrompts(t, ic, prompt)
			require.Len(t, ic.ToolUsages, 1, "one tool call per response")
			tu := ic.ToolUsages[0]
			require.Equal(t, mockupstream.ToolName, tu.Tool)
			require.JSONEq(t, mockupstream.ToolArguments, tu.Input)
			require.False(t, tu.Injected)
			require.True(t, responseIDs[tu.ProviderResponseID], "tool usage names response %q, which the upstream did not send (or twice)", tu.ProviderResponseID)
			delete(responseIDs, tu.ProviderResponseID)
		}
		require.Equal(t, tokensOf(want), tokensOf(total), "recorded usage must equal what the upstream reported")
		require.Equal(t, 1, prompts, "only the first request of the loop has a user prompt")
	})

	// The other common Codex setup: the built-in provider with
	// openai_base_url. Codex then tries a WebSocket on GET /v1/responses
	// first; gantry's 426 must send it to HTTP at once (a 404 costs seven
	// handshakes, four reconnect errors and about 6 s; see
	// docs/clients-wire-notes.md), and the turn must be recorded.
	t.Run("CodexBuiltinProvider", func(t *testing.T) {
		t.Parallel()
		key, keyID := token(t, dev, "codex-builtin")
		prompt := "e2e codex builtin " + nonce(t) + ": say hello"
		res := codexSetupTurn(t, bins.codex, codexBuiltinProvider, d.bridgeURL(builtinP.Name)+"/v1", key, prompt)
		require.Equal(t, []string{mockText}, trimAll(res.messages))
		// Codex reports each retried WebSocket handshake as an error event.
		require.Empty(t, res.errors, "Codex retried the WebSocket handshake instead of falling back to HTTP at once")
		var handshakes []int
		for _, line := range strings.Split(d.logs.String(), "\n") {
			var rec struct {
				Method string `json:"method"`
				Path   string `json:"path"`
				Status int    `json:"status"`
			}
			if json.Unmarshal([]byte(line), &rec) == nil && rec.Method == "GET" &&
				rec.Path == "/api/v2/aibridge/"+builtinP.Name+"/v1/responses" {
				handshakes = append(handshakes, rec.Status)
			}
		}
		require.Equal(t, []int{426}, handshakes, "one WebSocket handshake, answered 426 Upgrade Required (from gantry's access log)")

		calls := modelCalls(builtinMock, "/v1/responses")
		require.NotEmpty(t, calls)
		for _, c := range calls {
			require.Equal(t, "Bearer "+builtinP.Key, c.Header.Get("Authorization"))
			requireNoSecret(t, c, key)
		}
		got := waitInterceptions(t, d.owner, "provider:"+builtinP.Name, len(calls))
		for _, ic := range got {
			requireInterception(t, ic, devUser.ID.String(), keyID, "openai", builtinP.Name, codexModel, "Codex")
			require.Len(t, ic.UserPrompts, 1)
			require.Equal(t, prompt, ic.UserPrompts[0].Prompt)
		}
	})

	// A token gantry does not know must stop both agents at once (a 401
	// would send Claude Code into its retry loop; see
	// docs/clients-wire-notes.md) without reaching the upstream.
	t.Run("ClaudeCodeRejectedToken", func(t *testing.T) {
		t.Parallel()
		run := claudeRun(t, bins.claude, d.bridgeURL(rejectAnthropicP.Name), bogus, "e2e rejected")
		require.Error(t, run.err, "claude must fail with a token gantry never issued")
		require.Less(t, run.took, rejectDeadline, "claude must stop at once, not retry")
		require.Contains(t, run.stdout+run.stderr, "403")
		require.Empty(t, rejectAnthropicMock.Requests(), "nothing may reach the upstream")
	})
	t.Run("CodexRejectedToken", func(t *testing.T) {
		t.Parallel()
		run := codexRun(t, bins.codex, d.bridgeURL(rejectOpenAIP.Name)+"/v1", bogus, "e2e rejected")
		require.Error(t, run.err, "codex must fail with a token gantry never issued")
		require.Less(t, run.took, rejectDeadline)
		require.Contains(t, run.stdout+run.stderr, "403")
		require.Empty(t, rejectOpenAIMock.Requests(), "nothing may reach the upstream")
	})

	t.Run("ClaudeCode", func(t *testing.T) {
		t.Parallel()
		key, keyID := token(t, dev, "claude-code")
		prompt := "e2e claude " + nonce(t) + ": say hello"

		res := claudeCode(t, bins.claude, d.bridgeURL(anthropicP.Name), key, prompt)
		require.Equal(t, mockText, strings.TrimSpace(res.Result))

		calls := modelCalls(anthropicMock, "/v1/messages")
		require.NotEmpty(t, calls, "no model call reached the upstream")
		for _, c := range calls {
			require.Equal(t, "beta=true", c.RawQuery, "query string not preserved")
			require.Equal(t, claudeModel, c.Model)
			require.Equal(t, anthropicP.Key, c.Header.Get("X-Api-Key"), "upstream must get the central key")
			require.Empty(t, c.Header.Get("Authorization"), "no bearer credential may go upstream")
			require.Contains(t, c.Header.Get("Anthropic-Beta"), "claude-code-20250219", "anthropic-beta must be forwarded")
			require.Contains(t, c.Header.Get("User-Agent"), "claude-cli/")
			requireNoSecret(t, c, key)
		}
		want := sumUsage(calls)
		// What Claude Code saw is what the upstream reported.
		require.Equal(t, want.Input, res.Usage.InputTokens)
		require.Equal(t, want.Output, res.Usage.OutputTokens)
		require.Equal(t, want.CacheRead, res.Usage.CacheReadInputTokens)
		require.Equal(t, want.CacheWrite, res.Usage.CacheCreationInputTokens)

		got := waitInterceptions(t, d.owner, `provider:anthropic-e2e client:"Claude Code"`, len(calls))
		var total mockupstream.Usage
		prompts := 0
		for _, ic := range got {
			requireInterception(t, ic, devUser.ID.String(), keyID, "anthropic", anthropicP.Name, claudeModel, "Claude Code")
			addUsage(&total, recordedUsage(ic))
			prompts += requirePrompts(t, ic, prompt)
		}
		require.Equal(t, tokensOf(want), tokensOf(total), "recorded usage must equal what the upstream reported")
		require.Equal(t, len(calls), prompts, "each Claude Code request carries the prompt as its last user text")

		// The member sees their own interceptions.
		mine := waitInterceptions(t, dev, `initiator:me provider:anthropic-e2e client:"Claude Code"`, len(calls))
		require.Equal(t, got[0].ID, mine[0].ID)
	})

	t.Run("Codex", func(t *testing.T) {
		t.Parallel()
		key, keyID := token(t, dev, "codex")
		prompt := "e2e codex " + nonce(t) + ": say hello"

		res := codex(t, bins.codex, d.bridgeURL(openaiP.Name)+"/v1", key, prompt)
		require.Equal(t, []string{mockText}, trimAll(res.messages))

		calls := modelCalls(openaiMock, "/v1/responses")
		require.NotEmpty(t, calls, "no model call reached the upstream")
		for _, c := range calls {
			require.Equal(t, codexModel, c.Model)
			require.Equal(t, "Bearer "+openaiP.Key, c.Header.Get("Authorization"), "upstream must get the central key")
			require.Empty(t, c.Header.Get("X-Api-Key"))
			require.Contains(t, c.Header.Get("User-Agent"), "codex_exec/")
			require.Equal(t, res.threadID, c.Header.Get("Session-Id"), "Codex's session header must be forwarded")
			requireNoSecret(t, c, key)
		}
		want := sumUsage(calls)
		require.Equal(t, want.Input, res.usage.InputTokens)
		require.Equal(t, want.CacheRead, res.usage.CachedInputTokens)
		require.Equal(t, want.Output, res.usage.OutputTokens)

		got := waitInterceptions(t, d.owner, `provider:openai-e2e client:"Codex"`, len(calls))
		var total mockupstream.Usage
		prompts := 0
		for _, ic := range got {
			requireInterception(t, ic, devUser.ID.String(), keyID, "openai", openaiP.Name, codexModel, "Codex")
			u := recordedUsage(ic)
			// Responses input_tokens include the cached part; gantry
			// records the uncached part as input.
			u.Input += u.CacheRead
			addUsage(&total, u)
			prompts += requirePrompts(t, ic, prompt)
		}
		require.Equal(t, tokensOf(want), tokensOf(total), "recorded usage must equal what the upstream reported")
		require.Equal(t, len(calls), prompts)

		mine := waitInterceptions(t, dev, `initiator:me provider:openai-e2e client:"Codex"`, len(calls))
		require.Equal(t, got[0].ID, mine[0].ID)
	})
}

// requireInterception checks the identity fields of one recorded turn.
// recordedUsage sums the token usage recorded for one interception.
func recordedUsage(ic interception) mockupstream.Usage {
	var u mockupstream.Usage
	for _, r := range ic.TokenUsages {
		u.Input += r.InputTokens
		u.Output += r.OutputTokens
		u.CacheRead += r.CacheReadInputTokens
		u.CacheWrite += r.CacheWriteInputTokens
	}
	return u
}

func addUsage(total *mockupstream.Usage, u mockupstream.Usage) {
	total.Input += u.Input
	total.Output += u.Output
	total.CacheRead += u.CacheRead
	total.CacheWrite += u.CacheWrite
}

// requirePrompts checks every prompt recorded for ic and returns how many.
func requirePrompts(t *testing.T, ic interception, prompt string) int {
	t.Helper()
	for _, p := range ic.UserPrompts {
		require.Equal(t, prompt, p.Prompt)
	}
	return len(ic.UserPrompts)
}

func requireInterception(t *testing.T, ic interception, userID, keyID, typ, name, model, client string) {
	t.Helper()
	require.Equal(t, userID, ic.Initiator.ID.String(), "initiator")
	require.NotNil(t, ic.APIKeyID, "api_key_id")
	require.Equal(t, keyID, *ic.APIKeyID, "api_key_id is the token the agent used")
	require.Equal(t, typ, ic.Provider)
	require.Equal(t, name, ic.ProviderName)
	require.Equal(t, model, ic.Model)
	require.NotNil(t, ic.Client)
	require.Equal(t, client, *ic.Client)
	require.NotNil(t, ic.EndedAt, "interception must be ended")
	require.False(t, ic.EndedAt.Before(ic.StartedAt))
	require.NotEmpty(t, ic.TokenUsages, "token usage must be recorded")
}

// requireNoSecret fails when the gantry token reached the upstream in any
// header or in the body.
func requireNoSecret(t *testing.T, r mockupstream.Request, key string) {
	t.Helper()
	_, secret, _ := strings.Cut(key, "-")
	for name, vals := range r.Header {
		for _, v := range vals {
			require.NotContains(t, v, secret, "gantry token leaked upstream in header %s", name)
		}
	}
	require.NotContains(t, string(r.Body), secret, "gantry token leaked upstream in the body")
}

// rejectDeadline bounds a run refused by gantry: both agents then exit after
// one request (Claude Code waits about 2 s before giving up).
const rejectDeadline = 30 * time.Second

// tokens are the four counters gantry records per upstream response.
type tokens struct{ input, output, cacheRead, cacheWrite int64 }

func tokensOf(u mockupstream.Usage) tokens {
	return tokens{input: u.Input, output: u.Output, cacheRead: u.CacheRead, cacheWrite: u.CacheWrite}
}
