// Package app is gantry's composition root: it builds the logger, metrics
// registry, store, API, gateway and listeners from the deployment values and
// runs them until the context ends.
package app

import (
	"context"
	"errors"
	"io"

	"github.com/coder/serpent"

	"gantry/internal/config"
)

// Config is what the server command hands to Run.
type Config struct {
	Values  *config.DeploymentValues
	Options serpent.OptionSet
	Stdout  io.Writer
	Stderr  io.Writer
	// Environ is the process environment (for indexed provider variables).
	Environ []string
}

// Run serves until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, cfg Config) error {
	return errors.New("not implemented yet")
}
