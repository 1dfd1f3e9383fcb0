package sdk

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// AIBridgeMinimalUser is the initiator of an interception.
type AIBridgeMinimalUser struct {
	ID        uuid.UUID `json:"id"`
	Username  string    `json:"username"`
	Name      string    `json:"name"`
	AvatarURL string    `json:"avatar_url"`
}

// AIBridgeInterception is one request through the AI Bridge gateway with
// everything recorded about it.
type AIBridgeInterception struct {
	ID        uuid.UUID           `json:"id"`
	APIKeyID  *string             `json:"api_key_id"`
	Initiator AIBridgeMinimalUser `json:"initiator"`
	// Provider is the provider type (anthropic, openai, copilot);
	// ProviderName the configured instance name.
	Provider        string                 `json:"provider"`
	ProviderName    string                 `json:"provider_name"`
	Model           string                 `json:"model"`
	Client          *string                `json:"client"`
	ClientSessionID *string                `json:"client_session_id,omitempty"`
	Metadata        map[string]any         `json:"metadata"`
	StartedAt       time.Time              `json:"started_at"`
	EndedAt         *time.Time             `json:"ended_at"`
	TokenUsages     []AIBridgeTokenUsage   `json:"token_usages"`
	UserPrompts     []AIBridgeUserPrompt   `json:"user_prompts"`
	ToolUsages      []AIBridgeToolUsage    `json:"tool_usages"`
	ModelThoughts   []AIBridgeModelThought `json:"model_thoughts"`
}

// AIBridgeTokenUsage is the usage block of one upstream response. Input
// excludes cached input; provider-specific counters are in Metadata.
type AIBridgeTokenUsage struct {
	ID                    uuid.UUID      `json:"id"`
	InterceptionID        uuid.UUID      `json:"interception_id"`
	ProviderResponseID    string         `json:"provider_response_id"`
	InputTokens           int64          `json:"input_tokens"`
	OutputTokens          int64          `json:"output_tokens"`
	CacheReadInputTokens  int64          `json:"cache_read_input_tokens"`
	CacheWriteInputTokens int64          `json:"cache_write_input_tokens"`
	Metadata              map[string]any `json:"metadata"`
	CreatedAt             time.Time      `json:"created_at"`
}

// AIBridgeUserPrompt is the last user prompt of an interception.
type AIBridgeUserPrompt struct {
	ID                 uuid.UUID      `json:"id"`
	InterceptionID     uuid.UUID      `json:"interception_id"`
	ProviderResponseID string         `json:"provider_response_id"`
	Prompt             string         `json:"prompt"`
	Metadata           map[string]any `json:"metadata"`
	CreatedAt          time.Time      `json:"created_at"`
}

// AIBridgeToolUsage is one tool call the model made.
type AIBridgeToolUsage struct {
	ID                 uuid.UUID      `json:"id"`
	InterceptionID     uuid.UUID      `json:"interception_id"`
	ProviderResponseID string         `json:"provider_response_id"`
	ProviderToolCallID string         `json:"provider_tool_call_id"`
	ServerURL          string         `json:"server_url"`
	Tool               string         `json:"tool"`
	Input              string         `json:"input"`
	Injected           bool           `json:"injected"`
	InvocationError    string         `json:"invocation_error"`
	Metadata           map[string]any `json:"metadata"`
	CreatedAt          time.Time      `json:"created_at"`
}

// AIBridgeModelThought is a thinking block or reasoning summary.
type AIBridgeModelThought struct {
	ID             uuid.UUID      `json:"id"`
	InterceptionID uuid.UUID      `json:"interception_id"`
	Content        string         `json:"content"`
	Metadata       map[string]any `json:"metadata"`
	CreatedAt      time.Time      `json:"created_at"`
}

// AIBridgeListInterceptionsResponse is a page of interceptions and the total
// number that match the filter.
type AIBridgeListInterceptionsResponse struct {
	Count   int64                  `json:"count"`
	Results []AIBridgeInterception `json:"results"`
}

// AIBridgeListInterceptionsFilter narrows the list. Zero fields do not
// filter. Initiator is a user id, a username or "me".
type AIBridgeListInterceptionsFilter struct {
	Initiator     string
	Provider      string
	Model         string
	Client        string
	StartedAfter  time.Time
	StartedBefore time.Time
	// Paging: AfterID (a cursor: the last id of the previous page) or
	// Offset, not both. Limit 0 means the server default (100).
	AfterID uuid.UUID
	Offset  int
	Limit   int
}

// Query returns the q search string of the filter.
func (f AIBridgeListInterceptionsFilter) Query() string {
	var terms []string
	add := func(k, v string) {
		if v != "" {
			terms = append(terms, k+":"+strconv.Quote(v))
		}
	}
	add("initiator", f.Initiator)
	add("provider", f.Provider)
	add("model", f.Model)
	add("client", f.Client)
	if !f.StartedAfter.IsZero() {
		add("started_after", f.StartedAfter.UTC().Format(time.RFC3339Nano))
	}
	if !f.StartedBefore.IsZero() {
		add("started_before", f.StartedBefore.UTC().Format(time.RFC3339Nano))
	}
	return strings.Join(terms, " ")
}

// AIBridgeListInterceptions lists ended interceptions, newest first. Owners
// and auditors see everyone's; members see their own.
func (c *Client) AIBridgeListInterceptions(ctx context.Context, f AIBridgeListInterceptionsFilter) (AIBridgeListInterceptionsResponse, error) {
	v := url.Values{}
	if q := f.Query(); q != "" {
		v.Set("q", q)
	}
	if f.Limit != 0 {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	if f.Offset != 0 {
		v.Set("offset", strconv.Itoa(f.Offset))
	}
	if f.AfterID != uuid.Nil {
		v.Set("after_id", f.AfterID.String())
	}
	path := "/api/v2/aibridge/interceptions"
	if len(v) > 0 {
		path += "?" + v.Encode()
	}
	var out AIBridgeListInterceptionsResponse
	err := c.do(ctx, http.MethodGet, path, nil, http.StatusOK, &out)
	return out, err
}
