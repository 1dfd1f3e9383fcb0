package api

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"gantry/internal/authz"
	"gantry/internal/httpapi"
	"gantry/internal/httpmw"
	"gantry/internal/store"
	"gantry/sdk"
)

// AIBridgeOptions configure the AI Bridge routes.
type AIBridgeOptions struct {
	// Gateway, when set, serves /api/v2/aibridge/<provider>/... and the
	// /api/v2/ai-gateway/ alias (chi Mount in routes.go: r.URL.Path keeps
	// the full path, which is what aibridge.Gateway expects). It bypasses
	// the General API rate limiter and CSRF middleware; it authenticates
	// and limits on its own. Nil when AI Bridge is disabled: the query API
	// still answers, so past records stay readable.
	Gateway http.Handler
}

// Interception list limits (spec §12).
const (
	interceptionsDefaultLimit = 100
	interceptionsMaxLimit     = 1000
)

// aibridgeInterceptions lists ended interceptions, newest first. Owners and
// auditors see everyone's; everyone else sees only their own.
//
// @Summary List AI Bridge interceptions
// @Router /aibridge/interceptions [get]
func (a *API) aibridgeInterceptions(rw http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	me := httpmw.Identity(r)
	query := r.URL.Query()

	f, initiator, v := parseInterceptionQuery(query.Get("q"))
	f.Limit = interceptionsDefaultLimit
	if s := query.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > interceptionsMaxLimit {
			httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{
				Message: "Invalid pagination limit value.",
				Detail:  fmt.Sprintf("Pagination limit must be in range [1, %d].", interceptionsMaxLimit),
				Validations: []sdk.ValidationError{{
					Field: "limit", Detail: fmt.Sprintf("Query param %q must be an integer between 1 and %d", "limit", interceptionsMaxLimit),
				}},
			})
			return
		}
		f.Limit = n
	}
	if s := query.Get("offset"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			v = append(v, sdk.ValidationError{Field: "offset", Detail: fmt.Sprintf("Query param %q must be a valid non-negative integer", "offset")})
		}
		f.Offset = n
	}
	if s := query.Get("after_id"); s != "" {
		id, err := uuid.Parse(s)
		if err != nil {
			v = append(v, sdk.ValidationError{Field: "after_id", Detail: fmt.Sprintf("Query param %q must be a valid uuid", "after_id")})
		}
		f.AfterID = id
	}
	if f.AfterID != uuid.Nil && f.Offset > 0 {
		v = append(v, sdk.ValidationError{Field: "offset", Detail: "Cannot use both after_id and offset pagination in the same request."})
	}
	if len(v) > 0 {
		httpapi.Write(ctx, rw, http.StatusBadRequest, sdk.Response{Message: msgInvalidQueryParams, Validations: v})
		return
	}

	empty := false
	switch {
	case initiator == "":
	case strings.EqualFold(initiator, "me"):
		f.InitiatorID = me.UserID
	default:
		if id, err := uuid.Parse(initiator); err == nil {
			f.InitiatorID = id
			break
		}
		u, err := a.opts.Store.GetUserByUsername(ctx, initiator)
		switch {
		case errors.Is(err, store.ErrNotFound):
			empty = true // an unknown user initiated nothing
		case err != nil:
			httpapi.InternalServerError(rw, r, fmt.Errorf("get initiator: %w", err))
			return
		default:
			f.InitiatorID = u.ID
		}
	}
	if !me.Subject().Can(authz.ReadAllInterceptions) {
		// Members read their own records only; asking for someone else's
		// finds nothing rather than revealing that they exist.
		if f.InitiatorID != uuid.Nil && f.InitiatorID != me.UserID {
			empty = true
		}
		f.InitiatorID = me.UserID
	}
	out := sdk.AIBridgeListInterceptionsResponse{Results: []sdk.AIBridgeInterception{}}
	if !empty {
		list, count, err := a.opts.Store.ListInterceptions(ctx, f)
		if err != nil {
			httpapi.InternalServerError(rw, r, fmt.Errorf("list interceptions: %w", err))
			return
		}
		out.Count = count
		for _, d := range list {
			out.Results = append(out.Results, convertInterception(d))
		}
	}
	httpapi.Write(ctx, rw, http.StatusOK, out)
}

// parseInterceptionQuery reads the q syntax: space-separated key:value terms
// whose values may be double-quoted (the SDK and CLI quote them).
func parseInterceptionQuery(q string) (store.InterceptionFilter, string, []sdk.ValidationError) {
	var (
		f         store.InterceptionFilter
		initiator string
		v         []sdk.ValidationError
	)
	terms, err := splitQuery(q)
	if err != nil {
		return f, "", []sdk.ValidationError{{Field: "q", Detail: err.Error()}}
	}
	for _, term := range terms {
		key, val, ok := strings.Cut(term, ":")
		if !ok || key == "" {
			v = append(v, sdk.ValidationError{Field: "q", Detail: fmt.Sprintf("Query element %q must be of the form key:value", term)})
			continue
		}
		if uq, err := strconv.Unquote(val); err == nil && strings.HasPrefix(val, `"`) {
			val = uq
		}
		switch key = strings.ToLower(key); key {
		case "initiator":
			initiator = val
		case "provider":
			f.Provider = val
		case "model":
			f.Model = val
		case "client":
			f.Client = val
		case "started_after", "started_before":
			t, err := time.Parse(time.RFC3339Nano, val)
			if err != nil {
				v = append(v, sdk.ValidationError{Field: key, Detail: fmt.Sprintf("Query param %q must be a valid RFC3339 timestamp: %q", key, val)})
				continue
			}
			if key == "started_after" {
				f.StartedAfter = t.UTC()
			} else {
				f.StartedBefore = t.UTC()
			}
		default:
			v = append(v, sdk.ValidationError{Field: key, Detail: fmt.Sprintf("%q is not a valid query param", key)})
		}
	}
	return f, initiator, v
}

// splitQuery splits on spaces outside double quotes.
func splitQuery(q string) ([]string, error) {
	var (
		terms   []string
		cur     strings.Builder
		quoted  bool
		escaped bool
	)
	for _, c := range q {
		switch {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ' ' && !quoted:
			if cur.Len() > 0 {
				terms = append(terms, cur.String())
				cur.Reset()
			}
			continue
		}
		cur.WriteRune(c)
	}
	if quoted {
		return nil, errors.New("unterminated quote in search query")
	}
	if cur.Len() > 0 {
		terms = append(terms, cur.String())
	}
	return terms, nil
}

func jsonObject(raw json.RawMessage) map[string]any {
	m := map[string]any{}
	if len(raw) > 0 {
		_ = json.Unmarshal(raw, &m)
	}
	return m
}

func convertInterception(d store.InterceptionDetail) sdk.AIBridgeInterception {
	out := sdk.AIBridgeInterception{
		ID: d.ID,
		Initiator: sdk.AIBridgeMinimalUser{
			ID: d.InitiatorID, Username: d.Initiator.Username, Name: d.Initiator.Name, AvatarURL: d.Initiator.AvatarURL,
		},
		Provider:      d.Provider,
		ProviderName:  d.ProviderName,
		Model:         d.Model,
		Metadata:      jsonObject(d.Metadata),
		StartedAt:     d.StartedAt,
		EndedAt:       d.EndedAt,
		TokenUsages:   make([]sdk.AIBridgeTokenUsage, 0, len(d.TokenUsages)),
		UserPrompts:   make([]sdk.AIBridgeUserPrompt, 0, len(d.UserPrompts)),
		ToolUsages:    make([]sdk.AIBridgeToolUsage, 0, len(d.ToolUsages)),
		ModelThoughts: make([]sdk.AIBridgeModelThought, 0, len(d.ModelThoughts)),
	}
	if d.APIKeyID != "" {
		out.APIKeyID = &d.APIKeyID
	}
	if d.Client != "" {
		out.Client = &d.Client
	}
	if d.ClientSessionID != "" {
		out.ClientSessionID = &d.ClientSessionID
	}
	for _, u := range d.TokenUsages {
		out.TokenUsages = append(out.TokenUsages, sdk.AIBridgeTokenUsage{
			ID: u.ID, InterceptionID: u.InterceptionID, ProviderResponseID: u.ProviderResponseID,
			InputTokens: u.InputTokens, OutputTokens: u.OutputTokens,
			CacheReadInputTokens: u.CacheReadInputTokens, CacheWriteInputTokens: u.CacheWriteInputTokens,
			Metadata: jsonObject(u.Metadata), CreatedAt: u.CreatedAt,
		})
	}
	for _, p := range d.UserPrompts {
		out.UserPrompts = append(out.UserPrompts, sdk.AIBridgeUserPrompt{
			ID: p.ID, InterceptionID: p.InterceptionID, ProviderResponseID: p.ProviderResponseID,
			Prompt: p.Prompt, Metadata: jsonObject(p.Metadata), CreatedAt: p.CreatedAt,
		})
	}
	for _, t := range d.ToolUsages {
		out.ToolUsages = append(out.ToolUsages, sdk.AIBridgeToolUsage{
			ID: t.ID, InterceptionID: t.InterceptionID, ProviderResponseID: t.ProviderResponseID,
			ProviderToolCallID: t.ProviderToolCallID, ServerURL: t.ServerURL, Tool: t.Tool, Input: t.Input,
			Injected: t.Injected, InvocationError: t.InvocationError, Metadata: jsonObject(t.Metadata), CreatedAt: t.CreatedAt,
		})
	}
	for _, t := range d.ModelThoughts {
		out.ModelThoughts = append(out.ModelThoughts, sdk.AIBridgeModelThought{
			ID: t.ID, InterceptionID: t.InterceptionID, Content: t.Content, Metadata: jsonObject(t.Metadata), CreatedAt: t.CreatedAt,
		})
	}
	return out
}
