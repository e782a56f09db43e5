package config

import (
	"github.com/shipgate/shipgate/internal/yamlerr"

	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
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

// decodeErrors turns a yaml.v3 error into an ErrorList, rewriting each
// "line N: msg" into name:N: msg.
func decodeErrors(name string, data []byte, err error) ErrorList {
	problems := yamlerr.Split(err, data)
	list := make(ErrorList, 0, len(problems))
	for _, p := range problems {
		list = append(list, &Error{File: name, Line: p.Line, Msg: p.Msg})
	}
	list.sortByLine()
	return list
}
