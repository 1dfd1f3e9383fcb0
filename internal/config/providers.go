package config

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Provider types the gateway knows.
const (
	ProviderOpenAI    = "openai"
	ProviderAnthropic = "anthropic"
	ProviderCopilot   = "copilot"
)

// Env prefixes of the indexed provider variables.
const (
	AIBridgeProviderEnvPrefix     = "CODER_AIBRIDGE_PROVIDER_"
	ExternalAuthEnvPrefix         = "CODER_EXTERNAL_AUTH_"
	ExternalAuthDeprecatedEnvPref = "CODER_GITAUTH_"
)

// ReservedProviderNames cannot be used as provider names because they collide
// with routes under /api/v2/aibridge/.
var ReservedProviderNames = []string{"interceptions"}

var providerNameRe = regexp.MustCompile(`^[a-z0-9]+(-[a-z0-9]+)*$`)

// AIBridgeProviderConfig is one upstream LLM provider of the gateway. Secrets
// (Key, the Bedrock credentials and the Bedrock base URL, which may embed
// credentials) are tagged json:"-" and never serialized.
type AIBridgeProviderConfig struct {
	// Type is one of ProviderOpenAI, ProviderAnthropic or ProviderCopilot.
	Type string `json:"type"`
	// Name routes requests: /api/v2/aibridge/<Name>/... It defaults to Type.
	Name string `json:"name"`
	// Key is the central upstream API key (unused for copilot).
	Key string `json:"-"`
	// BaseURL overrides the provider's default upstream base URL.
	BaseURL                string `json:"base_url"`
	BedrockBaseURL         string `json:"-"`
	BedrockRegion          string `json:"bedrock_region,omitempty"`
	BedrockAccessKey       string `json:"-"`
	BedrockAccessKeySecret string `json:"-"`
	BedrockModel           string `json:"bedrock_model,omitempty"`
	BedrockSmallFastModel  string `json:"bedrock_small_fast_model,omitempty"`
}

// UsesBedrock reports whether an anthropic provider talks to AWS Bedrock.
func (p AIBridgeProviderConfig) UsesBedrock() bool {
	return p.BedrockRegion != "" || p.BedrockBaseURL != "" || p.BedrockAccessKey != "" || p.BedrockAccessKeySecret != ""
}

// indexedVar is one CODER_<PREFIX><N>_<KEY>=<value> variable.
type indexedVar struct {
	full  string // the variable name as given, upper-cased
	index int
	key   string
	value string
}

// parseIndexedEnv collects the variables that start with prefix and orders
// them by numeric index (so 2 comes before 10), keeping the environ order
// within one index. Empty values count as unset. Names listed in skip are
// ordinary options that happen to share the prefix. Indices must be
// contiguous from 0.
func parseIndexedEnv(environ []string, prefix string, skip map[string]bool) ([][]indexedVar, []error) {
	var (
		vars []indexedVar
		errs []error
	)
	for _, line := range environ {
		name, value, _ := strings.Cut(line, "=")
		name = strings.ToUpper(name)
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok || skip[name] || value == "" {
			continue
		}
		num, key, ok := strings.Cut(rest, "_")
		if !ok || key == "" {
			errs = append(errs, fmt.Errorf("invalid env var: %s", name))
			continue
		}
		n, err := strconv.ParseUint(num, 10, 31)
		// Reject "01" and the like: two spellings of one index are a typo.
		if err != nil || strconv.FormatUint(n, 10) != num {
			errs = append(errs, fmt.Errorf("parse number: %s", name))
			continue
		}
		vars = append(vars, indexedVar{full: name, index: int(n), key: key, value: value})
	}
	slices.SortStableFunc(vars, func(a, b indexedVar) int { return a.index - b.index })

	var groups [][]indexedVar
	for _, v := range vars {
		switch {
		case len(groups) > 0 && v.index == len(groups)-1:
			groups[len(groups)-1] = append(groups[len(groups)-1], v)
		case v.index == len(groups):
			groups = append(groups, []indexedVar{v})
		default:
			// Everything after a gap would be misnumbered; report the gap once.
			errs = append(errs, fmt.Errorf("provider num %v skipped: %s", len(groups), v.full))
			return groups, errs
		}
	}
	return groups, errs
}

// ReadAIBridgeProvidersFromEnv parses CODER_AIBRIDGE_PROVIDER_<N>_<KEY>
// variables (KEY one of TYPE, NAME, KEY, BASE_URL, BEDROCK_BASE_URL,
// BEDROCK_REGION, BEDROCK_ACCESS_KEY, BEDROCK_ACCESS_KEY_SECRET, BEDROCK_MODEL,
// BEDROCK_SMALL_FAST_MODEL). Indices are ordered numerically and must be
// contiguous from 0; empty values count as unset; unknown KEYs are ignored
// (see UnknownAIBridgeProviderKeys). Every problem is reported, joined into
// one error with one line each.
func ReadAIBridgeProvidersFromEnv(environ []string) ([]AIBridgeProviderConfig, error) {
	providers, _, err := readAIBridgeProviders(environ)
	return providers, err
}

// UnknownAIBridgeProviderKeys lists the indexed provider variables whose KEY
// is not recognised (typically typos), so the server can warn about them.
func UnknownAIBridgeProviderKeys(environ []string) []string {
	_, unknown, _ := readAIBridgeProviders(environ)
	return unknown
}

func readAIBridgeProviders(environ []string) ([]AIBridgeProviderConfig, []string, error) {
	groups, errs := parseIndexedEnv(environ, AIBridgeProviderEnvPrefix, nil)
	var unknown []string
	providers := make([]AIBridgeProviderConfig, 0, len(groups))
	for _, vars := range groups {
		var p AIBridgeProviderConfig
		for _, v := range vars {
			switch v.key {
			case "TYPE":
				p.Type = v.value
			case "NAME":
				p.Name = v.value
			case "KEY":
				p.Key = v.value
			case "BASE_URL":
				p.BaseURL = v.value
			case "BEDROCK_BASE_URL":
				p.BedrockBaseURL = v.value
			case "BEDROCK_REGION":
				p.BedrockRegion = v.value
			case "BEDROCK_ACCESS_KEY":
				p.BedrockAccessKey = v.value
			case "BEDROCK_ACCESS_KEY_SECRET":
				p.BedrockAccessKeySecret = v.value
			case "BEDROCK_MODEL":
				p.BedrockModel = v.value
			case "BEDROCK_SMALL_FAST_MODEL":
				p.BedrockSmallFastModel = v.value
			default:
				unknown = append(unknown, v.full)
			}
		}
		providers = append(providers, p)
	}

	seen := make(map[string]int, len(providers))
	for i := range providers {
		p := &providers[i]
		switch p.Type {
		case "":
			errs = append(errs, fmt.Errorf("provider %d: TYPE is required", i))
			continue
		case ProviderOpenAI, ProviderAnthropic, ProviderCopilot:
		default:
			errs = append(errs, fmt.Errorf("provider %d: unknown TYPE %q (must be openai, anthropic, or copilot)", i, p.Type))
			continue
		}
		if p.Name == "" {
			p.Name = p.Type
		}
		if err := ValidateProviderName(p.Name); err != nil {
			errs = append(errs, fmt.Errorf("provider %d: %w", i, err))
			continue
		}
		if _, dup := seen[p.Name]; dup {
			errs = append(errs, fmt.Errorf("provider %d: duplicate NAME %q (multiple providers of the same type require explicit NAME fields)", i, p.Name))
			continue
		}
		seen[p.Name] = i
	}
	if len(errs) > 0 {
		return nil, unknown, errors.Join(errs...)
	}
	return providers, unknown, nil
}

// ValidateProviderName checks a gateway provider name: lower-case letters and
// digits in dash-separated words, and not a reserved route segment.
func ValidateProviderName(name string) error {
	if !providerNameRe.MatchString(name) {
		return fmt.Errorf("invalid NAME %q (must match %s)", name, providerNameRe.String())
	}
	if slices.Contains(ReservedProviderNames, name) {
		return fmt.Errorf("NAME %q is reserved", name)
	}
	return nil
}

// BuildAIBridgeProviders returns the gateway's final provider list: the
// legacy single-provider options (an "openai" provider when
// --aibridge-openai-key is set, an "anthropic" provider when
// --aibridge-anthropic-key or a Bedrock region/base URL is set) followed by
// the indexed providers in index order. A legacy provider whose name an
// indexed provider already uses is a start-up error.
func BuildAIBridgeProviders(cfg AIBridgeConfig) ([]AIBridgeProviderConfig, error) {
	taken := make(map[string]bool, len(cfg.Providers))
	for _, p := range cfg.Providers {
		name := p.Name
		if name == "" {
			name = p.Type
		}
		taken[name] = true
	}

	var (
		out  []AIBridgeProviderConfig
		errs []error
	)
	if key := cfg.LegacyOpenAI.Key.String(); key != "" {
		if taken[ProviderOpenAI] {
			errs = append(errs, errors.New(`legacy CODER_AIBRIDGE_OPENAI_KEY conflicts with indexed provider named "openai"; remove one or the other`))
		} else {
			out = append(out, AIBridgeProviderConfig{
				Type:    ProviderOpenAI,
				Name:    ProviderOpenAI,
				Key:     key,
				BaseURL: cfg.LegacyOpenAI.BaseURL.String(),
			})
		}
	}
	bedrock := cfg.LegacyBedrock
	if cfg.LegacyAnthropic.Key.String() != "" || bedrock.Region.String() != "" || bedrock.BaseURL.String() != "" {
		if taken[ProviderAnthropic] {
			errs = append(errs, errors.New(`legacy CODER_AIBRIDGE_ANTHROPIC_KEY conflicts with indexed provider named "anthropic"; remove one or the other`))
		} else {
			out = append(out, AIBridgeProviderConfig{
				Type:                   ProviderAnthropic,
				Name:                   ProviderAnthropic,
				Key:                    cfg.LegacyAnthropic.Key.String(),
				BaseURL:                cfg.LegacyAnthropic.BaseURL.String(),
				BedrockBaseURL:         bedrock.BaseURL.String(),
				BedrockRegion:          bedrock.Region.String(),
				BedrockAccessKey:       bedrock.AccessKey.String(),
				BedrockAccessKeySecret: bedrock.AccessKeySecret.String(),
				BedrockModel:           bedrock.Model.String(),
				BedrockSmallFastModel:  bedrock.SmallFastModel.String(),
			})
		}
	}
	for _, p := range cfg.Providers {
		if p.Name == "" {
			p.Name = p.Type
		}
		switch p.Type {
		case ProviderOpenAI, ProviderAnthropic, ProviderCopilot:
		default:
			errs = append(errs, fmt.Errorf("unknown provider type %q for provider %q", p.Type, p.Name))
			continue
		}
		if err := ValidateProviderName(p.Name); err != nil {
			errs = append(errs, fmt.Errorf("provider %q: %w", p.Name, err))
			continue
		}
		out = append(out, p)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// ReadExternalAuthProvidersFromEnv parses CODER_EXTERNAL_AUTH_<N>_<KEY>, then
// the deprecated CODER_GITAUTH_<N>_<KEY> (each prefix numbered on its own),
// with the same index rules as the AI Bridge providers. DEVICE_FLOW and
// NO_REFRESH are booleans; SCOPES, EXTRA_TOKEN_KEYS and PKCE_METHODS are
// space-separated lists; unknown KEYs are ignored. Ordinary options that share
// the prefix (CODER_EXTERNAL_AUTH_GITHUB_DEFAULT_PROVIDER_ENABLE) are skipped.
func ReadExternalAuthProvidersFromEnv(environ []string) ([]ExternalAuthConfig, error) {
	skip := optionEnvNames()
	var (
		out  []ExternalAuthConfig
		errs []error
	)
	for _, prefix := range []string{ExternalAuthEnvPrefix, ExternalAuthDeprecatedEnvPref} {
		groups, perrs := parseIndexedEnv(environ, prefix, skip)
		errs = append(errs, perrs...)
		for _, vars := range groups {
			var p ExternalAuthConfig
			for _, v := range vars {
				if err := setExternalAuthKey(&p, v); err != nil {
					errs = append(errs, err)
				}
			}
			out = append(out, p)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

func setExternalAuthKey(p *ExternalAuthConfig, v indexedVar) error {
	fields := map[string]*string{
		"ID":                    &p.ID,
		"TYPE":                  &p.Type,
		"CLIENT_ID":             &p.ClientID,
		"CLIENT_SECRET":         &p.ClientSecret,
		"AUTH_URL":              &p.AuthURL,
		"TOKEN_URL":             &p.TokenURL,
		"REVOKE_URL":            &p.RevokeURL,
		"VALIDATE_URL":          &p.ValidateURL,
		"REGEX":                 &p.Regex,
		"DEVICE_CODE_URL":       &p.DeviceCodeURL,
		"APP_INSTALL_URL":       &p.AppInstallURL,
		"APP_INSTALLATIONS_URL": &p.AppInstallationsURL,
		"DISPLAY_NAME":          &p.DisplayName,
		"DISPLAY_ICON":          &p.DisplayIcon,
		"MCP_URL":               &p.MCPURL,
		"MCP_TOOL_ALLOW_REGEX":  &p.MCPToolAllowRegex,
		"MCP_TOOL_DENY_REGEX":   &p.MCPToolDenyRegex,
		"API_BASE_URL":          &p.APIBaseURL,
	}
	if f, ok := fields[v.key]; ok {
		*f = v.value
		return nil
	}
	switch v.key {
	case "DEVICE_FLOW", "NO_REFRESH":
		b, err := strconv.ParseBool(v.value)
		if err != nil {
			return fmt.Errorf("parse bool: %s", v.value)
		}
		if v.key == "DEVICE_FLOW" {
			p.DeviceFlow = b
		} else {
			p.NoRefresh = b
		}
	case "SCOPES":
		p.Scopes = strings.Split(v.value, " ")
	case "EXTRA_TOKEN_KEYS":
		p.ExtraTokenKeys = strings.Split(v.value, " ")
	case "PKCE_METHODS":
		p.PKCEMethods = strings.Split(v.value, " ")
	}
	return nil
}

// optionEnvNames is the set of env names the option table uses.
var optionEnvNames = sync.OnceValue(func() map[string]bool {
	names := make(map[string]bool)
	for _, opt := range New().Options() {
		if opt.Env != "" {
			names[opt.Env] = true
		}
	}
	return names
})
