package cli

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// logoutCmd ends the saved session on the server (POST /users/logout) and
// removes the saved URL and token.
func logoutCmd() *serpent.Command {
	var co clientOptions
	cmd := &serpent.Command{
		Use:        "logout",
		Short:      "End the saved session and forget the credentials.",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			cs, err := co.store(inv)
			if err != nil {
				return err
			}
			client, err := co.client(inv)
			if errors.Is(err, errNotLoggedIn) {
				return errors.New("you are not logged in")
			}
			if err != nil {
				return err
			}
			// A session that already expired or was deleted is as good as
			// logged out; anything else is worth reporting, but the local
			// credentials go either way.
			var serverErr error
			if err := client.Logout(inv.Context()); err != nil && !sdk.IsStatus(err, 401) {
				serverErr = fmt.Errorf("end the session on the server: %w", err)
			}
			for _, name := range []string{sessionFile, urlFile} {
				if err := cs.remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return fmt.Errorf("remove saved %s: %w", name, err)
				}
			}
			if serverErr != nil {
				return serverErr
			}
			_, _ = fmt.Fprintln(inv.Stdout, "You are no longer logged in. Log in again with `gantry login <url>`.")
			return nil
		},
	}
	cmd.Options = co.options()
	return cmd
}
