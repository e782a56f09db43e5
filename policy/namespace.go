package policy

import (
	"github.com/open-policy-agent/opa/v1/ast"
)

// namespaceRoot is data.shipgate.namespaces[namespace], the one package
// tree a namespace's policy may declare and read.
func namespaceRoot(namespace string) ast.Ref {
	return ast.Ref{ast.DefaultRootDocument, ast.InternedTerm("shipgate"), ast.InternedTerm("namespaces"), ast.StringTerm(namespace)}
}

// checkNamespace refuses modules of a namespace's policy that declare a
// package outside root, or refer to data outside it (directly, through an
// import, or as the whole of data).
//
// This gives a clear message; it is not the isolation itself. Namespace
// policy is compiled by its own compiler into its own store, where the
// cluster's rules and data do not exist, so a reference outside root could
// only ever be undefined.
func checkNamespace(namespace string, root ast.Ref, mods map[string]*ast.Module) ast.Errors {
	c := &nsChecker{namespace: namespace, root: root}
	for _, m := range mods {
		if !m.Package.Path.HasPrefix(root) {
			c.errs = append(c.errs, ast.NewError(ast.CompileErr, m.Package.Location,
				"package %s is refused: the policy of namespace %s must be in package %s or below it",
				m.Package.Path, namespace, root))
			continue
		}
		for _, imp := range m.Imports {
			ast.NewGenericVisitor(c.visit).Walk(imp.Path)
		}
		for _, r := range m.Rules {
			ast.NewGenericVisitor(c.visit).Walk(r)
		}
	}
	return c.errs
}

type nsChecker struct {
	namespace string
	root      ast.Ref
	errs      ast.Errors
}

// visit flags a data reference outside root and a bare data; it returns
// true to stop the walk below a data reference it handled itself.
func (c *nsChecker) visit(x any) bool {
	t, ok := x.(*ast.Term)
	if !ok {
		return false
	}
	switch v := t.Value.(type) {
	case ast.Ref:
		if !v[0].Equal(ast.DefaultRootDocument) {
			return false
		}
		if !v.HasPrefix(c.root) {
			c.errs = append(c.errs, ast.NewError(ast.CompileErr, t.Location,
				"%s is refused: the policy of namespace %s may read only data below %s", v, c.namespace, c.root))
		}
		for _, p := range v[1:] { // dynamic parts: data.x[input.y]
			ast.NewGenericVisitor(c.visit).Walk(p)
		}
		return true
	case ast.Var:
		if t.Equal(ast.DefaultRootDocument) {
			c.errs = append(c.errs, ast.NewError(ast.CompileErr, t.Location,
				"data is refused: the policy of namespace %s may read only data below %s", c.namespace, c.root))
		}
	}
	return false
}
