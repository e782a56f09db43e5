package policy

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Sentinel errors, for errors.Is.
var (
	// ErrUnknownSet is returned by Evaluate for a policy set no module of
	// cluster policy declares. The caller fails closed: a binding that
	// names a missing set must not admit everything.
	ErrUnknownSet = errors.New("unknown policy set")
	// ErrOutput is returned by Evaluate when deny, warn or require_approval
	// has a shape the contract does not allow.
	ErrOutput = errors.New("policy output has the wrong shape")
)

// CompileError is a Bundle that did not parse or compile. Every error
// carries the module (file) name and the line.
type CompileError struct {
	// Namespace is the namespace whose own policy failed; "" for cluster
	// policy.
	Namespace string
	Errors    []ErrorAt
}

// ErrorAt is one compile error at a place in a module.
type ErrorAt struct {
	File    string
	Line    int
	Message string
}

// String is "file:line: message", or the message alone when OPA gave no
// place.
func (e ErrorAt) String() string {
	if e.File == "" {
		return e.Message
	}
	return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Message)
}

func (e *CompileError) Error() string {
	var b strings.Builder
	if e.Namespace != "" {
		fmt.Fprintf(&b, "compiling policy of namespace %s: ", e.Namespace)
	} else {
		b.WriteString("compiling policy: ")
	}
	for i, x := range e.Errors {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(x.String())
	}
	return b.String()
}

// compileError turns OPA errors into a CompileError.
func compileError(errs ast.Errors, caps *ast.Capabilities) *CompileError {
	ce := &CompileError{}
	for _, e := range errs {
		at := ErrorAt{Message: e.Code + ": " + e.Message}
		if e.Location != nil {
			at.File, at.Line = e.Location.File, e.Location.Row
		}
		for _, name := range networkBuiltins {
			if strings.Contains(e.Message, "undefined function "+name) && !hasBuiltin(caps, name) {
				at.Message += " (built-ins that do network I/O are disabled in shipgate policy: facts from the network are passed in input.shipgate)"
			}
		}
		ce.Errors = append(ce.Errors, at)
	}
	return ce
}

// NamespaceErrors is returned by Update when only namespace bundles failed
// to compile: the rest of the update was swapped in, and each failed
// namespace kept its previous policy (or, when it had none, fails every
// evaluation until it compiles). Keys are namespaces.
type NamespaceErrors map[string]error

func (n NamespaceErrors) Error() string {
	var b strings.Builder
	for i, ns := range slices.Sorted(maps.Keys(n)) {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n[ns].Error())
	}
	return b.String()
}
