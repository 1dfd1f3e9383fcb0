package config_test

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode"

	"github.com/coder/serpent"
	"github.com/spf13/pflag"
	"github.com/stretchr/testify/require"

	"gantry/internal/config"
)

// tsvRow is one row of testdata/options.tsv, the specification's table.
type tsvRow map[string]string

func readTSV(t *testing.T) []tsvRow {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "options.tsv"))
	require.NoError(t, err)
	defer f.Close()
	r := csv.NewReader(f)
	r.Comma = '\t'
	r.LazyQuotes = true
	records, err := r.ReadAll()
	require.NoError(t, err)
	header := records[0]
	rows := make([]tsvRow, 0, len(records)-1)
	for _, rec := range records[1:] {
		row := tsvRow{}
		for i, h := range header {
			row[h] = rec[i]
		}
		rows = append(rows, row)
	}
	return rows
}

// coderOptions is the table without gantry's extensions.
func coderOptions(opts serpent.OptionSet) serpent.OptionSet {
	return opts.Filter(func(o serpent.Option) bool { return !o.Annotations.IsSet(config.AnnotationGantry) })
}

func TestOptionsMatchSpecificationTable(t *testing.T) {
	t.Parallel()
	rows := readTSV(t)
	opts := coderOptions(config.New().Options())
	require.Len(t, rows, 239)
	require.Len(t, opts, 239, "the table must hold exactly Coder's 239 options")

	groups := map[string]bool{}
	var secrets, hidden int
	for i, row := range rows {
		opt := opts[i]
		require.Equal(t, row["name"], opt.Name, "row %d: options must follow the table's order", i)
		require.Equal(t, row["flag"], opt.Flag, opt.Name)
		require.Equal(t, row["flag_shorthand"], opt.FlagShorthand, opt.Name)
		require.Equal(t, row["env"], opt.Env, opt.Name)
		require.Equal(t, row["yaml_path"], opt.YAMLPath(), opt.Name)
		require.Equal(t, row["secret"] == "yes", config.IsSecret(opt), opt.Name)
		require.Equal(t, row["hidden"] == "yes", opt.Hidden, opt.Name)
		require.Equal(t, row["group"], opt.Group.FullName(), opt.Name)
		require.NotNil(t, opt.Value, opt.Name)
		if strings.Contains(row["annotations"], "use_instead=") {
			want := strings.Split(strings.SplitN(strings.SplitN(row["annotations"], "use_instead=", 2)[1], ";", 2)[0], ",")
			var got []string
			for _, u := range opt.UseInstead {
				got = append(got, "--"+u.Flag)
			}
			require.Equal(t, want, got, opt.Name)
		} else {
			require.Empty(t, opt.UseInstead, opt.Name)
		}
		for _, a := range []string{"enterprise", "external_workspace_proxies", "format_duration"} {
			require.Equal(t, strings.Contains(row["annotations"], a+"=true"), opt.Annotations.IsSet(a), "%s: annotation %s", opt.Name, a)
		}
		// Plain (non-computed) defaults are taken over verbatim.
		if d := row["default"]; d != "" && !strings.ContainsAny(d, "( ") {
			require.Equal(t, d, opt.Default, opt.Name)
		}
		if opt.Group != nil {
			groups[opt.Group.FullName()] = true
			for _, g := range opt.Group.Ancestry() {
				groups[(&g).FullName()] = true
			}
		}
		if config.IsSecret(opt) {
			secrets++
			require.Empty(t, opt.YAML, "%s: secrets must not be settable from YAML", opt.Name)
		}
		if opt.Hidden {
			hidden++
		}
		if opt.Description != "" {
			// serpent refuses to run any command otherwise.
			require.True(t, strings.HasSuffix(opt.Description, "."), opt.Name)
			require.False(t, unicode.IsLower([]rune(opt.Description)[0]), opt.Name)
		}
	}
	require.Equal(t, 13, secrets)
	require.Equal(t, 43, hidden)
	// Ancestry yields full names of parents too; the table has 35 groups.
	require.Len(t, groups, 35)
}

func TestOptionNamesAreUnique(t *testing.T) {
	t.Parallel()
	seen := map[string]map[string]bool{"name": {}, "flag": {}, "env": {}, "yaml": {}}
	for _, opt := range config.New().Options() {
		if d := opt.Description; d != "" {
			// serpent refuses to run any command otherwise.
			require.True(t, strings.HasSuffix(d, ".") && !unicode.IsLower([]rune(d)[0]), "%s: description must be a sentence", opt.Name)
		}
		for kind, v := range map[string]string{"name": opt.Name, "flag": opt.Flag, "env": opt.Env, "yaml": opt.YAMLPath()} {
			if v == "" {
				continue
			}
			require.False(t, seen[kind][v], "duplicate %s %q", kind, v)
			seen[kind][v] = true
		}
	}
}

func TestGantryOptionsAreSeparated(t *testing.T) {
	t.Parallel()
	for _, opt := range config.New().Options() {
		if !opt.Annotations.IsSet(config.AnnotationGantry) {
			require.True(t, opt.Env == "" || !strings.HasPrefix(opt.Env, "GANTRY_"), opt.Name)
			continue
		}
		require.True(t, strings.HasPrefix(opt.Env, "GANTRY_"), "%s: gantry options use the GANTRY_ env prefix", opt.Name)
		require.Equal(t, "Gantry", opt.Group.FullName(), opt.Name)
	}
}

// sample returns a valid, non-default input for an option, the same for
// options that share one value (deprecated aliases), so that setting every
// option at once is consistent.
func sample(opt serpent.Option) string {
	switch opt.Name {
	case "Session Duration":
		return "1h0m0s"
	case "HTTP Address", "Address", "TLS Address", "Prometheus Address", "pprof Address":
		return "127.0.0.1:7777"
	case "Wildcard Access URL":
		return "*.apps.example.com"
	case "TLS Minimum Version":
		return "tls13"
	case "TLS Client Auth":
		return "request"
	case "Web Terminal Renderer":
		return "dom"
	case "Notifications: Method":
		return "webhook"
	case "Postgres Connection Max Idle":
		return "5"
	case "Provisioner Daemon Types":
		return "echo"
	case "Prometheus Aggregate Agent Stats By":
		return "username"
	case "SSH Config Options":
		return "ForwardAgent=yes,LogLevel ERROR"
	case "Proxy Trusted Origins", "AI Bridge Proxy Allowed Private CIDRs":
		return "10.0.0.0/8,192.168.0.0/16"
	case "Secure Auth Cookie":
		// Its default is computed during parsing, so do not derive from it.
		return "true"
	case "Redirect HTTP to HTTPS":
		// The deprecated option is copied into Redirect to Access URL, so
		// both must agree.
		return "true"
	case "OIDC Auth URL Parameters", "OIDC Group Mapping":
		return `{"prompt":"consent"}`
	case "OIDC User Role Mapping":
		return `{"admins":["owner"]}`
	case "OIDC Organization Sync Mapping":
		return `{"eng":["6f1d2c3b-0000-4000-8000-000000000001"]}`
	case "Support Links":
		return `[{"name":"Runbook","target":"https://example.com/runbook","icon":"docs"}]`
	case "External Auth Providers":
		return `[{"type":"github","client_id":"abc"}]`
	}
	switch opt.Value.Type() {
	case "bool":
		if opt.Default == "true" {
			return "false"
		}
		return "true"
	case "int":
		return "42"
	case "duration":
		return "2000h0m0s"
	case "url":
		return "https://example.com/" + strings.ReplaceAll(strings.ToLower(opt.Flag), "-", "")
	case "host:port":
		return "127.0.0.1:7777"
	case "regexp":
		return "^team-.*$"
	case "string-array":
		return "alpha,beta"
	}
	if e, ok := opt.Value.(*serpent.Enum); ok {
		return e.Choices[len(e.Choices)-1]
	}
	// The deprecated --notifications-email-* aliases share their value with
	// --email-*.
	return "value-of-" + strings.TrimPrefix(opt.Flag, "notifications-")
}

// expected renders what the option's String() must be after input s.
func expected(t *testing.T, opt serpent.Option, s string) string {
	t.Helper()
	var p pflag.Value
	if e, ok := opt.Value.(*serpent.Enum); ok {
		p = serpent.EnumOf(new(string), e.Choices...)
	} else {
		p = reflect.New(reflect.TypeOf(opt.Value).Elem()).Interface().(pflag.Value)
	}
	require.NoError(t, p.Set(s), opt.Name)
	return render(t, p)
}

// render shows a value completely: serpent's StringArray.String returns ""
// (it never flushes its CSV writer), and Struct values render as YAML.
func render(t *testing.T, v pflag.Value) string {
	t.Helper()
	if sa, ok := v.(*serpent.StringArray); ok {
		raw, err := json.Marshal(sa.Value())
		require.NoError(t, err)
		return string(raw)
	}
	return v.String()
}

// yamlDoc nests key=value pairs into a YAML document (values are YAML/JSON
// text).
func yamlDoc(values map[string]string) string {
	type node struct {
		children map[string]*node
		order    []string
		value    string
	}
	root := &node{children: map[string]*node{}}
	for path, v := range values {
		n := root
		for _, part := range strings.Split(path, ".") {
			c, ok := n.children[part]
			if !ok {
				c = &node{children: map[string]*node{}}
				n.children[part] = c
				n.order = append(n.order, part)
			}
			n = c
		}
		n.value = v
	}
	var b strings.Builder
	var walk func(n *node, indent string)
	walk = func(n *node, indent string) {
		for _, k := range n.order {
			c := n.children[k]
			if len(c.children) == 0 {
				fmt.Fprintf(&b, "%s%s: %s\n", indent, k, c.value)
				continue
			}
			fmt.Fprintf(&b, "%s%s:\n", indent, k)
			walk(c, indent+"  ")
		}
	}
	walk(root, "")
	return b.String()
}

// TestEveryOptionThroughEveryChannel is generated from the table: each
// channel (flag, env, YAML) sets every option that has it, and each option
// must end up with the sample value and the matching value_source.
func TestEveryOptionThroughEveryChannel(t *testing.T) {
	t.Parallel()
	table := config.New().Options()
	emptyYAML := filepath.Join(t.TempDir(), "empty.yaml")
	require.NoError(t, os.WriteFile(emptyYAML, nil, 0o600))

	inputFor := func(opt serpent.Option) string {
		if opt.Name == "Config Path" {
			return emptyYAML
		}
		return sample(opt)
	}

	channels := []struct {
		source serpent.ValueSource
		has    func(serpent.Option) bool
		inputs func(t *testing.T) config.Inputs
	}{
		{
			source: serpent.ValueSourceFlag,
			has:    func(o serpent.Option) bool { return o.Flag != "" },
			inputs: func(*testing.T) config.Inputs {
				var in config.Inputs
				for _, opt := range table {
					if opt.Flag != "" {
						in.Flags = append(in.Flags, config.FlagValue{Name: opt.Flag, Value: inputFor(opt)})
					}
				}
				return in
			},
		},
		{
			source: serpent.ValueSourceEnv,
			has:    func(o serpent.Option) bool { return o.Env != "" },
			inputs: func(*testing.T) config.Inputs {
				var in config.Inputs
				for _, opt := range table {
					if opt.Env != "" {
						in.Environ = append(in.Environ, opt.Env+"="+inputFor(opt))
					}
				}
				return in
			},
		},
		{
			source: serpent.ValueSourceYAML,
			has:    func(o serpent.Option) bool { return o.YAML != "" },
			inputs: func(t *testing.T) config.Inputs {
				values := map[string]string{}
				for _, opt := range table {
					if opt.YAML == "" {
						continue
					}
					v := inputFor(opt)
					if !strings.HasPrefix(opt.Value.Type(), "struct[") {
						raw, _ := json.Marshal(v)
						v = string(raw)
					}
					values[opt.YAMLPath()] = v
				}
				path := filepath.Join(t.TempDir(), "gantry.yaml")
				require.NoError(t, os.WriteFile(path, []byte(yamlDoc(values)), 0o600))
				return config.Inputs{Environ: []string{"CODER_CONFIG_PATH=" + path}}
			},
		},
	}
	defaults, err := config.Load(config.Inputs{})
	require.NoError(t, err)
	defaultsByName := map[string]serpent.Option{}
	for _, opt := range defaults.Options {
		defaultsByName[opt.Name] = opt
	}

	for _, ch := range channels {
		t.Run(string(ch.source), func(t *testing.T) {
			t.Parallel()
			loaded, err := config.Load(ch.inputs(t))
			require.NoError(t, err)
			count := 0
			for _, opt := range loaded.Options {
				if !ch.has(opt) {
					continue
				}
				count++
				want := expected(t, opt, inputFor(opt))
				require.Equal(t, want, render(t, opt.Value), "%s via %s", opt.Name, ch.source)
				if opt.Name != "Redirect HTTP to HTTPS" { // see sample()
					require.NotEqual(t, render(t, defaultsByName[opt.Name].Value), want, "%s: the sample must differ from the default", opt.Name)
				}
				require.Equal(t, ch.source, opt.ValueSource, "%s via %s", opt.Name, ch.source)
			}
			require.Greater(t, count, 200)
		})
	}
}

func TestPrecedence(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	require.NoError(t, os.WriteFile(path, []byte("networking:\n  docsURL: https://yaml.example.com\n  accessURL: https://yaml.example.com\ncacheDir: /from/yaml\noidc:\n  scopes: [a, b]\n"), 0o600))
	loaded, err := config.Load(config.Inputs{
		Environ: []string{
			"CODER_CONFIG_PATH=" + path,
			"CODER_DOCS_URL=https://env.example.com",
			"CODER_ACCESS_URL=https://env.example.com",
			"CODER_CACHE_DIRECTORY=", // empty counts as unset: YAML wins
			"CODER_OIDC_SCOPES=x,y",
		},
		Flags: []config.FlagValue{
			{Name: "access-url", Value: "https://flag.example.com"},
			{Name: "oidc-scopes", Value: "z"},
		},
	})
	require.NoError(t, err)
	v, opts := loaded.Values, loaded.Options
	require.Equal(t, "https://flag.example.com", v.AccessURL.String())
	require.Equal(t, serpent.ValueSourceFlag, opts.ByName("Access URL").ValueSource)
	require.Equal(t, "https://env.example.com", v.DocsURL.String())
	require.Equal(t, serpent.ValueSourceEnv, opts.ByName("Docs URL").ValueSource)
	require.Equal(t, "/from/yaml", v.CacheDir.String())
	require.Equal(t, serpent.ValueSourceYAML, opts.ByName("Cache Directory").ValueSource)
	// A flag replaces an array from the environment instead of appending.
	require.Equal(t, []string{"z"}, v.OIDC.Scopes.Value())
	require.Equal(t, serpent.ValueSourceDefault, opts.ByName("OIDC Username Field").ValueSource)
	require.Empty(t, opts.ByName("OIDC Client ID").ValueSource, "no default and not set: no value_source")
	// Secure cookie default follows the final access URL scheme.
	require.True(t, bool(v.HTTPCookies.Secure))
	require.Equal(t, "true", opts.ByName("Secure Auth Cookie").Default)
}

func TestGantryDefaults(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{})
	require.NoError(t, err)
	v := loaded.Values
	require.False(t, bool(v.Telemetry.Enable), "gantry never phones home")
	require.False(t, bool(v.UpdateCheck), "development builds do not check for updates")
	require.Equal(t, config.DefaultCacheDir(), v.CacheDir.String())
	require.Equal(t, "gantry", filepath.Base(v.CacheDir.String()))
	require.False(t, bool(v.HTTPCookies.Secure))
	require.Equal(t, "https://api.github.com/repos/gantry-dev/gantry/releases/latest", v.Gantry.UpdateCheckURL.String())
	require.Equal(t, "24h0m0s", v.Gantry.UpdateCheckInterval.String())
	require.Equal(t, "1440h0m0s", v.AI.BridgeConfig.Retention.String(), "day units in defaults")
}

func TestDeprecatedOptions(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{
		Environ: []string{"CODER_NOTIFICATIONS_EMAIL_HELLO=relay.example.com", "CODER_ADDRESS=0.0.0.0:8080"},
		Flags:   []config.FlagValue{{Name: "tls-redirect-http-to-https", Value: "false"}},
	})
	require.NoError(t, err)
	v := loaded.Values
	require.Equal(t, "relay.example.com", v.Notifications.SMTP.Hello.String(), "aliases share the value")
	require.Equal(t, serpent.ValueSourceEnv, loaded.Options.ByName("Email: Hello").ValueSource)
	require.Equal(t, "0.0.0.0:8080", v.HTTPAddress.String(), "--address is copied into --http-address")
	require.False(t, bool(v.RedirectToAccessURL))
	require.ElementsMatch(t, []string{
		"Notifications: Email: Hello is deprecated, please use Email: Hello instead.",
		"Address is deprecated, please use HTTP Address, TLS Address instead.",
		"Redirect HTTP to HTTPS is deprecated, please use Redirect to Access URL instead.",
	}, loaded.Warnings)

	// Setting the replacement is not a deprecated use.
	loaded, err = config.Load(config.Inputs{Environ: []string{"CODER_EMAIL_HELLO=relay.example.com"}})
	require.NoError(t, err)
	require.Empty(t, loaded.Warnings)

	// With both given, the replacement wins, in the environment and in YAML.
	for i := 0; i < 20; i++ { // env application order must not matter
		loaded, err = config.Load(config.Inputs{Environ: []string{"CODER_NOTIFICATIONS_EMAIL_HELLO=old.example.com", "CODER_EMAIL_HELLO=new.example.com"}})
		require.NoError(t, err)
		require.Equal(t, "new.example.com", loaded.Values.Notifications.SMTP.Hello.String())
	}
	path := filepath.Join(t.TempDir(), "gantry.yaml")
	require.NoError(t, os.WriteFile(path, []byte("email:\n  hello: new.example.com\nnotifications:\n  email:\n    hello: old.example.com\n"), 0o600))
	loaded, err = config.Load(config.Inputs{Environ: []string{"CODER_CONFIG_PATH=" + path}})
	require.NoError(t, err)
	require.Equal(t, "new.example.com", loaded.Values.Notifications.SMTP.Hello.String())
	require.Equal(t, serpent.ValueSourceYAML, loaded.Options.ByName("Email: Hello").ValueSource)
}

func TestReplacementBeatsCopiedDeprecatedOption(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{Flags: []config.FlagValue{
		{Name: "redirect-to-access-url", Value: "false"},
		{Name: "tls-redirect-http-to-https", Value: "true"},
		{Name: "http-address", Value: "127.0.0.1:8080"},
		{Name: "address", Value: "0.0.0.0:9090"},
	}})
	require.NoError(t, err)
	require.False(t, bool(loaded.Values.RedirectToAccessURL))
	require.Equal(t, "127.0.0.1:8080", loaded.Values.HTTPAddress.String())
}

func TestUnknownProviderKeysWarn(t *testing.T) {
	t.Parallel()
	loaded, err := config.Load(config.Inputs{Environ: []string{"CODER_AIBRIDGE_PROVIDER_0_TYPE=openai", "CODER_AIBRIDGE_PROVIDER_0_BASEURL=https://x.example.com"}})
	require.NoError(t, err)
	require.Equal(t, []string{"ignoring unknown AI Bridge provider variable CODER_AIBRIDGE_PROVIDER_0_BASEURL (check for typos)"}, loaded.Warnings)
}

// A URL refused by a rule after parsing is echoed as typed, not as
// url.URL.String re-encodes it ("x y" would come back as "x%20y").
func TestRefusedAccessURLEchoesRawInput(t *testing.T) {
	t.Parallel()
	const raw = "http//x y"
	const reason = ": must be an absolute http:// or https:// URL"
	cases := []struct {
		name   string
		load   func(t *testing.T) (*config.Loaded, error)
		source string
	}{
		{"flag", func(*testing.T) (*config.Loaded, error) {
			return config.Load(config.Inputs{Flags: []config.FlagValue{{Name: "access-url", Value: raw}}})
		}, "flag --access-url"},
		{"env", func(*testing.T) (*config.Loaded, error) {
			return config.Load(config.Inputs{Environ: []string{"CODER_ACCESS_URL=" + raw}})
		}, "env CODER_ACCESS_URL"},
		{"yaml", func(t *testing.T) (*config.Loaded, error) {
			return loadYAML(t, "networking:\n  accessURL: \""+raw+"\"\n")
		}, "YAML networking.accessURL"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := tc.load(t)
			lines := problemLines(t, err)
			require.Len(t, lines, 1, "%v", lines)
			require.Contains(t, lines[0], `option "Access URL" (`+tc.source)
			require.Contains(t, lines[0], `invalid value "`+raw+`"`+reason)
			require.NotContains(t, lines[0], "%20")
		})
	}
}
