// Command gantry is the gantry control plane: a Coder-compatible deployment
// server and an LLM gateway for coding agents.
package main

import (
	"os"

	"gantry/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], os.Environ(), os.Stdin, os.Stdout, os.Stderr))
}
