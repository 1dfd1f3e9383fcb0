package cli

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// usersCmd groups the user administration commands.
func usersCmd() *serpent.Command {
	var co clientOptions
	cmd := &serpent.Command{
		Use:   "users",
		Short: "Manage users (owners and user admins).",
		Handler: func(inv *serpent.Invocation) error {
			return serpent.DefaultHelpFn()(inv)
		},
		Children: []*serpent.Command{
			usersListCmd(&co),
			usersCreateCmd(&co),
		},
	}
	cmd.Options = co.options()
	return cmd
}

func usersListCmd(co *clientOptions) *serpent.Command {
	var (
		format string
		search string
		limit  int64
	)
	cmd := &serpent.Command{
		Use:        "list",
		Aliases:    []string{"ls"},
		Short:      "List users.",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			if limit < 0 {
				return errors.New("--limit must not be negative")
			}
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			resp, err := client.Users(inv.Context(), sdk.UsersRequest{Search: search, Limit: int(limit)})
			if err != nil {
				return err
			}
			if format == formatJSON {
				if resp.Users == nil {
					resp.Users = []sdk.User{}
				}
				return writeJSON(inv.Stdout, resp.Users)
			}
			rows := make([][]string, 0, len(resp.Users))
			for _, u := range resp.Users {
				rows = append(rows, []string{u.Username, u.Email, string(u.Status), roleNames(u.Roles), formatTime(u.CreatedAt)})
			}
			return writeTable(inv.Stdout, []string{"username", "email", "status", "roles", "created at"}, rows)
		},
	}
	cmd.Options = serpent.OptionSet{
		outputOption(&format),
		{
			Flag:        "search",
			Description: "Filter: text matched against username and email, plus status:<s> and role:<r> terms.",
			Value:       serpent.StringOf(&search),
		},
		{
			Flag:        "limit",
			Description: "Maximum number of users to list (0: the server's default).",
			Default:     "0",
			Value:       serpent.Int64Of(&limit),
		},
	}
	return cmd
}

func usersCreateCmd(co *clientOptions) *serpent.Command {
	var (
		username string
		email    string
		fullName string
		password string
		format   string
	)
	cmd := &serpent.Command{
		Use:        "create",
		Short:      "Create a user with password login.",
		Long:       "Without --password a random password is generated and printed once.",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			if username == "" || email == "" {
				return errors.New("--username and --email are required")
			}
			generated := false
			if password == "" {
				password = randomPassword()
				generated = true
			}
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			u, err := client.CreateUser(inv.Context(), sdk.CreateUserRequest{
				Email: email, Username: username, Name: fullName, Password: password,
				LoginType: sdk.LoginTypePassword,
			})
			if err != nil {
				return err
			}
			if format == formatJSON {
				return writeJSON(inv.Stdout, u)
			}
			_, _ = fmt.Fprintf(inv.Stdout, "Created user %q (%s, id %s).\n", u.Username, u.Email, u.ID)
			if generated {
				_, _ = fmt.Fprintf(inv.Stdout, "Generated password (shown once): %s\n", password)
			}
			return nil
		},
	}
	cmd.Options = serpent.OptionSet{
		{Flag: "username", FlagShorthand: "u", Description: "Username of the new user.", Value: serpent.StringOf(&username)},
		{Flag: "email", FlagShorthand: "e", Description: "Email of the new user.", Value: serpent.StringOf(&email)},
		{Flag: "full-name", FlagShorthand: "n", Description: "Full name of the new user.", Value: serpent.StringOf(&fullName)},
		{Flag: "password", FlagShorthand: "p", Env: "GANTRY_NEW_USER_PASSWORD", Description: "Password of the new user; generated when empty.", Value: serpent.StringOf(&password)},
		outputOption(&format),
	}
	return cmd
}

func roleNames(roles []sdk.SlimRole) string {
	names := make([]string, 0, len(roles))
	for _, r := range roles {
		names = append(names, r.Name)
	}
	if len(names) == 0 {
		return "member"
	}
	return strings.Join(names, ",")
}

// randomPassword returns 20 random base32 characters (100 bits), well above
// the server's strength rules.
func randomPassword() string {
	return rand.Text()[:20]
}
