package policy

import "github.com/open-policy-agent/opa/v1/ast"

// An UPDATE's review carries the object twice: object and oldObject. Most
// policies read only the new one, and building the input is the largest
// cost of an evaluation outside OPA's own, so the engine leaves
// input.request.oldObject out of the input when no module of the units
// being evaluated can read it. "Can read" is decided conservatively from
// the compiled modules' references to input (readsOldObject): anything
// that could reach oldObject counts, so a policy that reads it always has
// it, and one that does not cannot tell it is missing.

// oldObjectPath is the member left out: input.request.oldObject.
var oldObjectPath = []string{"request", "oldObject"}

// readsOldObject reports whether any of mods may read
// input.request.oldObject: through a reference that names it, or one that
// takes input or input.request whole (x := input.request; walk(input);
// object.get(input, …); with input as …), or one whose key at either of
// those two levels is not a constant string (input.request[k]).
func readsOldObject(mods map[string]*ast.Module) bool {
	found := false
	var vis *ast.GenericVisitor
	vis = ast.NewGenericVisitor(func(x any) bool {
		if found {
			return true
		}
		switch x := x.(type) {
		case ast.Ref:
			if len(x) == 0 || !x[0].Equal(ast.InputRootDocument) {
				return false // other refs may hold input refs in their keys
			}
			if refReachesOldObject(x) {
				found = true
				return true
			}
			for _, t := range x[1:] { // keys may be refs to input too
				vis.Walk(t)
			}
			return true
		case ast.Var:
			// input outside a reference's head, should the compiler
			// leave one: the whole document.
			if x.Equal(ast.InputRootDocument.Value) {
				found = true
			}
		}
		return false
	})
	for _, m := range mods {
		vis.Walk(m)
		if found {
			return true
		}
	}
	return found
}

// refReachesOldObject reports whether a reference rooted at input may
// reach input.request.oldObject.
func refReachesOldObject(r ast.Ref) bool {
	for i, name := range oldObjectPath {
		if len(r) <= i+1 {
			return true // input, or input.request, taken whole
		}
		s, ok := r[i+1].Value.(ast.String)
		if !ok {
			return true // a key computed at run time
		}
		if string(s) != name {
			return false
		}
	}
	return true
}
