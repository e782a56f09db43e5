package policy

import (
	"cmp"
	"context"
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// NewTestRunner returns OPA's test runner loaded with every module of b, test
// files included, and its data, parsed the way an Engine parses them (per
// module Rego version, no network built-ins unless WithNetworkBuiltins).
// The caller may add a filter, coverage or tracing before RunTests(ctx,
// nil); RunTests below is the common case.
func NewTestRunner(b *Bundle, opts ...Option) (*tester.Runner, error) {
	r, _, _, err := testRunner(b, opts)
	return r, err
}

// testRunner returns the runner, the modules it runs (by name) and the
// capabilities they were parsed with.
func testRunner(b *Bundle, opts []Option) (*tester.Runner, map[string]*ast.Module, *ast.Capabilities, error) {
	o := newOptions(opts)
	caps := capabilities(o.network, o.hosts)
	mods, err := parseBundle(b, caps, true)
	if err != nil {
		return nil, nil, nil, err
	}
	store, err := newStore(b.Data)
	if err != nil {
		return nil, nil, nil, err
	}
	compiler := ast.NewCompiler().WithCapabilities(caps).WithEnablePrintStatements(true)
	return tester.NewRunner().
		SetCompiler(compiler).
		SetStore(store).
		SetModules(mods).
		CapturePrintOutput(true).
		RaiseBuiltinErrors(o.strict), mods, caps, nil
}

// RunTests runs the Rego tests of b (rules named test_*, with `with`
// mocking) as `opa test` does, and returns every result sorted by package
// and name. A module that does not compile is a *CompileError; a failed or
// erroring test is a result with Pass() false, not an error.
func RunTests(ctx context.Context, b *Bundle, opts ...Option) ([]*tester.Result, error) {
	r, _, caps, err := testRunner(b, opts)
	if err != nil {
		return nil, err
	}
	return runTests(ctx, r, caps)
}

// runTests runs r's tests and collects the results, sorted.
func runTests(ctx context.Context, r *tester.Runner, caps *ast.Capabilities) ([]*tester.Result, error) {
	ch, err := r.RunTests(ctx, nil)
	if err != nil {
		return nil, compileError(asErrors(err), caps)
	}
	var results []*tester.Result
	for r := range ch {
		results = append(results, r)
	}
	slices.SortFunc(results, func(a, b *tester.Result) int {
		return cmp.Or(cmp.Compare(a.Package, b.Package), cmp.Compare(a.Name, b.Name))
	})
	return results, nil
}
