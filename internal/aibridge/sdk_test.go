package aibridge_test

import (
	"net/http"
	"testing"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/require"
	"github.com/tidwall/gjson"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
)

func (h *harness) anthropicClient(extra ...aoption.RequestOption) *anthropic.Client {
	opts := append([]aoption.RequestOption{
		aoption.WithoutEnvironmentDefaults(),
		aoption.WithBaseURL(h.url("/api/v2/aibridge/anthropic/")),
		aoption.WithAPIKey(tokenAlice),
		aoption.WithHTTPClient(h.client),
		aoption.WithMaxRetries(0),
		aoption.WithHeader("X-Mock-Scenario", "tool,thinking"),
	}, extra...)
	c := anthropic.NewClient(opts...)
	return &c
}

func (h *harness) openaiClient(extra ...ooption.RequestOption) *openai.Client {
	opts := append([]ooption.RequestOption{
		ooption.WithBaseURL(h.url("/api/v2/aibridge/openai/v1/")),
		ooption.WithAPIKey(tokenAlice),
		ooption.WithHTTPClient(h.client),
		ooption.WithMaxRetries(0),
		ooption.WithHeader("X-Mock-Scenario", "tool,thinking"),
	}, extra...)
	c := openai.NewClient(opts...)
	return &c
}

// lastRequest returns the mock's record of its latest request.
func lastRequest(t *testing.T, m *mockupstream.Server) mockupstream.Request {
	t.Helper()
	reqs := m.Requests()
	require.NotEmpty(t, reqs)
	return reqs[len(reqs)-1]
}

// requireAnthropicRecord checks that the gateway recorded exactly what the
// mock reported for its latest request.
func requireAnthropicRecord(t *testing.T, h *harness, prompt string) {
	t.Helper()
	h.waitEnded(t, 1)
	up := lastRequest(t, h.mocks["anthropic"])
	require.True(t, up.UsageSent)
	rec, ok := h.rec.byResponseID(up.ResponseID)
	require.True(t, ok, "no record for %s", up.ResponseID)
	require.NotNil(t, rec.ended)
	require.Equal(t, aliceID, rec.ic.InitiatorID)
	require.Equal(t, "alice0000", rec.ic.APIKeyID)
	require.Equal(t, "anthropic", rec.ic.Provider)
	require.Equal(t, "anthropic", rec.ic.ProviderName)
	require.Equal(t, "claude-mock-1", rec.ic.Model)
	require.Len(t, rec.usages, 1)
	u := rec.usages[0]
	require.Equal(t, up.Usage.Input, u.InputTokens)
	require.Equal(t, up.Usage.Output, u.OutputTokens)
	require.Equal(t, up.Usage.CacheRead, u.CacheReadInputTokens)
	require.Equal(t, up.Usage.CacheWrite, u.CacheWriteInputTokens)
	require.Equal(t, up.Usage.CacheWrite, gjson.GetBytes(u.Metadata, "cache_ephemeral_5m_input").Int())
	require.Len(t, rec.prompts, 1)
	require.Equal(t, prompt, rec.prompts[0].Prompt)
	require.Len(t, rec.tools, 1)
	require.Equal(t, mockupstream.ToolName, rec.tools[0].Tool)
	require.Equal(t, up.ToolCallID, rec.tools[0].ProviderToolCallID)
	require.JSONEq(t, mockupstream.ToolArguments, rec.tools[0].Input)
	require.False(t, rec.tools[0].Injected)
	require.Len(t, rec.thoughts, 1)
	require.Equal(t, mockupstream.ThinkingText, rec.thoughts[0].Content)
	require.JSONEq(t, `{"source":"thinking"}`, string(rec.thoughts[0].Metadata))
	// The upstream saw the central key and never the gantry token.
	require.Equal(t, "sk-ant-central", up.Header.Get("X-Api-Key"))
	require.Empty(t, up.Header.Get("Authorization"))
}

func TestAnthropicSDK(t *testing.T) {
	t.Parallel()
	params := func(prompt string) anthropic.MessageNewParams {
		return anthropic.MessageNewParams{
			Model:     "claude-mock-1",
			MaxTokens: 256,
			Messages:  []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))},
		}
	}
	t.Run("Blocking", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		msg, err := h.anthropicClient().Messages.New(t.Context(), params("blocking hello"))
		require.NoError(t, err)
		up := lastRequest(t, h.mocks["anthropic"])
		require.Equal(t, up.ResponseID, msg.ID)
		require.Equal(t, up.Usage.Output, msg.Usage.OutputTokens)
		requireAnthropicRecord(t, h, "blocking hello")
	})
	t.Run("Streaming", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		stream := h.anthropicClient().Messages.NewStreaming(t.Context(), params("streaming hello"))
		var msg anthropic.Message
		events := 0
		for stream.Next() {
			require.NoError(t, msg.Accumulate(stream.Current()))
			events++
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		up := lastRequest(t, h.mocks["anthropic"])
		require.Equal(t, up.ResponseID, msg.ID)
		require.Equal(t, up.Usage.Output, msg.Usage.OutputTokens)
		require.Equal(t, up.Usage.Input, msg.Usage.InputTokens)
		require.Len(t, msg.Content, 3) // thinking, text, tool_use
		requireAnthropicRecord(t, h, "streaming hello")
	})
	t.Run("BearerToken", func(t *testing.T) {
		t.Parallel()
		// Claude Code's ANTHROPIC_AUTH_TOKEN sends the token as a bearer.
		h := newHarness(t, nil, nil)
		c := anthropic.NewClient(
			aoption.WithoutEnvironmentDefaults(),
			aoption.WithBaseURL(h.url("/api/v2/aibridge/anthropic/")),
			aoption.WithAuthToken(tokenAlice),
			aoption.WithHTTPClient(h.client),
			aoption.WithMaxRetries(0),
			aoption.WithHeader("X-Mock-Scenario", "tool,thinking"),
		)
		_, err := c.Messages.New(t.Context(), params("bearer hello"))
		require.NoError(t, err)
		requireAnthropicRecord(t, h, "bearer hello")
	})
	t.Run("UpstreamError", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		_, err := h.anthropicClient(aoption.WithHeader("X-Mock-Status", "400")).Messages.New(t.Context(), params("too long"))
		var apiErr *anthropic.Error
		require.ErrorAs(t, err, &apiErr)
		require.Equal(t, http.StatusBadRequest, apiErr.StatusCode)
		// The provider's body is relayed unchanged, request_id included.
		require.Equal(t, "req_mock_error", gjson.Get(apiErr.RawJSON(), "request_id").Str)
		recs := h.waitEnded(t, 1)
		require.Len(t, recs, 1)
		require.Empty(t, recs[0].usages)
	})
}

func requireOpenAIRecord(t *testing.T, h *harness, prompt string) {
	t.Helper()
	h.waitEnded(t, 1)
	up := lastRequest(t, h.mocks["openai"])
	require.True(t, up.UsageSent)
	rec, ok := h.rec.byResponseID(up.ResponseID)
	require.True(t, ok, "no record for %s", up.ResponseID)
	require.NotNil(t, rec.ended)
	require.Equal(t, "openai", rec.ic.Provider)
	require.Equal(t, "gpt-mock", rec.ic.Model)
	require.Len(t, rec.usages, 1)
	u := rec.usages[0]
	// OpenAI's prompt count includes the cached part; gantry records them
	// apart, so together they equal what the upstream billed.
	require.Equal(t, up.Usage.Input, u.InputTokens+u.CacheReadInputTokens)
	require.Equal(t, up.Usage.CacheRead, u.CacheReadInputTokens)
	require.Equal(t, up.Usage.Output, u.OutputTokens)
	require.Len(t, rec.prompts, 1)
	require.Equal(t, prompt, rec.prompts[0].Prompt)
	require.Len(t, rec.tools, 1)
	require.Equal(t, mockupstream.ToolName, rec.tools[0].Tool)
	require.Equal(t, up.ToolCallID, rec.tools[0].ProviderToolCallID)
	require.JSONEq(t, mockupstream.ToolArguments, rec.tools[0].Input)
	require.Equal(t, "Bearer sk-openai-central", up.Header.Get("Authorization"))
	require.Empty(t, up.Header.Get("X-Api-Key"))
}

func TestOpenAIChatSDK(t *testing.T) {
	t.Parallel()
	params := func(prompt string) openai.ChatCompletionNewParams {
		return openai.ChatCompletionNewParams{
			Model:    "gpt-mock",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("be brief"), openai.UserMessage(prompt)},
		}
	}
	t.Run("Blocking", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		c, err := h.openaiClient().Chat.Completions.New(t.Context(), params("chat blocking"))
		require.NoError(t, err)
		up := lastRequest(t, h.mocks["openai"])
		require.Equal(t, up.ResponseID, c.ID)
		require.Equal(t, up.Usage.Input, c.Usage.PromptTokens)
		requireOpenAIRecord(t, h, "chat blocking")
		require.Equal(t, up.Usage.Reasoning, gjson.GetBytes(h.rec.all()[0].usages[0].Metadata, "completion_reasoning").Int())
	})
	t.Run("StreamingWithoutUsageRequest", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		stream := h.openaiClient().Chat.Completions.NewStreaming(t.Context(), params("chat streaming"))
		acc := openai.ChatCompletionAccumulator{}
		for stream.Next() {
			ch := stream.Current()
			// gantry asked for usage on the client's behalf; the extra
			// chunk must not reach a client that did not ask.
			require.NotEmpty(t, ch.Choices, "usage-only chunk leaked: %s", ch.RawJSON())
			require.Zero(t, ch.Usage.TotalTokens)
			acc.AddChunk(ch)
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		require.Len(t, acc.Choices, 1)
		require.Len(t, acc.Choices[0].Message.ToolCalls, 1)
		up := lastRequest(t, h.mocks["openai"])
		require.True(t, gjson.GetBytes(up.Body, "stream_options.include_usage").Bool())
		requireOpenAIRecord(t, h, "chat streaming")
	})
	t.Run("StreamingWithUsageRequest", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		p := params("chat streaming usage")
		p.StreamOptions.IncludeUsage = openai.Bool(true)
		stream := h.openaiClient().Chat.Completions.NewStreaming(t.Context(), p)
		var usage int64
		for stream.Next() {
			if u := stream.Current().Usage; u.TotalTokens > 0 {
				usage = u.CompletionTokens
			}
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		up := lastRequest(t, h.mocks["openai"])
		require.Equal(t, up.Usage.Output, usage)
		requireOpenAIRecord(t, h, "chat streaming usage")
	})
}

func TestOpenAIResponsesSDK(t *testing.T) {
	t.Parallel()
	params := func(prompt string) responses.ResponseNewParams {
		return responses.ResponseNewParams{
			Model: "gpt-mock",
			Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)},
		}
	}
	check := func(t *testing.T, h *harness, prompt string) {
		t.Helper()
		requireOpenAIRecord(t, h, prompt)
		up := lastRequest(t, h.mocks["openai"])
		rec, _ := h.rec.byResponseID(up.ResponseID)
		require.Len(t, rec.thoughts, 1)
		require.Equal(t, mockupstream.ThinkingText, rec.thoughts[0].Content)
		require.JSONEq(t, `{"source":"reasoning_summary"}`, string(rec.thoughts[0].Metadata))
		require.Equal(t, up.Usage.Reasoning, gjson.GetBytes(rec.usages[0].Metadata, "output_reasoning").Int())
	}
	t.Run("Blocking", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		r, err := h.openaiClient().Responses.New(t.Context(), params("responses blocking"))
		require.NoError(t, err)
		up := lastRequest(t, h.mocks["openai"])
		require.Equal(t, up.ResponseID, r.ID)
		require.Equal(t, up.Usage.Output, r.Usage.OutputTokens)
		check(t, h, "responses blocking")
	})
	t.Run("Streaming", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		stream := h.openaiClient().Responses.NewStreaming(t.Context(), params("responses streaming"))
		var completed responses.Response
		for stream.Next() {
			ev := stream.Current()
			if ev.Type == "response.completed" {
				completed = ev.Response
			}
		}
		require.NoError(t, stream.Err())
		require.NoError(t, stream.Close())
		up := lastRequest(t, h.mocks["openai"])
		require.Equal(t, up.ResponseID, completed.ID)
		require.Equal(t, up.Usage.Output, completed.Usage.OutputTokens)
		check(t, h, "responses streaming")
	})
	t.Run("StructuredPrompt", func(t *testing.T) {
		t.Parallel()
		h := newHarness(t, nil, nil)
		// Codex sends the prompt as input_text parts of a user message.
		raw := `{"model":"gpt-mock","input":[{"type":"message","role":"user","content":[{"type":"input_text","text":"line one"},{"type":"input_text","text":"line two"}]}]}`
		resp := h.do(t, http.MethodPost, "/api/v2/aibridge/openai/v1/responses", raw, map[string]string{
			"Authorization": "Bearer " + tokenAlice, "X-Mock-Scenario": "tool,thinking",
		})
		require.Equal(t, http.StatusOK, resp.StatusCode, readAll(t, resp.Body))
		check(t, h, "line one\nline two")
	})
}

var _ = aibridge.TypeAnthropic
