package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Load reads, decodes, defaults and validates the config file at path.
// Every problem in the file is reported, each as FILE:LINE: message, in one
// ErrorList; a file that cannot be read gives the os error, wrapped.
func Load(path string) (*GatewayConfig, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes data, one YAML document, as the config file called name
// (used only in error messages). Unknown fields are errors. The result has
// defaults applied, is valid, and is compiled for Resolve. Errors are an
// ErrorList whose entries read "name:LINE: message".
func Parse(name string, data []byte) (*GatewayConfig, error) {
	root, errs := parseDocument(name, data)
	if errs != nil {
		return nil, errs
	}
	var c GatewayConfig
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, decodeErrors(name, data, err)
	}
	c.ApplyDefaults()
	if err := c.Validate(); err != nil {
		var list ErrorList
		if !errors.As(err, &list) {
			return nil, ErrorList{{File: name, Msg: err.Error()}}
		}
		out := make(ErrorList, len(list))
		for i, e := range list {
			out[i] = &Error{File: name, Line: lineOf(root, e.Path), Path: e.Path, Msg: e.Msg}
		}
		out.sortByLine()
		return nil, out
	}
	c.Compile()
	return &c, nil
}

// parseDocument reads data as a node tree and checks that it is exactly one
// document whose content is a mapping. The tree gives validation errors
// their lines.
func parseDocument(name string, data []byte) (*yaml.Node, ErrorList) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, ErrorList{{File: name, Msg: "no YAML document: expected a GatewayConfig"}}
		}
		return nil, decodeErrors(name, data, err)
	}
	var next yaml.Node
	switch err := dec.Decode(&next); {
	case errors.Is(err, io.EOF):
	case err != nil:
		return nil, decodeErrors(name, data, err)
	default:
		return nil, ErrorList{{File: name, Line: documentLine(&next),
			Msg: "a second YAML document starts here: the config must be exactly one document"}}
	}
	root := deref(&doc)
	if root.Kind != yaml.MappingNode {
		return nil, ErrorList{{File: name, Line: root.Line,
			Msg: fmt.Sprintf("expected a mapping with apiVersion: %s and kind: %s, got %s", APIVersion, Kind, describeNode(root))}}
	}
	return root, nil
}

// documentLine is the first line of a document: the line of its "---" or,
// without one, of its content.
func documentLine(doc *yaml.Node) int {
	if doc.Line > 0 {
		return doc.Line
	}
	if len(doc.Content) > 0 {
		return doc.Content[0].Line
	}
	return 0
}

// describeNode names what a node holds, for "expected a mapping, got …".
func describeNode(n *yaml.Node) string {
	switch {
	case n.Kind == yaml.SequenceNode:
		return "a sequence"
	case n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null":
		return "an empty document"
	case n.Kind == yaml.ScalarNode:
		return fmt.Sprintf("the %s %q", strings.TrimPrefix(n.ShortTag(), "!!"), n.Value)
	default:
		return "something else"
	}
}

// yamlLine matches the location prefix yaml.v3 puts on its messages:
// "yaml: line 3: …" for syntax errors, "line 3: …" in a TypeError.
var yamlLine = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// parserProblems are the messages of libyaml's parser (as opposed to its
// scanner). yaml.v3 reports their line counting from 0 (and leaves out a
// line 0), so decodeErrors adds one.
var parserProblems = map[string]bool{
	"did not find expected <stream-start>":   true,
	"did not find expected <document start>": true,
	"did not find expected node content":     true,
	"did not find expected key":              true,
	"did not find expected '-' indicator":    true,
	"did not find expected ',' or ']'":       true,
	"did not find expected ',' or '}'":       true,
	"found duplicate %YAML directive":        true,
	"found duplicate %TAG directive":         true,
	"found incompatible YAML document":       true,
	"found undefined tag handle":             true,
}

// decodeErrors turns a yaml.v3 error into an ErrorList, rewriting each
// "line N: msg" into name:N: msg.
func decodeErrors(name string, data []byte, err error) ErrorList {
	var msgs []string
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	lines := bytes.Count(data, []byte("\n"))
	if len(data) > 0 && data[len(data)-1] != '\n' {
		lines++
	}
	list := make(ErrorList, 0, len(msgs))
	for _, m := range msgs {
		e := &Error{File: name}
		m = strings.TrimPrefix(m, "yaml: ")
		if sub := yamlLine.FindStringSubmatch(m); sub != nil {
			e.Line, _ = strconv.Atoi(sub[1])
			m = m[len(sub[0]):]
		}
		if parserProblems[m] {
			// The parser's end-of-stream mark can lie past the last line.
			e.Line = min(e.Line+1, max(lines, 1))
		}
		e.Msg = m
		list = append(list, e)
	}
	list.sortByLine()
	return list
}
