package cli

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// tokensCmd groups the API token commands.
func tokensCmd() *serpent.Command {
	var co clientOptions
	cmd := &serpent.Command{
		Use:     "tokens",
		Aliases: []string{"token"},
		Short:   "Manage your API tokens (for scripts and coding agents).",
		Handler: func(inv *serpent.Invocation) error {
			return serpent.DefaultHelpFn()(inv)
		},
		Children: []*serpent.Command{
			tokensCreateCmd(&co),
			tokensListCmd(&co),
			tokensRemoveCmd(&co),
		},
	}
	cmd.Options = co.options()
	return cmd
}

func tokensCreateCmd(co *clientOptions) *serpent.Command {
	var (
		name     string
		lifetime string
		user     string
	)
	cmd := &serpent.Command{
		Use:        "create",
		Short:      "Create a token and print it (it is shown only once).",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			d, err := parseLifetime(lifetime)
			if err != nil {
				return err
			}
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			resp, err := client.CreateToken(inv.Context(), user, sdk.CreateTokenRequest{TokenName: name, Lifetime: d})
			if err != nil {
				return err
			}
			_, err = fmt.Fprintln(inv.Stdout, resp.Key)
			return err
		},
	}
	cmd.Options = serpent.OptionSet{
		{
			Flag: "name", FlagShorthand: "n", Env: "GANTRY_TOKEN_NAME",
			Description: "A name for the token, unique among your tokens (generated when empty).",
			Value:       serpent.StringOf(&name),
		},
		{
			Flag: "lifetime", Env: "GANTRY_TOKEN_LIFETIME",
			Description: "How long the token is valid: a Go duration plus d (days) and y (years), e.g. 8h, 30d, 1y. Empty: the deployment's default.",
			Value:       serpent.StringOf(&lifetime),
		},
		{
			Flag: "user", FlagShorthand: "u",
			Description: "Create the token for another user (owners only).",
			Default:     sdk.Me,
			Value:       serpent.StringOf(&user),
		},
	}
	return cmd
}

func tokensListCmd(co *clientOptions) *serpent.Command {
	var (
		format         string
		all            bool
		includeExpired bool
	)
	cmd := &serpent.Command{
		Use:        "list",
		Aliases:    []string{"ls"},
		Short:      "List your tokens (session keys are not listed).",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			tokens, err := client.Tokens(inv.Context(), sdk.Me, sdk.TokensFilter{IncludeAll: all, IncludeExpired: includeExpired})
			if err != nil {
				return err
			}
			if format == formatJSON {
				if tokens == nil {
					tokens = []sdk.APIKeyWithOwner{}
				}
				return writeJSON(inv.Stdout, tokens)
			}
			if len(tokens) == 0 {
				_, _ = fmt.Fprintln(inv.Stderr, "No tokens found.")
				return nil
			}
			headers := []string{"id", "name", "last used", "expires at", "created at"}
			if all {
				headers = append(headers, "owner")
			}
			rows := make([][]string, 0, len(tokens))
			for _, t := range tokens {
				r := []string{t.ID, t.TokenName, formatTime(t.LastUsed), formatTime(t.ExpiresAt), formatTime(t.CreatedAt)}
				if all {
					r = append(r, t.Username)
				}
				rows = append(rows, r)
			}
			return writeTable(inv.Stdout, headers, rows)
		},
	}
	cmd.Options = serpent.OptionSet{
		outputOption(&format),
		{
			Flag: "all", FlagShorthand: "a",
			Description: "List every user's tokens (owners only).",
			Value:       serpent.BoolOf(&all),
		},
		{
			Flag:        "include-expired",
			Description: "Include expired tokens.",
			Value:       serpent.BoolOf(&includeExpired),
		},
	}
	return cmd
}

func tokensRemoveCmd(co *clientOptions) *serpent.Command {
	cmd := &serpent.Command{
		Use:        "remove <name|id|token>",
		Aliases:    []string{"rm", "delete"},
		Short:      "Delete one of your tokens; it stops working at once.",
		Middleware: serpent.RequireNArgs(1),
		Handler: func(inv *serpent.Invocation) error {
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			ctx := inv.Context()
			arg := inv.Args[0]
			key, err := client.APIKeyByName(ctx, sdk.Me, arg)
			if err != nil {
				if !sdk.IsStatus(err, 404) {
					return fmt.Errorf("look up token %q: %w", arg, err)
				}
				// Not a name: an id, or a whole token whose id is the part
				// before the dash.
				id, _, _ := strings.Cut(arg, "-")
				key, err = client.APIKeyByID(ctx, sdk.Me, id)
				if err != nil {
					return fmt.Errorf("no token named %q and no token with id %q: %w", arg, id, err)
				}
			}
			if err := client.DeleteAPIKey(ctx, sdk.Me, key.ID); err != nil {
				return fmt.Errorf("delete token %s: %w", key.ID, err)
			}
			_, err = fmt.Fprintf(inv.Stdout, "Token %s (%s) has been deleted.\n", key.TokenName, key.ID)
			return err
		},
	}
	return cmd
}

// parseLifetime parses a Go duration extended with "d" (24h) and "y"
// (365d) units, e.g. "1y", "30d", "1d12h". Empty means zero (the server's
// default lifetime).
func parseLifetime(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := strings.IndexAny(rest, "dy")
		if i < 0 {
			d, err := time.ParseDuration(rest)
			if err != nil {
				return 0, fmt.Errorf("invalid --lifetime %q: %w", s, err)
			}
			total += d
			break
		}
		n, err := strconv.ParseInt(rest[:i], 10, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid --lifetime %q: %q is not a whole number of %s", s, rest[:i], unitName(rest[i]))
		}
		unit := 24 * time.Hour
		if rest[i] == 'y' {
			unit = 365 * 24 * time.Hour
		}
		if n > int64(1<<63-1)/int64(unit) {
			return 0, fmt.Errorf("invalid --lifetime %q: too long", s)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, errors.New("--lifetime must be positive")
	}
	return total, nil
}

func unitName(c byte) string {
	if c == 'y' {
		return "years"
	}
	return "days"
}
