package policy

import (
	"slices"

	"github.com/open-policy-agent/opa/v1/ast"
)

// networkBuiltins are the built-in functions that do I/O: http.send makes
// any HTTP request, net.lookup_ip_addr asks DNS. Everything else OPA ships
// is computation over its arguments (net.cidr_expand included).
var networkBuiltins = []string{"http.send", "net.lookup_ip_addr"}

// capabilities returns the built-ins policy may call: those of this OPA
// version, without networkBuiltins unless network is true.
func capabilities(network bool) *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	if network {
		return caps
	}
	caps.Builtins = slices.DeleteFunc(caps.Builtins, func(b *ast.Builtin) bool {
		return slices.Contains(networkBuiltins, b.Name)
	})
	caps.AllowNet = []string{} // empty, not nil: no host at all
	return caps
}

// hasBuiltin tells whether caps includes the built-in name.
func hasBuiltin(caps *ast.Capabilities, name string) bool {
	return caps != nil && slices.ContainsFunc(caps.Builtins, func(b *ast.Builtin) bool { return b.Name == name })
}
