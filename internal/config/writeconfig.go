package config

import (
	"fmt"
	"io"

	"github.com/coder/serpent"
	"gopkg.in/yaml.v3"
)

// WriteYAML prints the effective configuration as YAML (what --write-config
// shows). Feeding the output back through --config yields the same values:
//   - secret options have no YAML key, so they are never written, and
//     external auth client secrets (inside a YAML-capable option) are blanked;
//   - deprecated options are written only when the operator set them, so an
//     untouched legacy option cannot override its replacement on reload.
func (l *Loaded) WriteYAML(w io.Writer) error {
	out := make(serpent.OptionSet, 0, len(l.Options))
	for _, opt := range l.Options {
		if len(opt.UseInstead) > 0 {
			if _, set := l.Sources[opt.Name]; !set {
				continue
			}
		}
		if ext, ok := opt.Value.(*serpent.Struct[[]ExternalAuthConfig]); ok {
			cpy := &serpent.Struct[[]ExternalAuthConfig]{}
			for _, c := range ext.Value {
				c.ClientSecret = ""
				cpy.Value = append(cpy.Value, c)
			}
			opt.Value = cpy
		}
		out = append(out, opt)
	}
	node, err := out.MarshalYAML()
	if err != nil {
		return fmt.Errorf("render config: %w", err)
	}
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(node); err != nil {
		return fmt.Errorf("write config: %w", err)
	}
	return enc.Close()
}
