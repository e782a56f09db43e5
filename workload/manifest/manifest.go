// Package manifest reads Kubernetes manifests — multi-document YAML, JSON,
// List objects, whole directories — into objects that remember the file
// and line they came from, for the commands that judge manifests offline.
package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/shipgate/shipgate/internal/yamlerr"
)

// Object is one Kubernetes object read from a manifest.
type Object struct {
	File       string
	Line       int
	APIVersion string
	Kind       string
	Namespace  string
	Name       string
	// Labels are metadata.labels (used for Namespace objects).
	Labels map[string]string
	// JSON is the object as the API server would send it.
	JSON []byte
}

// Where is "file:line".
func (o *Object) Where() string { return fmt.Sprintf("%s:%d", o.File, o.Line) }

// Error is a manifest that cannot be read, with its place.
type Error struct {
	File string
	Line int
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// ReadPaths reads every file given; a directory contributes its .yaml,
// .yml and .json files, recursively, in lexical order.
func ReadPaths(paths []string) ([]Object, error) {
	var out []Object
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			objs, err := ReadFile(f)
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
	}
	return out, nil
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, &Error{File: p, Err: errors.Unwrap(err)}
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		switch strings.ToLower(filepath.Ext(path)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				files = append(files, path)
			}
		}
		return nil
	})
	if err != nil {
		return nil, &Error{File: p, Err: err}
	}
	slices.Sort(files)
	return files, nil
}

// ReadFile reads one file ("-" is standard input).
func ReadFile(path string) ([]Object, error) {
	var data []byte
	var err error
	if path == "-" {
		data, err = io.ReadAll(os.Stdin)
	} else {
		data, err = os.ReadFile(path)
	}
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: err}
	}
	return Parse(path, data)
}

// Parse reads every document in data; name is used in errors.
func Parse(name string, data []byte) ([]Object, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var out []Object
	for {
		var doc yaml.Node
		err := dec.Decode(&doc)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			p := yamlerr.Split(err, data)[0]
			return nil, &Error{File: name, Line: p.Line, Err: errors.New(p.Msg)}
		}
		if len(doc.Content) == 0 {
			continue
		}
		objs, err := fromNode(name, doc.Content[0])
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
}

// fromNode turns one document into objects, expanding a List.
func fromNode(file string, n *yaml.Node) ([]Object, error) {
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: n.Line, Err: errors.New("a manifest document must be a mapping (an object)")}
	}
	var head struct {
		APIVersion string `yaml:"apiVersion"`
		Kind       string `yaml:"kind"`
		Metadata   struct {
			Name      string            `yaml:"name"`
			Namespace string            `yaml:"namespace"`
			Labels    map[string]string `yaml:"labels"`
		} `yaml:"metadata"`
		Items []yaml.Node `yaml:"items"`
	}
	if err := n.Decode(&head); err != nil {
		return nil, nodeError(file, n, err)
	}
	if head.Kind == "" || head.APIVersion == "" {
		return nil, &Error{File: file, Line: n.Line, Err: errors.New("object has no apiVersion or kind")}
	}
	if strings.HasSuffix(head.Kind, "List") && head.Items != nil {
		var out []Object
		for i := range head.Items {
			objs, err := fromNode(file, &head.Items[i])
			if err != nil {
				return nil, err
			}
			out = append(out, objs...)
		}
		return out, nil
	}
	var v any
	if err := n.Decode(&v); err != nil {
		return nil, nodeError(file, n, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, &Error{File: file, Line: n.Line, Err: fmt.Errorf("converting to JSON: %w", err)}
	}
	return []Object{{
		File: file, Line: n.Line,
		APIVersion: head.APIVersion, Kind: head.Kind,
		Namespace: head.Metadata.Namespace, Name: head.Metadata.Name,
		Labels: head.Metadata.Labels,
		JSON:   raw,
	}}, nil
}

// nodeError reports an error decoding node n, at the line the error names
// or else the node's own.
func nodeError(file string, n *yaml.Node, err error) error {
	p := yamlerr.Split(err, nil)[0]
	if p.Line == 0 {
		p.Line = n.Line
	}
	return &Error{File: file, Line: p.Line, Err: errors.New(p.Msg)}
}
