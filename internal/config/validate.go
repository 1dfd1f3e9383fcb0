package config

import (
	"errors"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/coder/serpent"
	"github.com/google/uuid"
	"github.com/spf13/pflag"
)

// postProcess copies deprecated options into their replacements.
func (l *loader) postProcess() {
	// A replacement the operator set explicitly wins over the deprecated
	// option, as it does for aliases sharing one value.
	v := l.vals
	set := func(name string) bool { return l.userSet(*l.opts.ByName(name)) }
	if set("Address") && v.Address.String() != "" {
		if v.TLS.Enable.Value() && !set("TLS Address") {
			v.TLS.Address = v.Address
		} else if !v.TLS.Enable.Value() && !set("HTTP Address") {
			_ = v.HTTPAddress.Set(v.Address.String())
		}
	}
	if set("Redirect HTTP to HTTPS") && !set("Redirect to Access URL") {
		v.RedirectToAccessURL = v.TLS.RedirectHTTP
	}
	// A YAML null must not turn a mapping into JSON null: the written
	// config could not reproduce it.
	if v.OIDC.AuthURLParams.Value == nil {
		v.OIDC.AuthURLParams.Value = map[string]string{}
	}
	if v.OIDC.GroupMapping.Value == nil {
		v.OIDC.GroupMapping.Value = map[string]string{}
	}
	if v.OIDC.UserRoleMapping.Value == nil {
		v.OIDC.UserRoleMapping.Value = map[string][]string{}
	}
	if v.OIDC.OrganizationMapping.Value == nil {
		v.OIDC.OrganizationMapping.Value = map[string][]uuid.UUID{}
	}
	if len(v.Support.Links.Value) == 0 {
		v.Support.Links.Value = nil
	}
	for i := range v.ExternalAuthConfigs.Value {
		c := &v.ExternalAuthConfigs.Value[i]
		c.Scopes = nilIfEmpty(c.Scopes)
		c.ExtraTokenKeys = nilIfEmpty(c.ExtraTokenKeys)
		c.PKCEMethods = nilIfEmpty(c.PKCEMethods)
	}
}

func nilIfEmpty(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	return s
}

// relatedOptions are checked together by cross-field rules: when the input
// of one of them was refused, no rule reports on any of them.
var relatedOptions = [][]string{
	{"Session Duration", "Default OAuth Refresh Lifetime"},
	{"TLS Enable", "TLS Certificate Files", "TLS Key Files", "TLS Address", "HTTP Address", "Address"},
	{"Update Check", "Update Check URL"},
}

// suppressed reports whether a rule about the named option would only echo
// a refused input (its value, or a related one, is still the default).
func (l *loader) suppressed(name string) bool {
	isBad := func(n string) bool {
		opt := l.opts.ByName(n)
		return opt != nil && l.bad[opt.Value]
	}
	if isBad(name) {
		return true
	}
	for _, group := range relatedOptions {
		if !slices.Contains(group, name) {
			continue
		}
		for _, n := range group {
			if isBad(n) {
				return true
			}
		}
	}
	return false
}

// fail records a problem about an already-applied option.
func (l *loader) fail(name string, err error) {
	if l.suppressed(name) {
		return
	}
	opt := l.opts.ByName(name)
	if opt == nil {
		l.problems = append(l.problems, Problem{Option: name, Err: err})
		return
	}
	l.add(*opt, l.sourceOf(*opt), l.inputOf(opt.Value), err)
}

// inputOf renders a value for a problem found after parsing. A URL is
// echoed as the operator wrote it: url.URL.String re-encodes it (a space
// becomes %20), which would show an input nobody typed.
func (l *loader) inputOf(v pflag.Value) string {
	if _, ok := v.(*serpent.URL); ok {
		if raw, ok := l.raw[v]; ok {
			return raw
		}
	}
	return displayValue(v)
}

// displayValue renders a value for messages. serpent's StringArray.String
// forgets to flush its CSV writer and always returns "", so arrays are
// joined here.
func displayValue(v pflag.Value) string {
	if a, ok := v.(*serpent.StringArray); ok {
		return strings.Join(a.Value(), ",")
	}
	return v.String()
}

var (
	tlsMinVersions  = []string{"tls10", "tls11", "tls12", "tls13"}
	tlsClientAuths  = []string{"none", "request", "require-any", "verify-if-given", "require-and-verify"}
	agentStatLabels = []string{"agent_name", "template_name", "username", "workspace_name"}
	webRenderers    = []string{"canvas", "webgl", "dom"}
	notifyMethods   = []string{"smtp", "webhook"}
	provisionerKind = []string{"terraform", "echo"}
	supportIcons    = []string{"bug", "chat", "docs", "star"}
	supportPlaces   = []string{"navbar", "dropdown"}
)

// validate applies the per-option semantic rules and the cross-field rules.
func (l *loader) validate() {
	v := l.vals

	if u := v.AccessURL.Value(); u.String() != "" {
		if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			l.fail("Access URL", errors.New("must be an absolute http:// or https:// URL"))
		}
	}
	if p := v.WildcardAccessURL.String(); p != "" {
		if err := ValidateWildcardHostPattern(p); err != nil {
			l.fail("Wildcard Access URL", err)
		}
	}
	if a := v.HTTPAddress.String(); a != "" {
		if _, _, err := net.SplitHostPort(a); err != nil {
			l.fail("HTTP Address", errors.New("must be host:port"))
		}
	}
	if v.HTTPAddress.String() == "" && !v.TLS.Enable {
		l.fail("HTTP Address", errors.New("no listener: set --http-address or enable TLS with --tls-enable"))
	}

	if v.TLS.Enable {
		switch {
		case len(v.TLS.CertFiles) == 0:
			l.fail("TLS Enable", errors.New("TLS is enabled but no certificate is set (--tls-cert-file / CODER_TLS_CERT_FILE)"))
		case len(v.TLS.KeyFiles) == 0:
			l.fail("TLS Enable", errors.New("TLS is enabled but no key is set (--tls-key-file / CODER_TLS_KEY_FILE)"))
		case len(v.TLS.CertFiles) != len(v.TLS.KeyFiles):
			l.fail("TLS Key Files", fmt.Errorf("%d certificate files but %d key files; they must pair up", len(v.TLS.CertFiles), len(v.TLS.KeyFiles)))
		}
	}
	l.oneOf("TLS Minimum Version", v.TLS.MinVersion.String(), tlsMinVersions)
	l.oneOf("TLS Client Auth", v.TLS.ClientAuth.String(), tlsClientAuths)

	if v.Sessions.DefaultDuration.Value() <= 0 {
		l.fail("Session Duration", errors.New("must be positive"))
	} else if v.Sessions.RefreshDefaultDuration.Value() <= v.Sessions.DefaultDuration.Value() {
		l.fail("Default OAuth Refresh Lifetime", fmt.Errorf("must be longer than the session duration (--session-duration, %s)", v.Sessions.DefaultDuration.Value()))
	}
	for _, d := range []struct {
		name  string
		value *serpent.Duration
	}{
		{"Default Token Lifetime", &v.Sessions.DefaultTokenDuration},
		{"Max Token Lifetime", &v.Sessions.MaximumTokenDuration},
		{"Maximum Admin Token Lifetime", &v.Sessions.MaximumAdminTokenDuration},
	} {
		if d.value.Value() <= 0 {
			l.fail(d.name, errors.New("must be positive"))
		}
	}

	if _, err := ParseSSHConfigOptions(v.SSHConfig.SSHConfigOptions.Value()); err != nil {
		l.fail("SSH Config Options", err)
	}
	if err := ValidateHostnameSuffix(v.WorkspaceHostnameSuffix.String()); err != nil {
		l.fail("Workspace Hostname Suffix", err)
	}

	if v.PostgresConnMaxOpen.Value() <= 0 {
		l.fail("Postgres Connection Max Open", errors.New("must be greater than zero"))
	}
	if idle := v.PostgresConnMaxIdle.String(); idle != "auto" {
		if n, err := strconv.Atoi(idle); err != nil || n < 0 {
			l.fail("Postgres Connection Max Idle", errors.New(`must be "auto" or a non-negative integer`))
		}
	}
	for _, n := range []struct {
		name  string
		value *serpent.Int64
	}{
		{"AI Bridge Circuit Breaker Failure Threshold", &v.AI.BridgeConfig.CircuitBreakerFailureThreshold},
		{"AI Bridge Circuit Breaker Max Requests", &v.AI.BridgeConfig.CircuitBreakerMaxRequests},
	} {
		if n.value.Value() < 1 || n.value.Value() > 100 {
			l.fail(n.name, errors.New("must be between 1 and 100"))
		}
	}
	if v.StrictTransportSecurity.Value() < 0 {
		l.fail("Strict-Transport-Security", errors.New("must not be negative"))
	}
	l.subsetOf("Provisioner Daemon Types", v.Provisioner.DaemonTypes.Value(), provisionerKind)
	l.subsetOf("Prometheus Aggregate Agent Stats By", v.Prometheus.AggregateAgentStatsBy.Value(), agentStatLabels)
	l.oneOf("Web Terminal Renderer", v.WebTerminalRenderer.String(), webRenderers)
	l.oneOf("Notifications: Method", v.Notifications.Method.String(), notifyMethods)

	for _, cidr := range v.ProxyTrustedOrigins.Value() {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			l.fail("Proxy Trusted Origins", fmt.Errorf("%q is not a CIDR range", cidr))
		}
	}
	for _, cidr := range v.AI.BridgeProxyConfig.AllowedPrivateCIDRs.Value() {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			l.fail("AI Bridge Proxy Allowed Private CIDRs", fmt.Errorf("%q is not a CIDR range", cidr))
		}
	}
	for _, expr := range v.Logging.Filter.Value() {
		if _, err := regexp.Compile(expr); err != nil {
			l.fail("Log Filter", fmt.Errorf("%q is not a valid regular expression", expr))
		}
	}
	for i, link := range v.Support.Links.Value {
		if link.Name == "" || link.Target == "" {
			l.fail("Support Links", fmt.Errorf("link %d needs a name and a target", i))
		}
		if link.Icon != "" && !slices.Contains(supportIcons, link.Icon) {
			l.fail("Support Links", fmt.Errorf("link %d: icon %q must be one of %s", i, link.Icon, strings.Join(supportIcons, ", ")))
		}
		if link.Location != "" && !slices.Contains(supportPlaces, link.Location) {
			l.fail("Support Links", fmt.Errorf("link %d: location %q must be one of %s", i, link.Location, strings.Join(supportPlaces, ", ")))
		}
	}

	if v.UpdateCheck {
		if u := v.Gantry.UpdateCheckURL.Value(); u.Scheme != "http" && u.Scheme != "https" {
			l.fail("Update Check URL", errors.New("must be an http:// or https:// URL"))
		}
	}
	if v.Gantry.UpdateCheckInterval.Value() < time.Minute {
		l.fail("Update Check Interval", errors.New("must be at least 1m"))
	}
	if v.Gantry.ShutdownGracePeriod.Value() <= 0 {
		l.fail("Shutdown Grace Period", errors.New("must be positive"))
	}
}

func (l *loader) oneOf(name, value string, allowed []string) {
	if !slices.Contains(allowed, value) {
		l.fail(name, fmt.Errorf("must be one of %s", strings.Join(allowed, ", ")))
	}
}

func (l *loader) subsetOf(name string, values, allowed []string) {
	for _, v := range values {
		if !slices.Contains(allowed, v) {
			l.fail(name, fmt.Errorf("%q is not one of %s", v, strings.Join(allowed, ", ")))
		}
	}
}

// readProviderEnv parses the indexed provider variables (AI Bridge and
// external auth). It runs with the other input checks so its problems are
// reported together with theirs.
func (l *loader) readProviderEnv() {
	providers, unknown, err := readAIBridgeProviders(l.in.Environ)
	for _, e := range splitJoined(err) {
		l.problems = append(l.problems, Problem{Option: "AI Bridge providers", Source: "env " + AIBridgeProviderEnvPrefix + "<N>_<KEY>", Err: e})
	}
	for _, name := range unknown {
		l.warnings = append(l.warnings, fmt.Sprintf("ignoring unknown AI Bridge provider variable %s (check for typos)", name))
	}
	l.aiProviders = providers

	ext, err := ReadExternalAuthProvidersFromEnv(l.in.Environ)
	for _, e := range splitJoined(err) {
		l.problems = append(l.problems, Problem{Option: "External Auth Providers", Source: "env " + ExternalAuthEnvPrefix + "<N>_<KEY>", Err: e})
	}
	l.extAuth = ext
}

// mergeProviders adds the env providers to the applied values and checks the
// merged lists.
func (l *loader) mergeProviders() {
	l.vals.AI.BridgeConfig.Providers = l.aiProviders
	_, err := BuildAIBridgeProviders(l.vals.AI.BridgeConfig)
	for _, e := range splitJoined(err) {
		l.problems = append(l.problems, Problem{Option: "AI Bridge providers", Err: e})
	}
	// Like the reference server, "no providers" is an empty list, not null.
	l.vals.ExternalAuthConfigs.Value = append(make([]ExternalAuthConfig, 0, len(l.vals.ExternalAuthConfigs.Value)+len(l.extAuth)),
		append(l.vals.ExternalAuthConfigs.Value, l.extAuth...)...)
	for _, e := range ValidateExternalAuthConfigs(l.vals.ExternalAuthConfigs.Value) {
		l.problems = append(l.problems, Problem{Option: "External Auth Providers", Err: e})
	}
}

// splitJoined turns an errors.Join result back into its parts.
func splitJoined(err error) []error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

var externalAuthIDRe = regexp.MustCompile(`^[a-zA-Z0-9]+([-_.][a-zA-Z0-9]+)*$`)

// ValidateExternalAuthConfigs checks external auth providers after the
// defaults (ID defaults to TYPE): a valid and unique ID, a client ID, a device
// code URL when device flow is on (GitHub has a default one), and regular
// expressions that compile.
func ValidateExternalAuthConfigs(cfgs []ExternalAuthConfig) []error {
	var errs []error
	ids := make(map[string]bool)
	for _, c := range cfgs {
		id := c.ID
		if id == "" {
			id = c.Type
		}
		if !externalAuthIDRe.MatchString(id) {
			errs = append(errs, fmt.Errorf("external auth provider %q doesn't have a valid id: must be letters, digits, '-', '_' or '.'", id))
			continue
		}
		if c.ClientID == "" {
			errs = append(errs, fmt.Errorf("%q external auth provider: client_id must be provided", id))
		}
		if ids[id] {
			if id == c.Type {
				errs = append(errs, fmt.Errorf("multiple %s external auth providers provided. you must specify a unique id for each", id))
			} else {
				errs = append(errs, fmt.Errorf("multiple external auth providers exist with the id %q. specify a unique id for each", id))
			}
		}
		ids[id] = true
		if c.DeviceFlow && c.DeviceCodeURL == "" && c.Type != "github" {
			errs = append(errs, fmt.Errorf("external auth provider %q: device auth url must be provided", id))
		}
		for _, re := range []string{c.Regex, c.MCPToolAllowRegex, c.MCPToolDenyRegex} {
			if _, err := regexp.Compile(re); err != nil {
				errs = append(errs, fmt.Errorf("external auth provider %q: invalid regex %q", id, re))
			}
		}
	}
	return errs
}

// forbiddenSSHKeys may not be set through --ssh-config-options: they would
// let the deployment run commands on, or redirect, the user's machine.
var forbiddenSSHKeys = []string{
	"host", "match", "include", "proxycommand", "localcommand", "permitlocalcommand",
	"remotecommand", "knownhostscommand", "pkcs11provider", "securitykeyprovider",
	"smartcarddevice", "xauthlocation", "proxyjump",
}

// ParseSSHConfigOptions turns --ssh-config-options entries ("Key=Value" or
// "Key Value") into a map (later duplicates win). It rejects entries without
// a separator, empty keys, control characters and the forbidden keys. The
// result is never nil.
func ParseSSHConfigOptions(entries []string) (map[string]string, error) {
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		i := strings.IndexAny(e, "= ")
		if i < 0 {
			return nil, fmt.Errorf("parse ssh config options %q: config-ssh option %q is missing a key/value separator ('=' or ' ')", strings.Join(entries, ","), e)
		}
		key, value := e[:i], e[i+1:]
		switch {
		case key == "":
			return nil, fmt.Errorf("config-ssh option %q has an empty key", e)
		case strings.ContainsAny(e, "\r\n\x00"):
			return nil, fmt.Errorf("config-ssh option %q contains a line break or NUL character", e)
		case slices.Contains(forbiddenSSHKeys, strings.ToLower(key)):
			return nil, fmt.Errorf("config-ssh option %q uses the forbidden key %q", e, key)
		}
		out[key] = value
	}
	return out, nil
}

// ValidateHostnameSuffix checks --workspace-hostname-suffix: no leading dot,
// no wildcards, no whitespace or control characters.
func ValidateHostnameSuffix(s string) error {
	switch {
	case strings.HasPrefix(s, "."):
		return errors.New("must not start with '.'")
	case strings.ContainsAny(s, "*?"):
		return errors.New("must not contain '*' or '?'")
	case strings.IndexFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) }) >= 0:
		return errors.New("must not contain whitespace or control characters")
	}
	return nil
}

var dnsLabelRe = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]*[a-z0-9])?$`)

// ValidateWildcardHostPattern checks --wildcard-access-url: a host name whose
// first label contains exactly one '*' (e.g. "*.apps.example.com" or
// "*--apps.example.com"), optionally followed by ":port", without a scheme.
func ValidateWildcardHostPattern(p string) error {
	if strings.Contains(p, "://") {
		return errors.New("must be a host pattern without a scheme, e.g. *.apps.example.com")
	}
	host := p
	if h, port, err := net.SplitHostPort(p); err == nil {
		if _, err := strconv.ParseUint(port, 10, 16); err != nil {
			return errors.New("invalid port")
		}
		host = h
	}
	labels := strings.Split(strings.ToLower(host), ".")
	if len(labels) < 2 || strings.Count(host, "*") != 1 || !strings.Contains(labels[0], "*") {
		return errors.New("must contain exactly one '*' in its first label and a domain, e.g. *.apps.example.com")
	}
	first := strings.Replace(labels[0], "*", "x", 1)
	for _, label := range append([]string{first}, labels[1:]...) {
		if !dnsLabelRe.MatchString(label) {
			return fmt.Errorf("%q is not a valid DNS label", label)
		}
	}
	return nil
}
