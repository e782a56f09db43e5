// Package yamlerr reads the line numbers out of go.yaml.in/yaml/v3's error
// messages, so that every YAML file shipgate reads (the configuration,
// manifests) reports its errors as file:line: message.
package yamlerr

import (
	"bytes"
	"errors"
	"regexp"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Problem is one error message and the 1-based line it is about (0 when
// the message names none).
type Problem struct {
	Line int
	Msg  string
}

// lineRE matches the location prefix yaml.v3 puts on its messages:
// "yaml: line 3: …" for syntax errors, "line 3: …" in a TypeError.
var lineRE = regexp.MustCompile(`^(?:yaml: )?line (\d+): `)

// parserProblems are the messages of libyaml's parser (as opposed to its
// scanner). yaml.v3 reports their line counting from 0, so Split adds one.
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

// Split turns a yaml.v3 error about data into its problems: one for a
// syntax error, one per field for a *yaml.TypeError.
func Split(err error, data []byte) []Problem {
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
	out := make([]Problem, 0, len(msgs))
	for _, m := range msgs {
		var p Problem
		m = strings.TrimPrefix(m, "yaml: ")
		m = strings.TrimPrefix(m, "unmarshal errors:\n  ")
		if sub := lineRE.FindStringSubmatch(m); sub != nil {
			p.Line, _ = strconv.Atoi(sub[1])
			m = m[len(sub[0]):]
		}
		if parserProblems[m] {
			// The parser's end-of-stream mark can lie past the last line.
			p.Line = min(p.Line+1, max(lines, 1))
		}
		p.Msg = m
		out = append(out, p)
	}
	return out
}
