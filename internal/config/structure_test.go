package config_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"gantry/internal/config"
)

// Keys the v2.36.1 reference sends for options newer than the table's 239
// (documented in docs/reference/server.md, "Differences from Coder v2.36.1").
var referenceOnlyConfigKeys = []string{
	"cluster",
	"template_builder",
	"scim_use_legacy",
	"oidc.auto_repair_links",
	"oidc.email_fallback",
	"oidc.redirect_allowed_hosts",
	"ai.bridge.budget_policy",
	"ai.bridge.budget_period",
	"ai.bridge.api_dump_dir",
	"ai.aibridge_proxy.target",
	"ai.aibridge_proxy.api_dump_dir",
	"ai.chat.ai_gateway_routing_enabled",
}

// keyPaths lists the recursive key structure of a decoded JSON value: every
// object key as a dotted path with the JSON kind of its value. Arrays are
// described by their first element.
func keyPaths(v any, prefix string, out map[string]string) {
	switch t := v.(type) {
	case map[string]any:
		for k, c := range t {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			out[p] = kind(c)
			keyPaths(c, p, out)
		}
	case []any:
		if len(t) > 0 {
			keyPaths(t[0], prefix+"[]", out)
		}
	}
}

func kind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "bool"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func diffPaths(want, got map[string]string) []string {
	var diffs []string
	for p, k := range want {
		if g, ok := got[p]; !ok {
			diffs = append(diffs, "missing "+p)
		} else if g != k {
			diffs = append(diffs, fmt.Sprintf("%s: want %s, got %s", p, k, g))
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			diffs = append(diffs, "extra "+p)
		}
	}
	sort.Strings(diffs)
	return diffs
}

// referenceStart loads the configuration the reference server was started
// with (its README lists the flags); everything else is at its default.
func referenceStart(t *testing.T) *config.Loaded {
	t.Helper()
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{
		{Name: "http-address", Value: "127.0.0.1:3000"},
		{Name: "access-url", Value: "http://127.0.0.1:3000"},
		{Name: "postgres-url", Value: "postgres://coder@localhost/coder?sslmode=disable"},
		{Name: "telemetry", Value: "false"},
		{Name: "update-check", Value: "false"},
		{Name: "provisioner-daemons", Value: "0"},
		{Name: "cache-dir", Value: "/var/cache/coder"},
	}})
	require.NoError(t, err)
	return loaded
}

func decode(t *testing.T, v any) map[string]any {
	t.Helper()
	raw, err := json.Marshal(v)
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(raw, &out))
	return out
}

func readReference(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("testdata", "reference_deployment_config.json"))
	require.NoError(t, err)
	var ref map[string]any
	require.NoError(t, json.Unmarshal(raw, &ref))
	return ref
}

func TestConfigKeyStructureMatchesReference(t *testing.T) {
	t.Parallel()
	ref := readReference(t)
	want := map[string]string{}
	keyPaths(ref["config"], "", want)
	for p := range want {
		for _, drop := range referenceOnlyConfigKeys {
			if p == drop || strings.HasPrefix(p, drop+".") {
				delete(want, p)
			}
		}
	}

	for name, loaded := range map[string]*config.Loaded{"reference flags": referenceStart(t)} {
		resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
		require.NoError(t, err)
		got := map[string]string{}
		keyPaths(decode(t, resp)["config"], "", got)
		require.Empty(t, diffPaths(want, got), name)
	}

	// Started with pure defaults, the structure is the same too (the
	// reference flags only change values, and the secret URL is blanked).
	loaded, err := config.Load(config.Inputs{})
	require.NoError(t, err)
	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)
	got := map[string]string{}
	keyPaths(decode(t, resp)["config"], "", got)
	require.Empty(t, diffPaths(want, got))
}

// Documented differences of the shared options: in v2.36.1 the AI Bridge
// options became hidden aliases of the newer --ai-gateway-* options, so they
// carry "hidden" and "use_instead" there.
func referenceOnlyOptionKey(name, path string) bool {
	if strings.HasPrefix(name, "AI Bridge ") {
		return path == "hidden" || path == "use_instead" || strings.HasPrefix(path, "use_instead")
	}
	return false
}

func TestOptionsKeyStructureMatchesReference(t *testing.T) {
	t.Parallel()
	ref := readReference(t)
	refOpts := map[string]map[string]any{}
	var refOrder []string
	for _, o := range ref["options"].([]any) {
		m := o.(map[string]any)
		refOpts[m["name"].(string)] = m
		refOrder = append(refOrder, m["name"].(string))
	}
	require.True(t, sort.StringsAreSorted(refOrder), "the reference sorts by name")

	loaded := referenceStart(t)
	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)
	served := decode(t, resp)["options"].([]any)

	var names []string
	checked := 0
	for _, o := range served {
		m := o.(map[string]any)
		name := m["name"].(string)
		names = append(names, name)
		if ann, ok := m["annotations"].(map[string]any); ok && ann[config.AnnotationGantry] == "true" {
			continue
		}
		want, ok := refOpts[name]
		require.True(t, ok, "option %q is not in the reference", name)
		wantPaths, gotPaths := map[string]string{}, map[string]string{}
		keyPaths(want, "", wantPaths)
		keyPaths(m, "", gotPaths)
		var diffs []string
		for _, d := range diffPaths(wantPaths, gotPaths) {
			path := strings.TrimPrefix(strings.TrimPrefix(strings.TrimPrefix(d, "missing "), "extra "), "")
			path = strings.SplitN(path, ":", 2)[0]
			if referenceOnlyOptionKey(name, path) {
				continue
			}
			diffs = append(diffs, d)
		}
		require.Empty(t, diffs, "option %q", name)
		checked++
	}
	require.Equal(t, 239, checked)
	require.True(t, sort.StringsAreSorted(names), "served options are sorted by name")
}

// gantryDefaults are the documented default differences from v2.36.1 (see
// docs/reference/server.md); every other value and default must be equal.
var gantryDefaults = map[string]bool{
	"AI Bridge Enabled":      true, // the table's false; v2.36.1 turned it on
	"Boundary Log Retention": true, // the table's 2160h; v2.36.1 uses 0
	"Cache Directory":        true, // default only: <user cache dir>/gantry
	"Docs URL":               true, // gantry's documentation
	"Telemetry Enable":       true, // default only: gantry never phones home
	"Update Check":           true, // default only: off in development builds
}

// TestOptionsMetadataMatchesReference compares, option by option, every
// field of the served options that is not prose: name, flag, shorthand, env,
// YAML key, annotations, group chain (names and YAML keys), hidden,
// use_instead targets, value_source, and (apart from gantryDefaults) the
// default and the JSON-encoded value.
func TestOptionsMetadataMatchesReference(t *testing.T) {
	t.Parallel()
	ref := readReference(t)
	refOpts := map[string]map[string]any{}
	for _, o := range ref["options"].([]any) {
		m := o.(map[string]any)
		refOpts[m["name"].(string)] = m
	}
	loaded := referenceStart(t)
	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)

	meta := func(o map[string]any) map[string]any {
		out := map[string]any{}
		for _, k := range []string{"name", "flag", "flag_shorthand", "env", "yaml", "annotations", "hidden", "value_source", "default", "value"} {
			if v, ok := o[k]; ok {
				out[k] = v
			}
		}
		var groups []string
		for g, _ := o["group"].(map[string]any); g != nil; g, _ = g["parent"].(map[string]any) {
			groups = append(groups, fmt.Sprintf("%v/%v", g["name"], g["yaml"]))
		}
		out["group"] = strings.Join(groups, " < ")
		var targets []string
		for _, u := range asSlice(o["use_instead"]) {
			targets = append(targets, u.(map[string]any)["name"].(string))
		}
		out["use_instead"] = strings.Join(targets, ",")
		return out
	}
	for _, o := range decode(t, resp)["options"].([]any) {
		m := o.(map[string]any)
		name := m["name"].(string)
		if ann, _ := m["annotations"].(map[string]any); ann[config.AnnotationGantry] == "true" {
			continue
		}
		want, got := meta(refOpts[name]), meta(m)
		if gantryDefaults[name] {
			if name != "Update Check" { // equal in release builds
				require.NotEqual(t, want["default"], got["default"], "%q: no longer differs; update gantryDefaults and the docs", name)
			}
			delete(want, "default")
			delete(got, "default")
			delete(want, "value")
			delete(got, "value")
		}
		if strings.HasPrefix(name, "AI Bridge ") {
			// v2.36.1 deprecates the AI Bridge options (hidden, use_instead,
			// groups renamed "… (Deprecated)"); see the reference doc.
			for _, k := range []string{"hidden", "use_instead", "group"} {
				delete(want, k)
				delete(got, k)
			}
		}
		require.Equal(t, want, got, "option %q", name)
	}
}

// TestConfigValuesMatchReference: started like the reference server, every
// shared `config` value encodes identically, apart from the documented
// default differences.
func TestConfigValuesMatchReference(t *testing.T) {
	t.Parallel()
	ref := readReference(t)
	loaded := referenceStart(t)
	resp, err := config.DeploymentConfigResponse(loaded.Values, loaded.Options)
	require.NoError(t, err)
	differs := map[string]bool{"docs_url": true, "ai.bridge.enabled": true, "retention.boundary_logs": true}
	for _, k := range referenceOnlyConfigKeys {
		differs[k] = true
	}
	var diffs []string
	var walk func(path string, ours, theirs any)
	walk = func(path string, ours, theirs any) {
		if differs[path] {
			return
		}
		om, ok1 := ours.(map[string]any)
		tm, ok2 := theirs.(map[string]any)
		if ok1 && ok2 {
			for k := range tm {
				p := k
				if path != "" {
					p = path + "." + k
				}
				walk(p, om[k], tm[k])
			}
			return
		}
		a, _ := json.Marshal(ours)
		b, _ := json.Marshal(theirs)
		if !bytes.Equal(a, b) {
			diffs = append(diffs, fmt.Sprintf("%s: gantry %s, reference %s", path, a, b))
		}
	}
	walk("", decode(t, resp)["config"], ref["config"])
	require.Empty(t, diffs)
}
