package config

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/coder/serpent"
)

// computedDefaults describes defaults that depend on the build, the host or
// other options, so the reference does not show one machine's value.
var computedDefaults = map[string]string{
	"Cache Directory":    "`gantry` under the user cache directory (`$XDG_CACHE_HOME` or `~/.cache` on Linux)",
	"Update Check":       "`true` for release builds, `false` for development builds",
	"Secure Auth Cookie": "`true` when the access URL uses `https`, else `false`",
}

// WriteReference renders docs/reference/server.md from the option table.
func WriteReference(w io.Writer) error {
	opts := New().Options()
	var b bytes.Buffer
	b.WriteString(referenceIntro)

	type group struct {
		name, description string
		opts              serpent.OptionSet
	}
	byName := map[string]*group{}
	for _, opt := range opts {
		name := opt.Group.FullName()
		g, ok := byName[name]
		if !ok {
			g = &group{name: name}
			if opt.Group != nil {
				g.description = opt.Group.Description
			}
			byName[name] = g
		}
		g.opts = append(g.opts, opt)
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)

	b.WriteString("## Groups\n\n")
	for _, n := range names {
		title := n
		if title == "" {
			title = "General"
		}
		fmt.Fprintf(&b, "- [%s](#%s) (%d)\n", title, anchor(title), len(byName[n].opts))
	}
	b.WriteString("\n")

	for _, n := range names {
		g := byName[n]
		title := n
		if title == "" {
			title = "General"
		}
		fmt.Fprintf(&b, "## %s\n\n", title)
		if g.description != "" {
			fmt.Fprintf(&b, "%s\n\n", g.description)
		}
		sort.SliceStable(g.opts, func(i, j int) bool { return g.opts[i].Name < g.opts[j].Name })
		for _, opt := range g.opts {
			writeOption(&b, opt)
		}
	}
	b.WriteString(referenceDifferences)
	_, err := w.Write(b.Bytes())
	return err
}

func writeOption(b *bytes.Buffer, opt serpent.Option) {
	fmt.Fprintf(b, "### %s\n\n", opt.Name)
	if opt.Description != "" {
		fmt.Fprintf(b, "%s\n\n", opt.Description)
	}
	b.WriteString("| | |\n|---|---|\n")
	if opt.Flag != "" {
		flag := "`--" + opt.Flag + "`"
		if opt.FlagShorthand != "" {
			flag += ", `-" + opt.FlagShorthand + "`"
		}
		fmt.Fprintf(b, "| Flag | %s |\n", flag)
	}
	if opt.Env != "" {
		fmt.Fprintf(b, "| Env | `%s` |\n", opt.Env)
	}
	if p := opt.YAMLPath(); p != "" {
		fmt.Fprintf(b, "| YAML | `%s` |\n", p)
	}
	fmt.Fprintf(b, "| Type | `%s` |\n", strings.ReplaceAll(typeName(opt), "|", "\\|"))
	switch {
	case computedDefaults[opt.Name] != "":
		fmt.Fprintf(b, "| Default | %s |\n", computedDefaults[opt.Name])
	case opt.Default != "":
		fmt.Fprintf(b, "| Default | `%s` |\n", strings.ReplaceAll(opt.Default, "|", "\\|"))
	}
	var notes []string
	if IsSecret(opt) {
		notes = append(notes, "secret: never shown in `/api/v2/deployment/config`, `--write-config` or logs; not settable from YAML")
	}
	if opt.Hidden {
		notes = append(notes, "hidden from `--help`")
	}
	if len(opt.UseInstead) > 0 {
		flags := make([]string, 0, len(opt.UseInstead))
		for _, u := range opt.UseInstead {
			flags = append(flags, "`--"+u.Flag+"`")
		}
		notes = append(notes, "deprecated: use "+strings.Join(flags, " or "))
	}
	if opt.Annotations.IsSet("enterprise") {
		notes = append(notes, "enterprise option in Coder")
	}
	if opt.Annotations.IsSet(AnnotationGantry) {
		notes = append(notes, "gantry only")
	}
	if len(notes) > 0 {
		fmt.Fprintf(b, "| Notes | %s |\n", strings.Join(notes, "; "))
	}
	b.WriteString("\n")
}

func typeName(opt serpent.Option) string {
	if e, ok := opt.Value.(*serpent.Enum); ok {
		return strings.Join(e.Choices, "|")
	}
	return opt.Value.Type()
}

func anchor(title string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '-', r == '_':
			b.WriteRune(r)
		case r == ' ':
			b.WriteRune('-')
		}
	}
	return b.String()
}

const referenceIntro = `# gantry server: option reference

<!-- Generated from internal/config (the option table) by
     ` + "`make update-golden`" + `; a golden-file test keeps it in sync. Do not edit. -->

` + "`gantry server`" + ` accepts every deployment option of Coder's ` + "`coder server`" + ` (the 239
options of the seed-era option set, in 35 groups), plus a few gantry-only options. Most of them
exist so that configurations written for Coder keep working; see the
[guide](../guide.md#configuration) for which ones gantry acts on.

How values are read:

- **Sources and precedence:** flag > environment variable > YAML file > default. The
  ` + "`value_source`" + ` of each option in ` + "`GET /api/v2/deployment/config`" + ` says which one won
  (` + "`flag`" + `, ` + "`env`" + `, ` + "`yaml`" + `, ` + "`default`" + `, or absent when unset).
- **Empty environment variables count as unset.**
- **YAML:** ` + "`--config`" + ` / ` + "`CODER_CONFIG_PATH`" + ` names a YAML file whose keys are the YAML paths
  below (for example ` + "`networking.accessURL`" + `). Unknown keys are an error.
  ` + "`--write-config`" + ` prints the effective configuration in that format and exits.
- **Types:** durations use Go syntax plus days and weeks (` + "`90s`" + `, ` + "`36h`" + `, ` + "`7d`" + `);
  string arrays are comma-separated in flags and environment variables (CSV quoting applies)
  and YAML lists in the file; struct options take YAML or JSON.
- **Validation:** every problem of one start is reported, one line each, naming the option,
  where the value came from and the value; the exit status is 2. Nothing listens before the
  configuration is valid.
- **Secrets** (13 options, plus provider keys) are never shown: the API omits their value, the
  ` + "`config`" + ` object blanks them, and ` + "`--write-config`" + ` leaves them out. They cannot be set in
  the YAML file.

AI Bridge providers and external auth providers are also read from indexed environment variables
(` + "`CODER_AIBRIDGE_PROVIDER_<N>_<KEY>`" + `, ` + "`CODER_EXTERNAL_AUTH_<N>_<KEY>`" + `); see the guide.

`

const referenceDifferences = `## Differences from Coder v2.36.1

The option set is the one the seed document describes, which predates v2.36.1. Compared with the
` + "`GET /api/v2/deployment/config`" + ` of a stock v2.36.1 server:

- **Options v2.36.1 has and gantry does not** (48): the ` + "`--ai-gateway-*`" + ` and
  ` + "`--ai-gateway-proxy-*`" + ` options (and ` + "`--aibridge-proxy-dump-dir`" + `, ` + "`--ai-budget-policy`" + `,
  ` + "`--ai-budget-period`" + `), ` + "`--chat-ai-gateway-routing-enabled`" + `, ` + "`--cluster-host`" + `,
  ` + "`--disable-chat-sharing`" + `, ` + "`--disable-template-builder`" + `,
  ` + "`--template-builder-registry-url`" + `, ` + "`--oidc-repair-links`" + `,
  ` + "`--dangerous-oidc-email-fallback`" + `, ` + "`--oidc-redirect-allowed-hosts`" + ` and
  ` + "`--scim-use-legacy`" + `. Their ` + "`config`" + ` keys are absent: ` + "`cluster`" + `, ` + "`template_builder`" + `,
  ` + "`scim_use_legacy`" + `, ` + "`oidc.auto_repair_links`" + `, ` + "`oidc.email_fallback`" + `,
  ` + "`oidc.redirect_allowed_hosts`" + `, ` + "`ai.bridge.budget_policy`" + `, ` + "`ai.bridge.budget_period`" + `,
  ` + "`ai.bridge.api_dump_dir`" + `, ` + "`ai.aibridge_proxy.target`" + `, ` + "`ai.aibridge_proxy.api_dump_dir`" + `,
  ` + "`ai.chat.ai_gateway_routing_enabled`" + `. Clients decode options by name and ignore missing
  ones.
- **AI Bridge options** are current options here (groups "AI Bridge" and "AI Bridge Proxy");
  v2.36.1 hides them, renames the groups "… (Deprecated)" and points them at the AI Gateway
  options through ` + "`use_instead`" + `.
- **Defaults:** AI Bridge Enabled is ` + "`false`" + ` (v2.36.1: ` + "`true`" + `); Boundary Log Retention is
  ` + "`2160h`" + ` (v2.36.1: ` + "`0`" + `); Telemetry Enable is ` + "`false`" + ` (gantry never sends telemetry);
  Docs URL, Cache Directory and Update Check defaults are gantry's.
- **gantry-only options** (group "Gantry", annotation ` + "`gantry=true`" + `) appear in ` + "`options`" + `
  but not in ` + "`config`" + `.
- **Indexed AI Bridge providers** are ordered by numeric index (Coder sorted the variables as
  strings, so eleven or more providers failed), empty values count as unset, provider names must
  match ` + "`^[a-z0-9]+(-[a-z0-9]+)*$`" + ` and ` + "`interceptions`" + ` is reserved.

Everything else (every shared option's name, flag, env, YAML key, group, annotations and the key
structure of ` + "`config`" + ` and ` + "`options`" + `) matches, as the structure tests in
` + "`internal/config`" + ` check against the captured reference.
`
