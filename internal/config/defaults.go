package config

import (
	"os"
	"path/filepath"

	"github.com/coder/serpent"

	"gantry/internal/buildinfo"
)

// Annotation keys used in the table. Values are always "true".
const (
	annotationSecret         = "secret"
	annotationFormatDuration = "format_duration"
)

// IsSecret reports whether opt carries the secret annotation.
func IsSecret(opt serpent.Option) bool { return opt.Annotations.IsSet(annotationSecret) }

// DefaultCacheDir is the default of --cache-dir: "gantry" under the user cache
// directory ($XDG_CACHE_HOME or ~/.cache on Linux), or under the system
// temporary directory when the user has none.
func DefaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil || dir == "" {
		dir = os.TempDir()
	}
	return filepath.Join(dir, "gantry")
}

// defaultDocsURL points at the documentation of this build's source tree.
func defaultDocsURL() string {
	return buildinfo.ProductURL + "/tree/main/docs"
}

// New returns a DeploymentValues with every field at its zero value. Parse
// the option set (see Load) to apply defaults.
func New() *DeploymentValues { return &DeploymentValues{} }
