// Package cli is gantry's command tree: the server and the client commands
// (login, whoami, users, tokens, aibridge). Each command lives in its own
// file; Root lists them.
package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"syscall"

	"github.com/coder/serpent"
)

// Root returns the gantry command tree.
func Root() *serpent.Command {
	return &serpent.Command{
		Use:   "gantry <subcommand>",
		Short: "gantry: a self-hosted control plane for AI coding (Coder-compatible API and LLM gateway).",
		Handler: func(inv *serpent.Invocation) error {
			return serpent.DefaultHelpFn()(inv)
		},
		Children: []*serpent.Command{
			versionCmd(),
			withSubcommands(serverCmd(), createAdminUserCmd()),
			loginCmd(),
			logoutCmd(),
			whoamiCmd(),
			usersCmd(),
			tokensCmd(),
			aibridgeCmd(),
		},
	}
}

// exitError carries a process exit code through serpent.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

// Main runs the command line and returns the process exit code.
func Main(args, environ []string, stdin io.Reader, stdout, stderr io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	inv := Root().Invoke(args...)
	inv.Environ = serpent.ParseEnviron(environ, "")
	inv.Stdin = stdin
	inv.Stdout = stdout
	inv.Stderr = stderr
	err := inv.WithContext(ctx).Run()
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil && ee.err.Error() != "" {
			_, _ = fmt.Fprintln(stderr, ee.err.Error())
		}
		return ee.code
	}
	_, _ = fmt.Fprintln(stderr, "error: "+err.Error())
	return 1
}
