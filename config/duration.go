package config

import (
	"encoding/json"
	"fmt"
	"time"

	"go.yaml.in/yaml/v3"
)

// Duration is a time.Duration written as a Go duration string ("72h", "1m").
type Duration struct{ time.Duration }

// UnmarshalYAML reads a duration string. Its errors are a *yaml.TypeError
// so that decoding goes on and the file's other problems are reported too.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	var s string
	if n.Kind != yaml.ScalarNode || n.Decode(&s) != nil {
		return lineError(n, "duration must be a string such as \"90s\" or \"24h\"")
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return lineError(n, fmt.Sprintf("invalid duration %q: write a number and a unit (h, m, s, ms), such as \"72h\" or \"1h30m\"", s))
	}
	if v < 0 {
		return lineError(n, fmt.Sprintf("duration %q is negative", s))
	}
	d.Duration = v
	return nil
}

// lineError is one decoding problem in the form yaml.v3 reports its own.
func lineError(n *yaml.Node, msg string) error {
	return &yaml.TypeError{Errors: []string{fmt.Sprintf("line %d: %s", n.Line, msg)}}
}

// MarshalYAML writes the duration string.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// MarshalJSON writes the duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	d.Duration = v
	return nil
}
