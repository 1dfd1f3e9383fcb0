package cli

import (
	"bufio"
	"errors"
	"fmt"
	"strings"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// loginCmd signs in to a deployment with the same calls as `coder login`:
// GET /users/first; on a fresh deployment POST /users/first, POST
// /users/login; with --token POST /users/me/keys; finally GET /users/me,
// then the URL and session token are saved.
func loginCmd() *serpent.Command {
	var (
		co                clientOptions
		username          string
		email             string
		password          string
		fullName          string
		trial             bool
		useTokenAsSession bool
	)
	cmd := &serpent.Command{
		Use:   "login [<url>]",
		Short: "Authenticate with a gantry deployment and save the session.",
		Long: "Without users on the deployment, --first-user-username, --first-user-email and " +
			"--first-user-password create the first (owner) account. Otherwise pass an API token " +
			"with --token (or GANTRY_SESSION_TOKEN), or paste one when asked.",
		Middleware: serpent.RequireRangeArgs(0, 1),
		Handler: func(inv *serpent.Invocation) error {
			ctx := inv.Context()
			raw := co.url
			if len(inv.Args) == 1 {
				raw = inv.Args[0]
			}
			if raw == "" {
				cs, err := co.store(inv)
				if err != nil {
					return err
				}
				if raw, err = cs.read(urlFile); err != nil {
					return errors.New("no deployment URL: run `gantry login <url>`")
				}
			}
			u, err := parseDeploymentURL(raw)
			if err != nil {
				return err
			}
			client := sdk.New(u)

			hasFirst, err := client.HasFirstUser(ctx)
			if err != nil {
				return fmt.Errorf("check %s for a first user (is the URL right and the server up?): %w", u, err)
			}

			var session string
			switch {
			case !hasFirst:
				if username == "" || email == "" || password == "" {
					return errors.New("this deployment has no users yet: create the first (owner) account with " +
						"--first-user-username, --first-user-email and --first-user-password")
				}
				_, _ = fmt.Fprintf(inv.Stdout, "Creating the first user %q on %s.\n", username, u)
				_, err = client.CreateFirstUser(ctx, sdk.CreateFirstUserRequest{
					Email: email, Username: username, Name: fullName, Password: password, Trial: trial,
				})
				if err != nil {
					return fmt.Errorf("create the first user: %w", err)
				}
				resp, err := client.LoginWithPassword(ctx, sdk.LoginWithPasswordRequest{Email: email, Password: password})
				if err != nil {
					return fmt.Errorf("log in as the first user: %w", err)
				}
				session = resp.SessionToken
			case co.token != "" && useTokenAsSession:
				session = co.token
			case co.token != "":
				// The given token stays the caller's: trade it for a session
				// key of our own, so `gantry logout` never deletes it.
				client.SessionToken = co.token
				key, err := client.CreateAPIKey(ctx, sdk.Me)
				if err != nil {
					return fmt.Errorf("create a session key with the given token: %w", err)
				}
				session = key.Key
			default:
				session, err = promptToken(inv, client)
				if err != nil {
					return err
				}
			}

			client.SessionToken = session
			me, err := client.User(ctx, sdk.Me)
			if err != nil {
				return fmt.Errorf("fetch the signed-in user: %w", err)
			}
			cs, err := co.store(inv)
			if err != nil {
				return err
			}
			if err := cs.write(sessionFile, session); err != nil {
				return err
			}
			if err := cs.write(urlFile, u.String()); err != nil {
				return err
			}
			_, _ = fmt.Fprintf(inv.Stdout, "Welcome to gantry, %s! You're authenticated.\n", me.Username)
			return nil
		},
	}
	cmd.Options = append(co.options(),
		serpent.Option{
			Flag:        "first-user-username",
			Env:         "GANTRY_FIRST_USER_USERNAME",
			Description: "Username of the first user, if the deployment has none yet.",
			Value:       serpent.StringOf(&username),
		},
		serpent.Option{
			Flag:        "first-user-email",
			Env:         "GANTRY_FIRST_USER_EMAIL",
			Description: "Email of the first user, if the deployment has none yet.",
			Value:       serpent.StringOf(&email),
		},
		serpent.Option{
			Flag:        "first-user-password",
			Env:         "GANTRY_FIRST_USER_PASSWORD",
			Description: "Password of the first user, if the deployment has none yet.",
			Value:       serpent.StringOf(&password),
		},
		serpent.Option{
			Flag:        "first-user-full-name",
			Env:         "GANTRY_FIRST_USER_FULL_NAME",
			Description: "Full name of the first user, if the deployment has none yet.",
			Value:       serpent.StringOf(&fullName),
		},
		serpent.Option{
			Flag:        "first-user-trial",
			Env:         "GANTRY_FIRST_USER_TRIAL",
			Description: "Accepted for compatibility with `coder login`; gantry has no trial.",
			Value:       serpent.BoolOf(&trial),
		},
		serpent.Option{
			Flag:        "use-token-as-session",
			Description: "Save the token given with --token as the session instead of creating a new session key.",
			Value:       serpent.BoolOf(&useTokenAsSession),
		},
	)
	return cmd
}

// promptToken asks for a token on standard input and checks it with GET
// /users/me, up to three times.
func promptToken(inv *serpent.Invocation, client *sdk.Client) (string, error) {
	_, _ = fmt.Fprintf(inv.Stdout, "Create a token in gantry (for example `gantry tokens create` on a signed-in machine) and paste it here: ")
	sc := bufio.NewScanner(inv.Stdin)
	for attempt := 0; attempt < 3; attempt++ {
		if !sc.Scan() {
			if err := sc.Err(); err != nil {
				return "", fmt.Errorf("read token: %w", err)
			}
			return "", errors.New("no token given: pass --token or paste a token on standard input")
		}
		token := strings.TrimSpace(sc.Text())
		if token == "" {
			continue
		}
		client.SessionToken = token
		if _, err := client.User(inv.Context(), sdk.Me); err != nil {
			_, _ = fmt.Fprintf(inv.Stdout, "\nThat token was refused (%s). Paste a valid token: ", firstLine(err.Error()))
			continue
		}
		return token, nil
	}
	return "", errors.New("no valid token after three attempts")
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
