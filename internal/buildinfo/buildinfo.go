// Package buildinfo reports the version of the running gantry binary.
//
// Version and Commit are set at link time:
//
//	go build -ldflags "-X gantry/internal/buildinfo.tag=2.36.1 -X gantry/internal/buildinfo.commit=$(git rev-parse HEAD)"
package buildinfo

import (
	"runtime/debug"
	"strings"
	"sync"
)

var (
	// tag is the release tag without the leading "v", injected with -ldflags.
	tag string
	// commit is the full VCS revision, injected with -ldflags or read from the
	// Go build information.
	commit string
)

// ProductURL is the home of the gantry project; ExternalURL derives from it.
const ProductURL = "https://github.com/gantry-dev/gantry"

var revisionOnce = sync.OnceValue(func() string {
	if commit != "" {
		return commit
	}
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.revision" {
				return s.Value
			}
		}
	}
	return ""
})

// Revision returns the full VCS revision the binary was built from, or "".
func Revision() string { return revisionOnce() }

// Version returns the semantic version of this build: "v<tag>" for releases
// (with "+<short revision>" appended when known and the tag has no build
// metadata), "v0.0.0-devel" (optionally "+<short revision>") otherwise.
func Version() string {
	rev := Revision()
	short := rev
	if len(short) > 7 {
		short = short[:7]
	}
	if tag == "" {
		if short == "" {
			return "v0.0.0-devel"
		}
		return "v0.0.0-devel+" + short
	}
	v := "v" + strings.TrimPrefix(tag, "v")
	if short != "" && !strings.Contains(v, "+") {
		v += "+" + short
	}
	return v
}

// IsDev reports whether this is a development build.
func IsDev() bool { return strings.Contains(Version(), "-devel") }

// ExternalURL links to the source of this build.
func ExternalURL() string {
	if rev := Revision(); rev != "" {
		return ProductURL + "/commit/" + rev
	}
	return ProductURL
}
