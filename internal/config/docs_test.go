package config_test

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/config"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestGoldenReferenceDoc keeps docs/reference/server.md in sync with the
// table. Run `make update-golden` after changing an option.
func TestGoldenReferenceDoc(t *testing.T) {
	t.Parallel()
	var got bytes.Buffer
	require.NoError(t, config.WriteReference(&got))
	path := filepath.Join("..", "..", "docs", "reference", "server.md")
	if *update {
		require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
		require.NoError(t, os.WriteFile(path, got.Bytes(), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run `make update-golden`")
	require.Equal(t, string(want), got.String(), "docs/reference/server.md is stale: run `make update-golden`")
	// Every option is documented, hidden ones included.
	for _, opt := range config.New().Options() {
		require.Contains(t, got.String(), "### "+opt.Name+"\n")
	}
}
