package config

import (
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A field path, as Validate writes it, is a dotted list of YAML keys with
// [N] for a sequence index and ["KEY"] (a Go-quoted string) for a map key
// that may hold dots: `namespaces[0].match.labels["app.kubernetes.io/name"]`.

// pathStep is one step of a field path: a mapping key or a sequence index.
type pathStep struct {
	key   string
	index int // -1 for a key step
}

// splitPath parses a field path. A malformed tail is dropped: the line of
// the part that parsed is still the best answer.
func splitPath(p string) []pathStep {
	var steps []pathStep
	for p != "" {
		switch {
		case p[0] == '.':
			p = p[1:]
		case strings.HasPrefix(p, `["`):
			q, err := strconv.QuotedPrefix(p[1:])
			if err != nil {
				return steps
			}
			key, _ := strconv.Unquote(q)
			steps = append(steps, pathStep{key: key, index: -1})
			p = strings.TrimPrefix(p[1+len(q):], "]")
		case p[0] == '[':
			end := strings.IndexByte(p, ']')
			if end < 0 {
				return steps
			}
			n, err := strconv.Atoi(p[1:end])
			if err != nil {
				return steps
			}
			steps = append(steps, pathStep{index: n})
			p = p[end+1:]
		default:
			end := strings.IndexAny(p, ".[")
			if end < 0 {
				end = len(p)
			}
			steps = append(steps, pathStep{key: p[:end], index: -1})
			p = p[end:]
		}
	}
	return steps
}

// lineOf returns the line of the node a field path names in a document, or
// of its deepest ancestor present in the file when the field was left out
// (a missing name reports the line of the list item that lacks it). For a
// mapping key it is the key's line, so "approval: …" points at "approval:".
func lineOf(root *yaml.Node, path string) int {
	n := deref(root)
	if n == nil {
		return 0
	}
	line := n.Line
	for _, s := range splitPath(path) {
		switch {
		case s.index >= 0 && n.Kind == yaml.SequenceNode:
			if s.index >= len(n.Content) {
				return line
			}
			n = deref(n.Content[s.index])
			line = n.Line
		case s.index < 0 && n.Kind == yaml.MappingNode:
			k, v := lookupKey(n, s.key, 0)
			if k == nil {
				return line
			}
			line, n = k.Line, deref(v)
		default:
			return line
		}
	}
	return line
}

// lookupKey finds key in a mapping, following YAML merge keys ("<<: *base")
// a few levels deep.
func lookupKey(m *yaml.Node, key string, depth int) (k, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key && m.Content[i].Tag != "!!merge" {
			return m.Content[i], m.Content[i+1]
		}
	}
	if depth > 4 {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Tag != "!!merge" {
			continue
		}
		merged := deref(m.Content[i+1])
		if merged == nil {
			continue
		}
		sources := []*yaml.Node{merged}
		if merged.Kind == yaml.SequenceNode {
			sources = merged.Content
		}
		for _, src := range sources {
			if src = deref(src); src != nil && src.Kind == yaml.MappingNode {
				if k, v := lookupKey(src, key, depth+1); k != nil {
					return k, v
				}
			}
		}
	}
	return nil, nil
}

// deref follows aliases to the node they name; a document node becomes its
// content.
func deref(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && i < 8; i++ {
		switch {
		case n.Kind == yaml.AliasNode:
			n = n.Alias
		case n.Kind == yaml.DocumentNode && len(n.Content) == 1:
			n = n.Content[0]
		default:
			return n
		}
	}
	return n
}
