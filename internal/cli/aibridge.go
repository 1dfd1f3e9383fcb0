package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coder/serpent"
	"github.com/google/uuid"

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

func interceptionsListCmd(co *clientOptions) *serpent.Command {
	var (
		format        string
		filter        sdk.AIBridgeListInterceptionsFilter
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
			filter.Limit = int(limit)
			var err error
			if startedAfter != "" {
				if filter.StartedAfter, err = parseTimeFlag(startedAfter); err != nil {
					return fmt.Errorf("--started-after: %w", err)
				}
			}
			if startedBefore != "" {
				if filter.StartedBefore, err = parseTimeFlag(startedBefore); err != nil {
					return fmt.Errorf("--started-before: %w", err)
				}
			}
			if afterID != "" {
				if filter.AfterID, err = uuid.Parse(afterID); err != nil {
					return fmt.Errorf("--after-id %q is not an interception id (a UUID)", afterID)
				}
			}
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			page, err := client.AIBridgeListInterceptions(inv.Context(), filter)
			if err != nil {
				return err
			}
			if page.Results == nil {
				page.Results = []sdk.AIBridgeInterception{}
			}
			if format == formatJSON {
				return writeJSON(inv.Stdout, page)
			}
			return writeInterceptionsTable(inv, page, filter.Limit)
		},
	}
	cmd.Options = serpent.OptionSet{
		outputOption(&format),
		{Flag: "initiator", Description: "Only interceptions of this user (id, username or \"me\").", Value: serpent.StringOf(&filter.Initiator)},
		{Flag: "provider", Description: "Only this provider (type or configured name).", Value: serpent.StringOf(&filter.Provider)},
		{Flag: "model", Description: "Only this model.", Value: serpent.StringOf(&filter.Model)},
		{Flag: "client", Description: "Only this client, e.g. \"Claude Code\" (\"Unknown\" matches unidentified ones).", Value: serpent.StringOf(&filter.Client)},
		{Flag: "started-after", Description: "Only interceptions started after this time.", Value: serpent.StringOf(&startedAfter)},
		{Flag: "started-before", Description: "Only interceptions started before this time.", Value: serpent.StringOf(&startedBefore)},
		{Flag: "after-id", Description: "Page cursor: the id of the last interception of the previous page.", Value: serpent.StringOf(&afterID)},
		{Flag: "limit", Description: "Page size, 1 to 1000.", Default: "100", Value: serpent.Int64Of(&limit)},
	}
	return cmd
}

// writeInterceptionsTable prints one page. Count is the total that matches
// the filter regardless of paging, so a full page with more matches points
// at the next one.
func writeInterceptionsTable(inv *serpent.Invocation, page sdk.AIBridgeListInterceptionsResponse, limit int) error {
	if len(page.Results) == 0 {
		_, _ = fmt.Fprintln(inv.Stderr, "No interceptions found.")
		return nil
	}
	rows := make([][]string, 0, len(page.Results))
	for _, r := range page.Results {
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
			r.ID.String(), formatTime(r.StartedAt), r.Initiator.Username, provider, r.Model, client,
			strconv.FormatInt(in, 10), strconv.FormatInt(out, 10), strconv.Itoa(len(r.ToolUsages)), snippet(prompt, 40),
		})
	}
	if err := writeTable(inv.Stdout, []string{"id", "started at", "initiator", "provider", "model", "client", "input", "output", "tools", "prompt"}, rows); err != nil {
		return err
	}
	if len(rows) == limit && int64(len(rows)) < page.Count {
		last := page.Results[len(page.Results)-1].ID
		_, _ = fmt.Fprintf(inv.Stderr, "%d of %d matching interceptions shown; next page: --after-id %s\n", len(rows), page.Count, last)
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
