package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// versionMarker is the comment that chooses a module's Rego version; the
// ConfigMap source uses the same key as an annotation.
const versionMarker = "shipgate.dev/rego-version:"

// markedVersion returns the version named by a marker comment among the
// comment lines that open src, or RegoAuto when there is none. An unknown
// version is an error.
func markedVersion(src string) (RegoVersion, int, error) {
	for i, line := range strings.Split(src, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		c, ok := strings.CutPrefix(line, "#")
		if !ok {
			return RegoAuto, 0, nil // the package statement: no marker
		}
		v, ok := strings.CutPrefix(strings.TrimSpace(c), versionMarker)
		if !ok {
			continue
		}
		switch strings.TrimSpace(v) {
		case "v0":
			return RegoV0, i + 1, nil
		case "v1":
			return RegoV1, i + 1, nil
		default:
			return RegoAuto, i + 1, fmt.Errorf("unknown Rego version %q (v0 or v1)", strings.TrimSpace(v))
		}
	}
	return RegoAuto, 0, nil
}

// parseModule parses one module at its version; see RegoAuto.
func parseModule(name string, m Module, caps *ast.Capabilities) (*ast.Module, RegoVersion, error) {
	v := m.Version
	if v == RegoAuto {
		marked, line, err := markedVersion(m.Source)
		if err != nil {
			return nil, v, ast.Errors{ast.NewError(ast.ParseErr, &ast.Location{File: name, Row: line}, "%s", err.Error())}
		}
		v = marked
	}
	parse := func(v RegoVersion) (*ast.Module, error) {
		rv := ast.RegoV1
		if v == RegoV0 {
			rv = ast.RegoV0
		}
		return ast.ParseModuleWithOpts(name, m.Source, ast.ParserOptions{
			RegoVersion:  rv,
			Capabilities: caps,
		})
	}
	if v != RegoAuto {
		mod, err := parse(v)
		return mod, v, err
	}
	mod, err := parse(RegoV1)
	if err == nil {
		return mod, RegoV1, nil
	}
	// Not v1: a v0 module (OPA's tutorials, policies from before OPA 1.0)
	// loads as v0. When neither parses, the v1 error is the one to show.
	if mod0, err0 := parse(RegoV0); err0 == nil {
		return mod0, RegoV0, nil
	}
	return nil, RegoV1, err
}

// parseBundle parses every module of b (tests only when withTests), and
// reports every error of every file at once.
func parseBundle(b *Bundle, caps *ast.Capabilities, withTests bool) (map[string]*ast.Module, error) {
	mods := make(map[string]*ast.Module, len(b.Modules))
	var errs ast.Errors
	for _, name := range slices.Sorted(maps.Keys(b.Modules)) {
		if !withTests && strings.HasSuffix(name, "_test.rego") {
			continue
		}
		mod, _, err := parseModule(name, b.Modules[name], caps)
		if err != nil {
			errs = append(errs, asErrors(err)...)
			continue
		}
		mods[name] = mod
	}
	if len(errs) > 0 {
		return nil, compileError(errs, caps)
	}
	return mods, nil
}

// asErrors returns err as OPA errors, which carry file and line.
func asErrors(err error) ast.Errors {
	var errs ast.Errors
	if errors.As(err, &errs) {
		return errs
	}
	var one *ast.Error
	if errors.As(err, &one) {
		return ast.Errors{one}
	}
	return ast.Errors{ast.NewError(ast.CompileErr, nil, "%s", err.Error())}
}
