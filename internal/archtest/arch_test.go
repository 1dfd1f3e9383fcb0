// Package archtest guards gantry's package architecture: the direction of
// imports between packages and the licence boundary of the module.
package archtest_test

import (
	"bytes"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func repoRoot(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("cannot locate test file")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func listPackages(t *testing.T) []pkg {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), "go", "list", "-json", "./...")
	cmd.Dir = repoRoot(t)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	var pkgs []pkg
	dec := json.NewDecoder(bytes.NewReader(out))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatalf("decode go list output: %v", err)
		}
		pkgs = append(pkgs, p)
	}
	return pkgs
}

// rules: a package matching the prefix must not import (directly) any
// package matching one of the forbidden prefixes.
var rules = []struct {
	pkg       string
	forbidden []string
	why       string
}{
	{"gantry/sdk", []string{"gantry/internal/"}, "the public SDK never depends on internals"},
	{"gantry/internal/store", []string{"gantry/internal/api", "gantry/internal/httpapi", "gantry/internal/httpmw", "gantry/internal/app", "gantry/internal/aibridge", "gantry/internal/cli"}, "storage is a leaf below the HTTP layers"},
	{"gantry/internal/config", []string{"gantry/internal/api", "gantry/internal/app", "gantry/internal/store", "gantry/internal/aibridge", "gantry/internal/cli", "gantry/internal/httpmw"}, "the option table is a leaf"},
	{"gantry/internal/buildinfo", []string{"gantry/"}, "buildinfo imports nothing of gantry"},
	{"gantry/internal/httpapi", []string{"gantry/internal/"}, "the response vocabulary is a leaf"},
	{"gantry/internal/authz", []string{"gantry/"}, "the role table is a leaf"},
	{"gantry/internal/aibridge", []string{"gantry/internal/api", "gantry/internal/app", "gantry/internal/cli"}, "the gateway does not know the REST API or the composition root"},
	{"gantry/internal/api", []string{"gantry/internal/app", "gantry/internal/cli"}, "handlers do not know the composition root"},
}

func TestImportDirection(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		for _, r := range rules {
			if p.ImportPath != r.pkg && !strings.HasPrefix(p.ImportPath, r.pkg+"/") {
				continue
			}
			for _, imp := range p.Imports {
				for _, f := range r.forbidden {
					if strings.HasPrefix(imp, f) || imp == strings.TrimSuffix(f, "/") {
						t.Errorf("%s imports %s: %s", p.ImportPath, imp, r.why)
					}
				}
			}
		}
		// Only the command tree and test harnesses may use the composition root.
		if !strings.HasPrefix(p.ImportPath, "gantry/internal/cli") && !strings.HasPrefix(p.ImportPath, "gantry/internal/app") {
			for _, imp := range p.Imports {
				if imp == "gantry/internal/app" {
					t.Errorf("%s imports gantry/internal/app: only the command tree wires the application", p.ImportPath)
				}
			}
		}
	}
}

// TestNoAGPLDependencies keeps Coder's AGPL modules out of the gantry module;
// the compatibility tests that use them live in the separate compat module.
func TestNoAGPLDependencies(t *testing.T) {
	t.Parallel()
	for _, p := range listPackages(t) {
		for _, d := range p.Deps {
			if strings.HasPrefix(d, "github.com/coder/coder") || strings.HasPrefix(d, "github.com/coder/aibridge") {
				t.Errorf("%s depends on %s (AGPL); only the compat module may", p.ImportPath, d)
			}
		}
	}
}
