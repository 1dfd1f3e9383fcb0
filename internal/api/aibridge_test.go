package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go/v2"
	aoption "github.com/anthropics/anthropic-sdk-go/v2/option"
	"github.com/google/uuid"
	"github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/stretchr/testify/require"

	"gantry/internal/aibridge"
	"gantry/internal/aibridge/mockupstream"
	"gantry/internal/api"
	"gantry/internal/apitest"
	"gantry/internal/authn"
	"gantry/sdk"
)

// bridgeAuth adapts the API's token validator to the gateway, the way the
// composition root does.
type bridgeAuth struct{ a *authn.Authenticator }

func (b bridgeAuth) Authenticate(ctx context.Context, token string) (aibridge.Actor, error) {
	id, err := b.a.Authenticate(ctx, token)
	if err != nil {
		var ae *authn.Error
		if errors.As(err, &ae) && ae.Kind == authn.KindInternal {
			return aibridge.Actor{}, err
		}
		return aibridge.Actor{}, fmt.Errorf("%w: %w", aibridge.ErrUnauthorized, err)
	}
	return aibridge.Actor{UserID: id.UserID, Username: id.Username, APIKeyID: id.APIKeyID}, nil
}

type bridgeEnv struct {
	owner *sdk.Client
	srv   *apitest.Server
	mock  *mockupstream.Server
	gw    *aibridge.Gateway
	http  *http.Client
}

// newBridgeEnv runs the real API with the real gateway in front of a mock
// upstream ("claude" of type anthropic, "gpt" of type openai), on a real
// database, with real gantry tokens.
func newBridgeEnv(t *testing.T) *bridgeEnv {
	t.Helper()
	e := &bridgeEnv{}
	client, srv := apitest.New(t, apitest.WithAPIOptions(func(o *api.Options) {
		// The gateway needs the API's authenticator, which exists only once
		// the API does; the handler looks it up per request.
		o.AIBridge.Gateway = http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) { e.gw.ServeHTTP(rw, r) })
	}))
	e.srv = srv
	e.mock = mockupstream.New(mockupstream.Options{Defaults: mockupstream.Knobs{
		Chunks: 4, ChunkInterval: time.Millisecond, ChunkBytes: 8, BodyBytes: 256, Status: http.StatusOK,
	}})
	base := e.mock.Start()
	t.Cleanup(e.mock.Close)
	gw, err := aibridge.New(aibridge.Options{
		Config: aibridge.Config{Providers: []aibridge.Provider{
			{Name: "claude", Type: aibridge.TypeAnthropic, Key: "sk-ant", BaseURL: base},
			{Name: "gpt", Type: aibridge.TypeOpenAI, Key: "sk-oai", BaseURL: base + "/v1"},
		}},
		Auth:  bridgeAuth{srv.API.Authenticator()},
		Store: srv.Store,
	})
	require.NoError(t, err)
	e.gw = gw
	tr := &http.Transport{}
	e.http = &http.Client{Transport: tr}
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		require.NoError(t, gw.Close(ctx))
	})
	apitest.CreateFirstUser(t, client)
	e.owner = client
	return e
}

func (e *bridgeEnv) messages(t *testing.T, token, prompt string, stream bool, ua string) {
	t.Helper()
	c := anthropic.NewClient(
		aoption.WithoutEnvironmentDefaults(),
		aoption.WithBaseURL(e.srv.URL.String()+"/api/v2/aibridge/claude/"),
		aoption.WithAPIKey(token),
		aoption.WithHTTPClient(e.http),
		aoption.WithMaxRetries(0),
		aoption.WithHeader("User-Agent", ua),
		aoption.WithHeader("X-Mock-Scenario", "tool"),
	)
	p := anthropic.MessageNewParams{Model: "claude-mock", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(prompt))}}
	if !stream {
		_, err := c.Messages.New(t.Context(), p)
		require.NoError(t, err)
		return
	}
	s := c.Messages.NewStreaming(t.Context(), p)
	for s.Next() {
	}
	require.NoError(t, s.Err())
	require.NoError(t, s.Close())
}

func (e *bridgeEnv) chat(t *testing.T, token, prompt string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.srv.URL.String()+"/api/v2/aibridge/gpt/v1/chat/completions",
		strings.NewReader(`{"model":"gpt-mock","stream":true,"messages":[{"role":"user","content":"`+prompt+`"}]}`))
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("User-Agent", "codex_cli_rs/0.50.0")
	resp, err := e.http.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	_, _ = io.Copy(io.Discard, resp.Body)
}

// responses streams an OpenAI Responses call through the official SDK.
func (e *bridgeEnv) responses(t *testing.T, token, prompt string) {
	t.Helper()
	c := openai.NewClient(
		ooption.WithBaseURL(e.srv.URL.String()+"/api/v2/aibridge/gpt/v1/"),
		ooption.WithAPIKey(token),
		ooption.WithHTTPClient(e.http),
		ooption.WithMaxRetries(0),
		ooption.WithHeader("User-Agent", "codex_exec/0.171.0"),
	)
	s := c.Responses.NewStreaming(t.Context(), responses.ResponseNewParams{
		Model: "gpt-mock", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(prompt)},
	})
	for s.Next() {
	}
	require.NoError(t, s.Err())
	require.NoError(t, s.Close())
}

func list(t *testing.T, c *sdk.Client, f sdk.AIBridgeListInterceptionsFilter) sdk.AIBridgeListInterceptionsResponse {
	t.Helper()
	res, err := c.AIBridgeListInterceptions(t.Context(), f)
	require.NoError(t, err)
	return res
}

func TestAIBridgeInterceptionsAPI(t *testing.T) {
	t.Parallel()
	e := newBridgeEnv(t)
	ctx := t.Context()
	ownerToken := apitest.CreateToken(t, e.owner, "me", "bridge", 0)
	memberClient, member := apitest.CreateUser(t, e.owner)
	memberToken := apitest.CreateToken(t, memberClient, "me", "bridge", 0)
	auditorClient, _ := apitest.CreateUser(t, e.owner, "auditor")

	before := time.Now().UTC().Add(-time.Second)
	e.messages(t, memberToken, "member blocking", false, "claude-cli/2.0.0 (external, cli)")
	e.messages(t, memberToken, "member streaming", true, "claude-cli/2.0.0 (external, cli)")
	e.responses(t, ownerToken, "owner responses")
	e.chat(t, ownerToken, "owner chat")

	// Records are written asynchronously; wait until all four are ended.
	require.Eventually(t, func() bool {
		return list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{}).Count == 4
	}, 10*time.Second, 20*time.Millisecond)

	all := list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{})
	require.Len(t, all.Results, 4)
	require.Equal(t, "owner responses", all.Results[1].UserPrompts[0].Prompt)
	// Newest first.
	require.Equal(t, "gpt", all.Results[0].ProviderName)
	require.Equal(t, "openai", all.Results[0].Provider)
	require.Equal(t, aibridge.ClientCodex, *all.Results[0].Client)
	require.Equal(t, "owner chat", all.Results[0].UserPrompts[0].Prompt)
	require.Equal(t, apitest.FirstUserUsername, all.Results[0].Initiator.Username)
	for _, r := range all.Results {
		require.NotNil(t, r.EndedAt)
		require.NotNil(t, r.APIKeyID)
		require.Len(t, r.TokenUsages, 1)
	}

	// Recorded usage equals what the mock reported, streams included.
	byResp := map[string]sdk.AIBridgeTokenUsage{}
	for _, r := range all.Results {
		byResp[r.TokenUsages[0].ProviderResponseID] = r.TokenUsages[0]
	}
	for _, up := range e.mock.Requests() {
		u, ok := byResp[up.ResponseID]
		require.True(t, ok, up.ResponseID)
		require.True(t, up.UsageSent)
		input := u.InputTokens
		if up.Path != "/v1/messages" {
			// OpenAI bills cached input inside prompt/input tokens.
			input += u.CacheReadInputTokens
		}
		require.Equal(t, up.Usage.Input, input)
		require.Equal(t, up.Usage.Output, u.OutputTokens)
		require.Equal(t, up.Usage.CacheRead, u.CacheReadInputTokens)
		require.Equal(t, up.Usage.CacheWrite, u.CacheWriteInputTokens)
	}

	t.Run("Authorization", func(t *testing.T) {
		mine := list(t, memberClient, sdk.AIBridgeListInterceptionsFilter{})
		require.EqualValues(t, 2, mine.Count)
		for _, r := range mine.Results {
			require.Equal(t, member.ID, r.Initiator.ID)
			require.Equal(t, aibridge.ClientClaudeCode, *r.Client)
			require.Len(t, r.ToolUsages, 1)
			require.Equal(t, mockupstream.ToolName, r.ToolUsages[0].Tool)
		}
		// A member asking for someone else's records finds none.
		require.EqualValues(t, 0, list(t, memberClient, sdk.AIBridgeListInterceptionsFilter{Initiator: apitest.FirstUserUsername}).Count)
		require.EqualValues(t, 4, list(t, auditorClient, sdk.AIBridgeListInterceptionsFilter{}).Count)
		require.EqualValues(t, 2, list(t, auditorClient, sdk.AIBridgeListInterceptionsFilter{Initiator: member.Username}).Count)
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Initiator: member.ID.String()}).Count)
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Initiator: "me"}).Count)
		require.EqualValues(t, 0, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Initiator: "nobody-by-that-name"}).Count)
		_, err := sdk.New(e.owner.URL).AIBridgeListInterceptions(ctx, sdk.AIBridgeListInterceptionsFilter{})
		require.True(t, sdk.IsStatus(err, http.StatusUnauthorized), "%v", err)
	})

	t.Run("Filters", func(t *testing.T) {
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Provider: "claude"}).Count)
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Provider: "anthropic"}).Count)
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Model: "gpt-mock"}).Count)
		require.EqualValues(t, 2, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Client: aibridge.ClientClaudeCode}).Count)
		require.EqualValues(t, 4, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{StartedAfter: before}).Count)
		require.EqualValues(t, 0, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{StartedBefore: before}).Count)
		require.EqualValues(t, 0, list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{StartedAfter: time.Now().Add(time.Hour)}).Count)
	})

	t.Run("Paging", func(t *testing.T) {
		var seen []uuid.UUID
		f := sdk.AIBridgeListInterceptionsFilter{Limit: 1}
		for range 5 {
			page := list(t, e.owner, f)
			require.EqualValues(t, 4, page.Count)
			if len(page.Results) == 0 {
				break
			}
			require.Len(t, page.Results, 1)
			seen = append(seen, page.Results[0].ID)
			f.AfterID = page.Results[0].ID
		}
		require.Len(t, seen, 4)
		for i, id := range seen {
			require.Equal(t, all.Results[i].ID, id)
		}
		page := list(t, e.owner, sdk.AIBridgeListInterceptionsFilter{Offset: 2, Limit: 5})
		require.Len(t, page.Results, 2)
		require.Equal(t, all.Results[2].ID, page.Results[0].ID)
	})

	t.Run("BadRequests", func(t *testing.T) {
		for _, q := range []string{
			"limit=0", "limit=1001", "limit=x", "offset=-1", "after_id=nope",
			"offset=1&after_id=" + uuid.NewString(),
			"q=bogus:1", "q=started_after:yesterday", "q=noseparator", `q=model:"unterminated`,
		} {
			resp, err := e.owner.Request(ctx, http.MethodGet, "/api/v2/aibridge/interceptions?"+q, nil)
			require.NoError(t, err)
			apiErr := sdk.ReadBodyAsError(resp)
			_ = resp.Body.Close()
			require.Equal(t, http.StatusBadRequest, resp.StatusCode, q)
			var se *sdk.Error
			require.ErrorAs(t, apiErr, &se)
			require.NotEmpty(t, se.Message, q)
		}
	})
}
