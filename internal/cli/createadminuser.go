package cli

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"time"

	"github.com/coder/serpent"

	"gantry/internal/app"
	"gantry/internal/authz"
	"gantry/internal/config"
	"gantry/internal/store"
	"gantry/internal/userpassword"
)

// withSubcommands attaches children to a command built in another file (the
// server command owns its own file; its subcommands live in theirs).
func withSubcommands(cmd *serpent.Command, children ...*serpent.Command) *serpent.Command {
	cmd.Children = append(cmd.Children, children...)
	return cmd
}

// usernamePattern is Coder's username rule: letters, digits and single
// inner dashes, at most 32 characters (checked separately).
var usernamePattern = regexp.MustCompile(`^[a-zA-Z0-9]+(?:-[a-zA-Z0-9]+)*$`)

// createAdminUserCmd is `gantry server create-admin-user`: it opens the
// store the server would open (the same --postgres-url / --cache-dir flags
// and CODER_* variables) and inserts an owner directly, for recovering a
// deployment whose owners are locked out or for scripted set-up before the
// server first starts.
func createAdminUserCmd() *serpent.Command {
	var (
		username string
		email    string
		password string
		fullName string
	)
	cmd := &serpent.Command{
		Use:   "create-admin-user",
		Short: "Create an owner directly in the database (server stopped or running).",
		Long: "Opens the database the server uses, selected by the server's own flags and " +
			"environment (--postgres-url / CODER_PG_CONNECTION_URL, else the SQLite file under " +
			"--cache-dir / CODER_CACHE_DIRECTORY), applies migrations and inserts a user with the " +
			"owner role. Without --password a random password is generated and printed once.",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			if len(username) > 32 || !usernamePattern.MatchString(username) {
				return fmt.Errorf("--username %q: use 1 to 32 letters, digits and single inner dashes", username)
			}
			if addr, err := mail.ParseAddress(email); err != nil || addr.Address != email {
				return fmt.Errorf("--email %q is not a valid email address", email)
			}
			generated := false
			if password == "" {
				password = randomPassword()
				generated = true
			}
			if err := userpassword.Validate(password); err != nil {
				return fmt.Errorf("--password: %w", err)
			}

			loaded, err := config.Load(config.Inputs{
				Environ: inv.Environ.ToOS(),
				Flags:   deploymentFlags(inv),
			})
			if err != nil {
				return fmt.Errorf("server configuration: %w", err)
			}
			ctx := inv.Context()
			st, err := app.OpenStore(ctx, loaded.Values)
			if err != nil {
				return err
			}
			defer st.Close()

			// The default organization exists before the first user, as it
			// does when the server creates the first user.
			if _, err := st.DefaultOrganization(ctx); err != nil {
				return fmt.Errorf("default organization: %w", err)
			}
			hash, err := userpassword.NewHasher(userpassword.Params{}).Hash(password)
			if err != nil {
				return fmt.Errorf("hash password: %w", err)
			}
			// The store fills in the id, the active status, the password
			// login type and the creation times.
			u, err := st.InsertUser(ctx, store.User{
				Email:          email,
				Username:       username,
				Name:           fullName,
				HashedPassword: []byte(hash),
				Roles:          []string{authz.RoleOwner},
				LastSeenAt:     time.Now(),
			})
			if errors.Is(err, store.ErrConflict) {
				field := "username or email"
				var ce *store.ConflictError
				if errors.As(err, &ce) && ce.Field != "" {
					field = ce.Field
				}
				return fmt.Errorf("a user with this %s already exists", field)
			}
			if err != nil {
				return fmt.Errorf("insert user: %w", err)
			}
			_, _ = fmt.Fprintf(inv.Stdout, "Created owner %q (%s, id %s) in the %s database.\n", u.Username, u.Email, u.ID, st.Backend())
			if generated {
				_, _ = fmt.Fprintf(inv.Stdout, "Generated password (shown once): %s\n", password)
			}
			return nil
		},
	}
	cmd.Options = serpent.OptionSet{
		{Flag: "username", Env: "CODER_USERNAME", Description: "Username of the new owner.", Required: true, Value: serpent.StringOf(&username)},
		{Flag: "email", Env: "CODER_EMAIL", Description: "Email of the new owner.", Required: true, Value: serpent.StringOf(&email)},
		{Flag: "password", Env: "CODER_PASSWORD", Description: "Password of the new owner; generated when empty.", Value: serpent.StringOf(&password)},
		{Flag: "full-name", Description: "Full name of the new owner.", Value: serpent.StringOf(&fullName)},
	}
	return cmd
}

// deploymentFlags returns the server flags given on the command line (the
// parent `server` command declares and parses them), leaving out this
// command's own.
func deploymentFlags(inv *serpent.Invocation) []config.FlagValue {
	own := map[string]bool{}
	for _, o := range inv.Command.Options {
		own[o.Flag] = true
	}
	var flags []config.FlagValue
	for _, o := range inv.Command.FullOptions() {
		if o.Flag == "" || own[o.Flag] || !inv.ParsedFlags().Changed(o.Flag) {
			continue
		}
		flags = append(flags, config.FlagValue{Name: o.Flag, Value: o.Value.String()})
	}
	return flags
}
