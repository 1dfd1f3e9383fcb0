package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/coder/serpent"
	"github.com/spf13/pflag"
	"gopkg.in/yaml.v3"
)

// FlagValue is one flag occurrence on the command line, in order. Name is the
// long flag name without dashes.
type FlagValue struct {
	Name  string
	Value string
}

// Inputs are the raw inputs of one server start.
type Inputs struct {
	// Environ is the process environment as KEY=VALUE lines.
	Environ []string
	// Flags are the deployment flags given, in command-line order.
	Flags []FlagValue
}

// Loaded is a parsed and validated configuration.
type Loaded struct {
	Values *DeploymentValues
	// Options is the table bound to Values, carrying each option's
	// value_source.
	Options serpent.OptionSet
	// Warnings are non-fatal notices for the operator (deprecated options in
	// use, unknown indexed provider keys).
	Warnings []string
	// Sources maps the name of every option the operator set to where it was
	// set ("flag --x", "env NAME", "YAML a.b at file:line"). Unlike
	// value_source it does not spread to aliases sharing the value.
	Sources map[string]string
}

// Problem is one invalid input.
type Problem struct {
	// Option is the option name, or a short subject for problems that are not
	// about one option (for example "AI Bridge providers").
	Option string
	// Source says where the value came from: "flag --x", "env NAME",
	// "YAML a.b.c at file:line" or "default".
	Source string
	// Value is the offending value as given; secret values are redacted.
	Value string
	Err   error

	// hasValue marks problems about a given input, whose value is shown
	// even when empty.
	hasValue bool
}

// String renders the problem as one line:
//
//	option "Access URL" (env CODER_ACCESS_URL): invalid value "x": <reason>
func (p Problem) String() string {
	reason := oneLine(p.Err.Error())
	if p.Option == "" {
		if p.Source == "" {
			return reason
		}
		return p.Source + ": " + reason
	}
	var b strings.Builder
	fmt.Fprintf(&b, "option %q", p.Option)
	if p.Source != "" {
		fmt.Fprintf(&b, " (%s)", p.Source)
	}
	b.WriteString(": ")
	if p.hasValue || p.Value != "" {
		fmt.Fprintf(&b, "invalid value %q: ", p.Value)
	}
	b.WriteString(reason)
	return b.String()
}

// Problems is every problem found in one load. It is the error Load returns.
type Problems []Problem

func (ps Problems) Error() string {
	lines := make([]string, len(ps))
	for i, p := range ps {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

const redacted = "<redacted>"

// loader carries the state of one Load.
type loader struct {
	in       Inputs
	vals     *DeploymentValues
	opts     serpent.OptionSet
	env      map[string]string // non-empty env values by upper-cased name
	problems Problems
	warnings []string
	// sources records, per option name, where its value was actually set
	// (aliases share values, so serpent's value_source alone cannot tell).
	sources map[string]string
	// yamlFile is the config file path, for problem messages.
	yamlFile string

	aiProviders []AIBridgeProviderConfig
	extAuth     []ExternalAuthConfig

	// bad holds the values whose input was refused; those inputs are left
	// out when the rest is applied, and rules involving them are skipped.
	bad map[pflag.Value]bool
	// raw holds the input string each applied value was set from (keyed by
	// value, so aliases share it). Problems found after parsing echo it,
	// because String() of a parsed value may differ from what the operator
	// typed (a URL comes back re-encoded).
	raw map[pflag.Value]string
}

// Load parses a server configuration from flags, environment, the YAML file
// named by --config / CODER_CONFIG_PATH and the table defaults, with the
// precedence flag > env > YAML > default. Every input is first checked on its
// own, so all problems of one start are reported together (as Problems);
// only a fully valid input is applied, through serpent's own parsers, and
// then checked for cross-field rules. Empty environment values count as
// unset.
func Load(in Inputs) (*Loaded, error) {
	l := &loader{
		in:      in,
		vals:    New(),
		env:     make(map[string]string),
		sources: make(map[string]string),
		bad:     make(map[pflag.Value]bool),
		raw:     make(map[pflag.Value]string),
	}
	l.opts = l.vals.Options()
	for _, line := range in.Environ {
		name, value, _ := strings.Cut(line, "=")
		if value == "" {
			continue
		}
		l.env[strings.ToUpper(name)] = value
	}

	byFlag := make(map[string]*serpent.Option)
	for i := range l.opts {
		if f := l.opts[i].Flag; f != "" {
			byFlag[f] = &l.opts[i]
		}
	}

	// Phase 1: check each raw input on its own.
	l.checkEnv()
	l.checkFlags(byFlag)
	before := len(l.problems)
	yamlRoot := l.readYAML(byFlag)
	if yamlRoot != nil {
		l.checkYAML(yamlRoot)
	}
	yamlBad := len(l.problems) > before
	before = len(l.problems)
	l.readProviderEnv()
	providersBad := len(l.problems) > before
	inputProblems := len(l.problems)

	// Phase 2: apply the valid inputs with serpent (value sources, alias
	// groups, defaults). A file with problems is left out as a whole.
	if yamlBad {
		yamlRoot = nil
	}
	l.apply(byFlag, yamlRoot)
	if len(l.problems) > inputProblems || yamlBad {
		// Cross-field rules over a partly applied file would mislead.
		return nil, l.problems
	}

	// Phase 3: derived values and cross-field rules. Rules that involve a
	// refused input are skipped (see fail), so problems found here add to
	// those of phase 1 instead of repeating them.
	l.postProcess()
	l.validate()
	if !providersBad {
		l.mergeProviders()
	}
	if len(l.problems) > 0 {
		return nil, l.problems
	}
	l.deprecationWarnings()
	return &Loaded{Values: l.vals, Options: l.opts, Warnings: l.warnings, Sources: l.sources}, nil
}

// envLookup finds an option's env value the way serpent does (including the
// HOMEBREW_ fallback), ignoring empty values.
func (l *loader) envLookup(opt serpent.Option) (name, value string, ok bool) {
	if opt.Env == "" {
		return "", "", false
	}
	if v, ok := l.env[opt.Env]; ok {
		return opt.Env, v, true
	}
	if v, ok := l.env["HOMEBREW_"+opt.Env]; ok {
		return "HOMEBREW_" + opt.Env, v, true
	}
	return "", "", false
}

func (l *loader) add(opt serpent.Option, source, value string, err error) {
	l.bad[opt.Value] = true
	if IsSecret(opt) {
		value = redacted
	}
	l.problems = append(l.problems, Problem{Option: opt.Name, Source: source, Value: value, Err: err, hasValue: true})
}

func (l *loader) checkEnv() {
	for _, opt := range l.opts {
		name, value, ok := l.envLookup(opt)
		if !ok {
			continue
		}
		if err := probe(opt.Value).Set(value); err != nil {
			l.add(opt, "env "+name, value, err)
		}
	}
}

func (l *loader) checkFlags(byFlag map[string]*serpent.Option) {
	probes := make(map[string]pflag.Value)
	for _, f := range l.in.Flags {
		opt, ok := byFlag[f.Name]
		if !ok {
			l.problems = append(l.problems, Problem{Source: "flag --" + f.Name, Err: errors.New("unknown flag")})
			continue
		}
		// One probe per flag so repeated array flags accumulate as they will.
		p, ok := probes[f.Name]
		if !ok {
			p = probe(opt.Value)
			probes[f.Name] = p
		}
		if err := p.Set(f.Value); err != nil {
			l.add(*opt, "flag --"+f.Name, f.Value, err)
		}
	}
}

// configPath resolves --config / CODER_CONFIG_PATH (flag wins).
func (l *loader) configPath(byFlag map[string]*serpent.Option) (path, source string) {
	cfg := byFlag["config"]
	for i := len(l.in.Flags) - 1; i >= 0; i-- {
		if f := l.in.Flags[i]; f.Name == "config" {
			return f.Value, "flag --config"
		}
	}
	if name, v, ok := l.envLookup(*cfg); ok {
		return v, "env " + name
	}
	return "", ""
}

func (l *loader) readYAML(byFlag map[string]*serpent.Option) *yaml.Node {
	path, source := l.configPath(byFlag)
	if path == "" {
		return nil
	}
	l.yamlFile = path
	cfg := *byFlag["config"]
	raw, err := os.ReadFile(path)
	if err != nil {
		l.add(cfg, source, path, fmt.Errorf("cannot read config file: %w", unwrapPathError(err)))
		return nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil // an empty file sets nothing
		}
		l.add(cfg, source, path, fmt.Errorf("cannot parse config file: %w", err))
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.add(cfg, source, path, fmt.Errorf("config file has more than one YAML document (line %d)", extra.Line))
		return nil
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.Tag == "!!null" {
		return nil
	}
	if root.Kind != yaml.MappingNode {
		l.add(cfg, source, path, fmt.Errorf("config file must be a YAML mapping of option keys (line %d)", root.Line))
		return nil
	}
	return &doc
}

// yamlKeys maps every dotted key path of a YAML mapping to its value node
// and records the paths that are mappings themselves.
func yamlKeys(n *yaml.Node, prefix string, out map[string]*yaml.Node, problems *[]string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			*problems = append(*problems, fmt.Sprintf("line %d: mapping keys must be plain strings", k.Line))
			continue
		}
		path := k.Value
		if prefix != "" {
			path = prefix + "." + k.Value
		}
		out[path] = v
		if v.Kind == yaml.MappingNode {
			yamlKeys(v, path, out, problems)
		}
	}
}

func (l *loader) yamlSource(path string, n *yaml.Node) string {
	return fmt.Sprintf("YAML %s at %s:%d", path, l.yamlFile, n.Line)
}

func (l *loader) checkYAML(doc *yaml.Node) {
	root := doc
	if root.Kind == yaml.DocumentNode {
		root = root.Content[0]
	}
	nodes := make(map[string]*yaml.Node)
	var structural []string
	yamlKeys(root, "", nodes, &structural)
	for _, s := range structural {
		l.problems = append(l.problems, Problem{Source: "YAML " + l.yamlFile, Err: errors.New(s)})
	}

	known := make(map[string]bool)
	for _, opt := range l.opts {
		path := opt.YAMLPath()
		if path == "" {
			continue
		}
		parts := strings.Split(path, ".")
		for i := 1; i < len(parts); i++ {
			known[strings.Join(parts[:i], ".")] = true
		}
		n, ok := nodes[path]
		if !ok {
			continue
		}
		known[path] = true
		if err := setFromYAML(probe(opt.Value), n); err != nil {
			l.add(opt, l.yamlSource(path, n), yamlValueString(n), err)
		}
	}
	paths := make([]string, 0, len(nodes))
	for path := range nodes {
		paths = append(paths, path)
	}
	sort.Strings(paths)
	for _, path := range paths {
		n := nodes[path]
		if known[path] {
			// A group key must hold a mapping of options (or nothing).
			if isGroupPath(l.opts, path) && n.Kind != yaml.MappingNode && !isNull(n) {
				l.problems = append(l.problems, Problem{
					Source: l.yamlSource(path, n),
					Err:    fmt.Errorf("%q is a group of options and must be a mapping", path),
				})
			}
			continue
		}
		// Descendants of an option's value (Struct options) are not options.
		parent := path
		covered := false
		for {
			i := strings.LastIndexByte(parent, '.')
			if i < 0 {
				break
			}
			parent = parent[:i]
			if known[parent] && !isGroupPath(l.opts, parent) {
				covered = true
				break
			}
		}
		if covered {
			continue
		}
		l.problems = append(l.problems, Problem{
			Source: l.yamlSource(path, n),
			Err:    fmt.Errorf("unknown option %q", path),
		})
	}
}

// isGroupPath reports whether path is a group (not an option) YAML path.
func isGroupPath(opts serpent.OptionSet, path string) bool {
	for _, opt := range opts {
		if opt.YAMLPath() == path {
			return false
		}
	}
	return true
}

// setFromYAML applies a YAML node to a value with serpent's rules, but
// stricter about node kinds: scalar options need a scalar, arrays a scalar
// (CSV) or a sequence of scalars; only Struct options take anything.
func setFromYAML(v pflag.Value, n *yaml.Node) error {
	isStruct := strings.HasPrefix(v.Type(), "struct[")
	isArray := v.Type() == "string-array"
	switch {
	case isStruct:
	case n.Kind == yaml.MappingNode:
		return fmt.Errorf("expected a %s, got a mapping", v.Type())
	case n.Kind == yaml.SequenceNode && !isArray:
		return fmt.Errorf("expected a %s, got a list", v.Type())
	case n.Kind == yaml.SequenceNode:
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return fmt.Errorf("expected a list of strings (line %d)", c.Line)
			}
		}
	case n.Kind == yaml.AliasNode:
		return errors.New("YAML aliases are not supported for options")
	}
	if um, ok := v.(yaml.Unmarshaler); ok {
		return um.UnmarshalYAML(n)
	}
	switch n.Kind {
	case yaml.ScalarNode:
		return v.Set(n.Value)
	case yaml.SequenceNode:
		if len(n.Content) == 0 {
			return v.Set("")
		}
		return n.Decode(v)
	}
	return fmt.Errorf("unexpected YAML node kind %v", n.Kind)
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func yamlValueString(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		return n.Value
	}
	raw, err := yaml.Marshal(n)
	if err != nil {
		return ""
	}
	return oneLine(strings.TrimSpace(string(raw)))
}

// probe returns a fresh value of v's type, to check an input without touching
// the real value.
func probe(v pflag.Value) pflag.Value {
	if e, ok := v.(*serpent.Enum); ok {
		return serpent.EnumOf(new(string), e.Choices...)
	}
	t := reflect.TypeOf(v)
	if t != nil && t.Kind() == reflect.Pointer {
		if p, ok := reflect.New(t.Elem()).Interface().(pflag.Value); ok {
			return p
		}
	}
	return serpent.DiscardValue
}

// apply sets the real values through serpent: env, then flags, then YAML for
// options still without a source, then defaults.
func (l *loader) apply(byFlag map[string]*serpent.Option, doc *yaml.Node) {
	// serpent applies env and YAML in option order, so the later of two
	// aliases sharing a value wins. Work on a copy with the deprecated
	// aliases first, so the replacement option wins when both are given.
	order := make([]int, 0, len(l.opts))
	for pass := 0; pass < 2; pass++ {
		for i, opt := range l.opts {
			if (len(opt.UseInstead) > 0) == (pass == 0) {
				order = append(order, i)
			}
		}
	}
	work := make(serpent.OptionSet, len(order))
	syncIn := func() {
		for j, i := range order {
			work[j] = l.opts[i]
		}
	}
	syncOut := func() {
		for j, i := range order {
			l.opts[i].ValueSource = work[j].ValueSource
		}
	}

	skip := make(map[string]bool)
	for _, opt := range l.opts {
		if l.bad[opt.Value] && opt.Env != "" {
			skip[opt.Env], skip["HOMEBREW_"+opt.Env] = true, true
		}
	}
	env := make(serpent.Environ, 0, len(l.env))
	for name, value := range l.env {
		if !skip[name] {
			env = append(env, serpent.EnvVar{Name: name, Value: value})
		}
	}
	syncIn()
	if err := work.ParseEnv(env); err != nil {
		l.problems = append(l.problems, Problem{Source: "env", Err: err})
	}
	syncOut()
	for _, opt := range l.opts {
		if name, value, ok := l.envLookup(opt); ok && !skip[name] {
			l.sources[opt.Name] = "env " + name
			l.raw[opt.Value] = value
		}
	}

	reset := make(map[string]bool)
	for _, f := range l.in.Flags {
		opt, ok := byFlag[f.Name]
		if !ok || l.bad[opt.Value] {
			continue
		}
		// A flag replaces an array taken from the environment instead of
		// appending to it (serpent would append).
		if !reset[f.Name] {
			reset[f.Name] = true
			if _, ok := opt.Value.(*serpent.StringArray); ok && opt.ValueSource == serpent.ValueSourceEnv {
				_ = opt.Value.Set("")
			}
		}
		if err := opt.Value.Set(f.Value); err != nil {
			l.add(*opt, "flag --"+f.Name, f.Value, err)
		}
		opt.ValueSource = serpent.ValueSourceFlag
		l.sources[opt.Name] = "flag --" + f.Name
		l.raw[opt.Value] = f.Value
	}

	if doc != nil {
		// Record which options the file will set before serpent marks them.
		root := doc
		if root.Kind == yaml.DocumentNode {
			root = root.Content[0]
		}
		nodes := make(map[string]*yaml.Node)
		var ignored []string
		yamlKeys(root, "", nodes, &ignored)
		for _, opt := range l.opts {
			if n, ok := nodes[opt.YAMLPath()]; ok && opt.YAMLPath() != "" && opt.ValueSource == serpent.ValueSourceNone {
				l.sources[opt.Name] = l.yamlSource(opt.YAMLPath(), n)
				if n.Kind == yaml.ScalarNode {
					l.raw[opt.Value] = n.Value
				}
			}
		}
		syncIn()
		if err := work.UnmarshalYAML(doc); err != nil {
			l.problems = append(l.problems, Problem{Source: "YAML " + l.yamlFile, Err: err})
		}
		syncOut()
	}

	if err := l.opts.SetDefaults(); err != nil {
		l.problems = append(l.problems, Problem{Source: "default", Err: err})
	}
}

// sourceOf describes where an option's current value came from.
func (l *loader) sourceOf(opt serpent.Option) string {
	if s, ok := l.sources[opt.Name]; ok {
		return s
	}
	// An alias (same value) may have been the one set.
	for _, o := range l.opts {
		if o.Value == opt.Value {
			if s, ok := l.sources[o.Name]; ok {
				return s
			}
		}
	}
	if opt.ValueSource == serpent.ValueSourceDefault {
		return "default"
	}
	return "unset"
}

// userSet reports whether the operator set opt itself (not an alias).
func (l *loader) userSet(opt serpent.Option) bool {
	_, ok := l.sources[opt.Name]
	return ok
}

func (l *loader) deprecationWarnings() {
	for _, opt := range l.opts {
		if len(opt.UseInstead) == 0 || !l.userSet(opt) {
			continue
		}
		names := make([]string, len(opt.UseInstead))
		for i, u := range opt.UseInstead {
			names[i] = u.Name
		}
		l.warnings = append(l.warnings, fmt.Sprintf("%s is deprecated, please use %s instead.", opt.Name, strings.Join(names, ", ")))
	}
}

func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n", "; ")), " ")
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
