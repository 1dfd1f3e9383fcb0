package cli

import (
	"fmt"

	"github.com/coder/serpent"

	"gantry/sdk"
)

// whoamiResult is the JSON output of `gantry whoami -o json`.
type whoamiResult struct {
	URL  string   `json:"url"`
	User sdk.User `json:"user"`
}

// whoamiCmd shows which deployment and user the saved session belongs to.
func whoamiCmd() *serpent.Command {
	var (
		co     clientOptions
		format string
	)
	cmd := &serpent.Command{
		Use:        "whoami",
		Short:      "Show the deployment and the user you are authenticated as.",
		Middleware: serpent.RequireNArgs(0),
		Handler: func(inv *serpent.Invocation) error {
			client, err := co.client(inv)
			if err != nil {
				return err
			}
			me, err := client.User(inv.Context(), sdk.Me)
			if err != nil {
				return err
			}
			if format == formatJSON {
				return writeJSON(inv.Stdout, whoamiResult{URL: client.URL.String(), User: me})
			}
			roles := make([]string, 0, len(me.Roles))
			for _, r := range me.Roles {
				roles = append(roles, r.Name)
			}
			_, err = fmt.Fprintf(inv.Stdout, "gantry is running at %s, you're authenticated as %s (%s, roles %v).\n",
				client.URL, me.Username, me.Email, roles)
			return err
		},
	}
	cmd.Options = append(co.options(), outputOption(&format))
	return cmd
}
