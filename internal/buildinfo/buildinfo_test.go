package buildinfo_test

import (
	"strings"
	"testing"

	"gantry/internal/buildinfo"
)

func TestVersionIsDevWithoutTag(t *testing.T) {
	t.Parallel()
	v := buildinfo.Version()
	if !strings.HasPrefix(v, "v0.0.0-devel") {
		t.Fatalf("Version() = %q, want a v0.0.0-devel version when no tag is linked in", v)
	}
	if !buildinfo.IsDev() {
		t.Fatal("IsDev() = false for a build without a tag")
	}
	if !strings.HasPrefix(buildinfo.ExternalURL(), buildinfo.ProductURL) {
		t.Fatalf("ExternalURL() = %q", buildinfo.ExternalURL())
	}
}
