package config

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/coder/serpent"
)

// WithoutSecrets returns a deep copy of c with every secret option blanked,
// the way the reference server builds the `config` object: a JSON round trip
// (which also drops every json:"-" field such as provider keys and external
// auth client secrets), then Set("") on each secret option of the copy.
// Nested secrets therefore read "", and top-level omitempty ones disappear.
func (c *DeploymentValues) WithoutSecrets() (*DeploymentValues, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("copy deployment values: %w", err)
	}
	cpy := New()
	if err := json.Unmarshal(raw, cpy); err != nil {
		return nil, fmt.Errorf("copy deployment values: %w", err)
	}
	// Gantry extensions are not serialized; carry them over (none is secret).
	cpy.Gantry = c.Gantry
	for _, opt := range cpy.Options() {
		if !IsSecret(opt) {
			continue
		}
		switch v := opt.Value.(type) {
		case *serpent.String:
			_ = v.Set("")
		case *serpent.StringArray:
			_ = v.Set("")
		default:
			return nil, fmt.Errorf("redact option %q: unsupported type %T", opt.Name, opt.Value)
		}
	}
	return cpy, nil
}

// OptionsWithoutSecrets returns a copy of opts in which secret options have no
// value (their "value" key disappears from JSON). Copies of secret options
// nested in another option's UseInstead carry an empty string instead, which
// is what the reference server sends there. opts itself is not modified.
func OptionsWithoutSecrets(opts serpent.OptionSet) serpent.OptionSet {
	out := make(serpent.OptionSet, len(opts))
	for i, opt := range opts {
		if IsSecret(opt) {
			opt.Value = nil
		}
		if len(opt.UseInstead) > 0 {
			nested := make([]serpent.Option, len(opt.UseInstead))
			for j, u := range opt.UseInstead {
				if IsSecret(u) {
					u.Value = new(serpent.String)
				}
				nested[j] = u
			}
			opt.UseInstead = nested
		}
		out[i] = opt
	}
	return out
}

// DeploymentConfig is the body of GET /api/v2/deployment/config.
type DeploymentConfig struct {
	Config  *DeploymentValues `json:"config,omitempty"`
	Options serpent.OptionSet `json:"options,omitempty"`
}

// DeploymentConfigResponse builds the value the API serializes for
// GET /api/v2/deployment/config: the values without secrets and the options
// without secret values, sorted by name in byte order like the reference
// server. Neither argument is modified.
func DeploymentConfigResponse(vals *DeploymentValues, opts serpent.OptionSet) (DeploymentConfig, error) {
	redacted, err := vals.WithoutSecrets()
	if err != nil {
		return DeploymentConfig{}, err
	}
	served := OptionsWithoutSecrets(opts)
	slices.SortStableFunc(served, func(a, b serpent.Option) int { return strings.Compare(a.Name, b.Name) })
	return DeploymentConfig{Config: redacted, Options: served}, nil
}
