package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/coder/serpent"
	"github.com/spf13/pflag"

	"gantry/internal/app"
	"gantry/internal/config"
)

// exitInvalidConfig is the exit status of a start refused for invalid
// configuration.
const exitInvalidConfig = 2

// serverCmd is `gantry server`. Its options come from config.Options, the one
// table; serpent parses the command line into recording values only, and
// config.Load does the real work so that every bad input of one start is
// reported at once instead of only the first one serpent meets.
func serverCmd() *serpent.Command {
	table := config.New().Options()
	rec := &flagRecorder{}
	cmd := &serpent.Command{
		Use:   "server",
		Short: "Start the gantry server: the Coder-compatible API and the AI Bridge LLM gateway.",
		Long: "All options can be given as flags, as environment variables or in a YAML file " +
			"(--config). Precedence: flag > environment > YAML > default. An empty environment " +
			"variable counts as unset. --write-config prints the effective YAML and exits.",
		Options:     rec.bind(table),
		HelpHandler: serverHelp,
		Handler: func(inv *serpent.Invocation) error {
			if len(inv.Args) > 0 {
				return &exitError{code: exitInvalidConfig, err: fmt.Errorf("error: unexpected arguments: %s", strings.Join(inv.Args, " "))}
			}
			return runServer(inv, rec.flags)
		},
	}
	return cmd
}

func runServer(inv *serpent.Invocation, flags []config.FlagValue) error {
	environ := inv.Environ.ToOS()
	loaded, err := config.Load(config.Inputs{Environ: environ, Flags: flags})
	if err != nil {
		var problems config.Problems
		if !errors.As(err, &problems) {
			return &exitError{code: exitInvalidConfig, err: fmt.Errorf("error: %w", err)}
		}
		noun := "problem"
		if len(problems) > 1 {
			noun = "problems"
		}
		_, _ = fmt.Fprintf(inv.Stderr, "error: invalid configuration (%d %s):\n", len(problems), noun)
		for _, p := range problems {
			_, _ = fmt.Fprintf(inv.Stderr, "  %s\n", p)
		}
		return &exitError{code: exitInvalidConfig, err: errors.New("")}
	}
	for _, w := range loaded.Warnings {
		_, _ = fmt.Fprintf(inv.Stderr, "WARN: %s\n", w)
	}
	if loaded.Values.WriteConfig {
		return loaded.WriteYAML(inv.Stdout)
	}
	return app.Run(inv.Context(), app.Config{
		Values:  loaded.Values,
		Options: loaded.Options,
		Stdout:  inv.Stdout,
		Stderr:  inv.Stderr,
		Environ: environ,
	})
}

// serverHelp renders help from the real option table (the command's own
// options only record flags and carry no env names or defaults).
func serverHelp(inv *serpent.Invocation) error {
	shadow := &serpent.Command{
		Parent:  inv.Command.Parent,
		Use:     inv.Command.Use,
		Short:   inv.Command.Short,
		Long:    inv.Command.Long,
		Options: config.New().Options(),
	}
	helpInv := shadow.Invoke(inv.Args...)
	helpInv.Stdout = inv.Stdout
	helpInv.Stderr = inv.Stderr
	return serpent.DefaultHelpFn()(helpInv)
}

// flagRecorder captures deployment flags, in order, as raw strings.
type flagRecorder struct {
	flags []config.FlagValue
}

// bind returns a copy of the table whose values record flag input. Env names
// and defaults are left out so serpent neither reads the environment nor
// applies defaults for this command: config.Load does both.
func (r *flagRecorder) bind(table serpent.OptionSet) serpent.OptionSet {
	out := make(serpent.OptionSet, 0, len(table))
	for _, opt := range table {
		if opt.Flag == "" {
			continue
		}
		rv := &recordingValue{flag: opt.Flag, typ: opt.Value.Type(), rec: r}
		var value pflag.Value = rv
		if rv.typ == "bool" {
			value = recordingBool{rv}
		}
		out = append(out, serpent.Option{
			Name:          opt.Name,
			Description:   opt.Description,
			Flag:          opt.Flag,
			FlagShorthand: opt.FlagShorthand,
			Value:         value,
			Group:         opt.Group,
			Hidden:        opt.Hidden,
			Annotations:   opt.Annotations,
		})
	}
	return out
}

type recordingValue struct {
	flag string
	typ  string
	last string
	rec  *flagRecorder
}

func (v *recordingValue) Set(s string) error {
	v.last = s
	v.rec.flags = append(v.rec.flags, config.FlagValue{Name: v.flag, Value: s})
	return nil
}

func (v *recordingValue) String() string { return v.last }
func (v *recordingValue) Type() string   { return v.typ }

// recordingBool lets boolean flags be given without a value (--tls-enable).
type recordingBool struct{ *recordingValue }

func (recordingBool) NoOptDefValue() string { return "true" }
