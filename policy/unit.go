package policy

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
)

// unit is one compiled Bundle: cluster policy, or one namespace's. Each
// unit has its own compiler and store; nothing is shared between units but
// the read-only capabilities.
type unit struct {
	digest string
	// sets maps each name a binding may use to its prepared query.
	sets map[string]*set
}

// set is one package, prepared for evaluation.
type set struct {
	// name is what messages report: the package path without "data.".
	name  string
	query rego.PreparedEvalQuery
	// readsOld says whether a module of the set's unit may read
	// input.request.oldObject (readsOldObject); when no set evaluated
	// does, the input is built without it.
	readsOld bool
}

// Result binding names of the query of a set.
const (
	bindDeny     = "deny"
	bindWarn     = "warn"
	bindApproval = "require_approval"
)

// compileUnit parses, checks and compiles a bundle whose Digest is digest,
// and prepares a query per package. namespace is "" for cluster policy.
func compileUnit(ctx context.Context, b *Bundle, digest, namespace string, caps *ast.Capabilities, strict bool) (*unit, error) {
	if b == nil {
		b = NewBundle()
	}
	fail := func(err *CompileError) error {
		err.Namespace = namespace
		return err
	}
	mods, err := parseBundle(b, caps, false)
	if err != nil {
		return nil, fail(err.(*CompileError))
	}
	data := b.Data
	var root ast.Ref
	if namespace != "" {
		root = namespaceRoot(namespace)
		if errs := checkNamespace(namespace, root, mods); len(errs) > 0 {
			return nil, fail(compileError(errs, caps))
		}
		// A namespace's data lives below its own package, and in its own store.
		data = map[string]any{"shipgate": map[string]any{"namespaces": map[string]any{namespace: data}}}
	}
	store, err := newStore(data)
	if err != nil {
		return nil, fail(&CompileError{Errors: []ErrorAt{{Message: err.Error()}}})
	}

	used := forModules(caps, mods)
	compiler := ast.NewCompiler().WithCapabilities(used)
	txn, err := store.NewTransaction(ctx)
	if err != nil {
		return nil, fmt.Errorf("opening policy store: %w", err)
	}
	compiler.WithPathConflictsCheck(storage.NonEmpty(ctx, store, txn))
	compiler.Compile(mods)
	store.Abort(ctx, txn)
	if compiler.Failed() {
		return nil, fail(compileError(compiler.Errors, caps))
	}

	u := &unit{digest: digest, sets: map[string]*set{}}
	readsOld := readsOldObject(compiler.Modules)
	paths := map[string]ast.Ref{}
	if namespace != "" {
		paths[root.String()] = root
	} else {
		for _, m := range mods {
			paths[m.Package.Path.String()] = m.Package.Path
		}
	}
	for _, key := range slices.Sorted(maps.Keys(paths)) {
		path := paths[key]
		s, err := prepare(ctx, compiler, store, used, strict, path)
		if err != nil {
			return nil, fail(compileError(asErrors(err), caps))
		}
		s.readsOld = readsOld
		names := []string{s.name}
		if namespace == "" {
			names = bindingNames(path)
		}
		for _, n := range names {
			if other, ok := u.sets[n]; ok && other.name != s.name {
				return nil, fail(&CompileError{Errors: []ErrorAt{{Message: fmt.Sprintf("packages %s and %s are both named %q", other.name, s.name, n)}}})
			}
			u.sets[n] = s
		}
	}
	return u, nil
}

// newStore holds data as OPA values, so evaluation reads it without
// converting.
func newStore(data map[string]any) (storage.Store, error) {
	v, err := ast.InterfaceToValue(data)
	if err != nil {
		return nil, fmt.Errorf("converting policy data: %w", err)
	}
	obj, ok := v.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("converting policy data: not an object")
	}
	return inmem.NewFromASTObject(obj), nil
}

// prepare builds the one query of a package. Each output is collected by a
// comprehension, so a rule the package does not define is an empty array
// rather than making the whole query undefined; the array holds the rule's
// value whatever its shape, and result.go checks the shape.
func prepare(ctx context.Context, c *ast.Compiler, store storage.Store, caps *ast.Capabilities, strict bool, path ast.Ref) (*set, error) {
	p := path.String()
	pq, err := rego.New(
		rego.Compiler(c),
		rego.Store(store),
		rego.Capabilities(caps),
		rego.ParsedQuery(outputQuery(path)),
		rego.StoreReadAST(true),
		rego.StrictBuiltinErrors(strict),
		// Results stay OPA terms: result.go reads them without a JSON
		// round trip.
		rego.GenerateJSON(func(t *ast.Term, _ *rego.EvalContext) (any, error) { return t, nil }),
	).PrepareForEval(ctx)
	if err != nil {
		return nil, err
	}
	return &set{name: strings.TrimPrefix(p, "data."), query: pq}, nil
}

// outputQuery is the query of the package at path, built as the parser
// would build
//
//	deny := [d | d := <path>.deny]; warn := [w | w := <path>.warn];
//	require_approval := [a | a := <path>.require_approval]
//
// Parsing it instead cost a namespace's compile a tenth of a millisecond:
// the parser copies OPA's capabilities before it reads a character.
func outputQuery(path ast.Ref) ast.Body {
	collect := func(bind, v, rule string) *ast.Expr {
		elem := ast.Assign.Expr(ast.VarTerm(v), ast.RefTerm(path.Append(ast.StringTerm(rule))...))
		e := ast.Assign.Expr(ast.VarTerm(bind), ast.ArrayComprehensionTerm(ast.VarTerm(v), ast.NewBody(elem)))
		e.Location = &ast.Location{Row: 1, Col: 1, Text: []byte(e.String())}
		elem.Location = e.Location
		return e
	}
	return ast.NewBody(
		collect(bindDeny, "d", "deny"),
		collect(bindWarn, "w", "warn"),
		collect(bindApproval, "a", "require_approval"),
	)
}

// bindingNames are the names a binding may use for the package at path: the
// dotted path ("kubernetes.admission", "shipgate.production") and, directly
// below shipgate, the plain name ("production"). A one-segment package
// ("package production") has no name: a plain name means data.shipgate.<name>.
func bindingNames(path ast.Ref) []string {
	segs := make([]string, 0, len(path)-1)
	for _, t := range path[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			return nil
		}
		segs = append(segs, string(s))
	}
	if len(segs) < 2 {
		return nil
	}
	names := []string{strings.Join(segs, ".")}
	if len(segs) == 2 && segs[0] == "shipgate" {
		names = append(names, segs[1])
	}
	return names
}
