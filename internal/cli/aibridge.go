package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// aibridgeCmd groups the AI Bridge commands.
func aibridgeCmd() *serpent.Command {
	var co clientOptions
	cmd := &serpent.Command{
		Use:   "aibridge",
		Short: "Inspect AI Bridge (LLM gateway) usage.",
		Handler: func(inv *serpent.Invocation) error {
			return serpent.DefaultHelpFn()(inv)
		},
		Children: []*serpent.Command{
			{
				Use:   "interceptions",
				Short: "Recorded requests through the gateway.",
				Handler: func(inv *serpent.Invocation) error {
					return serpent.DefaultHelpFn()(inv)
				},
				Children: []*serpent.Command{interceptionsListCmd(&co)},
			},
		},
	}
	cmd.Options = co.options()
	return cmd
}

// interceptionRow holds the fields of an interception the table shows. The
// JSON output passes the server's objects through unchanged instead, so it
// never loses fields this client does not know.
type interceptionRow struct {
	ID        string    `json:"id"`
	StartedAt time.Time `json:"started_at"`
	Initiator struct {
		Username string `json:"username"`
	} `json:"initiator"`
	Provider     string  `json:"provider"`
	ProviderName string  `json:"provider_name"`
	Model        string  `json:"model"`
	Client       *string `json:"client"`
	TokenUsages  []struct {
		InputTokens  int64 `json:"input_tokens"`
		OutputTokens int64 `json:"output_tokens"`
	} `json:"token_usages"`
	UserPrompts []struct {
		Prompt string `json:"prompt"`
	} `json:"user_prompts"`
	ToolUsages []json.RawMessage `json:"tool_usages"`
}

// interceptionsPage is GET /api/v2/aibridge/interceptions.
type interceptionsPage struct {
	Count   int64             `json:"count"`
	Results []json.RawMessage `json:"results"`
}

func interceptionsListCmd(co *clientOptions) *serpent.Command {
	var (
		format        string
		initiator     string
		provider      string
		model         string
		clientName    string
		startedAfter  string
		startedBefore string
		afterID       string
		limit         int64
	)
	cmd := &serpent.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List ended interceptions, newest first.",
		Long: "Owners and auditors see everyone's interceptions, members their own. Times are " +
			"RFC 3339 (2026-01-02T15:04:05Z) or a date (2026-01-02, UTC midnight).",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			if limit < 1 || limit > 1000 {
				return errors.New("--limit must be between 1 and 1000")
			}
			var terms []string
			add := func(key, value string) {
				if value != "" {
					terms = append(terms, key+":"+strconv.Quote(value))
				}
			}
			add("initiator", initiator)
			add("provider", provider)
			add("model", model)
			add("client", clientName)
			for _, f := range []struct{ key, flag, value string }{
				{"started_after", "--started-after", startedAfter},
				{"started_before", "--started-before", startedBefore},
			} {
				if f.value == "" {
					continue
				}
				ts, err := parseTimeFlag(f.value)
				if err != nil {
					return fmt.Errorf("%s: %w", f.flag, err)
				}
				add(f.key, ts.Format(time.RFC3339Nano))
			}
			q := url.Values{}
			if len(terms) > 0 {
				q.Set("q", strings.Join(terms, " "))
			}
			q.Set("limit", strconv.FormatInt(limit, 10))
			if afterID != "" {
				q.Set("after_id", afterID)
			}

			client, err := co.client(inv)
			if err != nil {
				return err
			}
			resp, err := client.Request(inv.Context(), http.MethodGet, "/api/v2/aibridge/interceptions?"+q.Encode(), nil)
			if err != nil {
				return err
			}
			defer resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				return sdk.ReadBodyAsError(resp)
			}
			var page interceptionsPage
			if err := json.NewDecoder(io.LimitReader(resp.Body, 256<<20)).Decode(&page); err != nil {
				return fmt.Errorf("decode interceptions: %w", err)
			}
			if format == formatJSON {
				if page.Results == nil {
					page.Results = []json.RawMessage{}
				}
				return writeJSON(inv.Stdout, page)
			}
			return writeInterceptionsTable(inv, page)
		},
	}
	cmd.Options = serpent.OptionSet{
		outputOption(&format),
		{Flag: "initiator", Description: "Only interceptions of this user (id, username or \"me\").", Value: serpent.StringOf(&initiator)},
		{Flag: "provider", Description: "Only this provider (type or configured name).", Value: serpent.StringOf(&provider)},
		{Flag: "model", Description: "Only this model.", Value: serpent.StringOf(&model)},
		{Flag: "client", Description: "Only this client, e.g. \"Claude Code\" (\"Unknown\" matches unidentified ones).", Value: serpent.StringOf(&clientName)},
		{Flag: "started-after", Description: "Only interceptions started after this time.", Value: serpent.StringOf(&startedAfter)},
		{Flag: "started-before", Description: "Only interceptions started before this time.", Value: serpent.StringOf(&startedBefore)},
		{Flag: "after-id", Description: "Page cursor: the id of the last interception of the previous page.", Value: serpent.StringOf(&afterID)},
		{Flag: "limit", Description: "Page size, 1 to 1000.", Default: "100", Value: serpent.Int64Of(&limit)},
	}
	return cmd
}

func writeInterceptionsTable(inv *serpent.Invocation, page interceptionsPage) error {
	if len(page.Results) == 0 {
		_, _ = fmt.Fprintln(inv.Stderr, "No interceptions found.")
		return nil
	}
	rows := make([][]string, 0, len(page.Results))
	var last string
	for _, raw := range page.Results {
		var r interceptionRow
		if err := json.Unmarshal(raw, &r); err != nil {
			return fmt.Errorf("decode interception: %w", err)
		}
		var in, out int64
		for _, u := range r.TokenUsages {
			in += u.InputTokens
			out += u.OutputTokens
		}
		prompt := ""
		if n := len(r.UserPrompts); n > 0 {
			prompt = r.UserPrompts[n-1].Prompt
		}
		client := "Unknown"
		if r.Client != nil && *r.Client != "" {
			client = *r.Client
		}
		provider := r.Provider
		if r.ProviderName != "" && r.ProviderName != r.Provider {
			provider += "/" + r.ProviderName
		}
		rows = append(rows, []string{
			r.ID, formatTime(r.StartedAt), r.Initiator.Username, provider, r.Model, client,
			strconv.FormatInt(in, 10), strconv.FormatInt(out, 10), strconv.Itoa(len(r.ToolUsages)), snippet(prompt, 40),
		})
		last = r.ID
	}
	if err := writeTable(inv.Stdout, []string{"id", "started at", "initiator", "provider", "model", "client", "input", "output", "tools", "prompt"}, rows); err != nil {
		return err
	}
	if int64(len(rows)) < page.Count {
		_, _ = fmt.Fprintf(inv.Stderr, "Showing %d of %d; next page: --after-id %s\n", len(rows), page.Count, last)
	}
	return nil
}

// parseTimeFlag accepts RFC 3339 or a bare date (UTC midnight).
func parseTimeFlag(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%q is neither an RFC 3339 time (2026-01-02T15:04:05Z) nor a date (2026-01-02)", s)
}

// snippet shortens s to at most n runes on one line.
func snippet(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return strings.TrimRight(string(r[:n-1]), " ") + "…"
}
