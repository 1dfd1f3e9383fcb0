//go:build unix

package e2e_test

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// The control: both agents straight against the mock. When this passes and
// TestAgentsThroughGantry fails, the fault is gantry's, not the mock's.
func TestAgentsAgainstMock(t *testing.T) {
	t.Parallel()
	bins := agents(t)

	t.Run("ClaudeCode", func(t *testing.T) {
		t.Parallel()
		mock := startMock(t)
		res := claudeCode(t, bins.claude, mock.URL(), "sk-ant-direct", "say hello")
		calls := modelCalls(mock, "/v1/messages")
		require.NotEmpty(t, calls)
		require.Equal(t, mockText, strings.TrimSpace(res.Result))
		want := sumUsage(calls)
		require.Equal(t, want.Input, res.Usage.InputTokens)
		require.Equal(t, want.Output, res.Usage.OutputTokens)
		require.Equal(t, want.CacheRead, res.Usage.CacheReadInputTokens)
		require.Equal(t, want.CacheWrite, res.Usage.CacheCreationInputTokens)
	})

	t.Run("ClaudeCodeToolLoop", func(t *testing.T) {
		t.Parallel()
		mock := startMock(t)
		run := claudeRunWith(t, bins.claude, mock.URL(), "sk-ant-direct", "what is the weather in Paris?",
			[]string{"ANTHROPIC_CUSTOM_HEADERS=X-Mock-Scenario: tool"}, "--max-turns", "3")
		var res claudeResult
		require.NoError(t, json.Unmarshal([]byte(strings.TrimSpace(run.stdout)), &res), "stdout:\n%s\nstderr:\n%s", tail(run.stdout), tail(run.stderr))
		require.Equal(t, "error_max_turns", res.Subtype)
		calls := modelCalls(mock, "/v1/messages")
		require.Len(t, calls, 3)
		for _, c := range calls[1:] {
			// Every later request returns the previous tool call's result.
			require.Contains(t, string(c.Body), `"tool_result"`)
		}
		require.Equal(t, sumUsage(calls).Input, res.Usage.InputTokens)
	})

	t.Run("Codex", func(t *testing.T) {
		t.Parallel()
		mock := startMock(t)
		res := codex(t, bins.codex, mock.URL()+"/v1", "sk-oai-direct", "say hello")
		calls := modelCalls(mock, "/v1/responses")
		require.NotEmpty(t, calls)
		require.Equal(t, []string{mockText}, trimAll(res.messages))
		want := sumUsage(calls)
		require.Equal(t, want.Input, res.usage.InputTokens) // OpenAI input includes the cached part
		require.Equal(t, want.CacheRead, res.usage.CachedInputTokens)
		require.Equal(t, want.Output, res.usage.OutputTokens)
	})
}

func nonce(t *testing.T) string {
	t.Helper()
	var b [4]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

func trimAll(ss []string) []string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = strings.TrimSpace(s)
	}
	return out
}
