package cli

import (
	"fmt"

	"github.com/coder/serpent"

	"gantry/internal/buildinfo"
)

func versionCmd() *serpent.Command {
	return &serpent.Command{
		Use:   "version",
		Short: "Show the gantry version.",
		Handler: func(inv *serpent.Invocation) error {
			_, err := fmt.Fprintf(inv.Stdout, "gantry %s\n%s\n", buildinfo.Version(), buildinfo.ExternalURL())
			return err
		},
	}
}
