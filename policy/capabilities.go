package policy

import (
	"slices"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// networkBuiltins are the built-in functions that do I/O: http.send makes
// any HTTP request, net.lookup_ip_addr asks DNS. Everything else OPA ships
// is computation over its arguments (net.cidr_expand included).
var networkBuiltins = []string{"http.send", "net.lookup_ip_addr"}

// capabilities returns the built-ins policy may call: those of this OPA
// version, without networkBuiltins unless network is true. With network,
// hosts (when not nil) are the only hosts they may reach.
func capabilities(network bool, hosts []string) *ast.Capabilities {
	caps := ast.CapabilitiesForThisVersion()
	if network {
		if hosts != nil {
			caps.AllowNet = slices.Clone(hosts)
		}
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

// forModules returns caps cut down to the built-ins mods can call: those
// they name, the operators and OPA's internal built-ins (which the parser
// and compiler write into rules: "in", print, template strings).
//
// Each compiler builds a type environment over every built-in it is
// given, about 200 of them, and keeps it as long as its prepared query
// lives. For a namespace's policy of a few rules that was most of the cost
// of compiling it and of the memory it holds; BenchmarkReload1000Namespaces
// in policy/kube measures both. A name the modules use that caps lacks is
// still missing, so errors are those of caps itself.
func forModules(caps *ast.Capabilities, mods map[string]*ast.Module) *ast.Capabilities {
	named := map[string]bool{}
	for _, m := range mods {
		ast.WalkRefs(m, func(r ast.Ref) bool {
			// A call names its built-in by a ref of a var and strings
			// (strings.replace_n); a longer ref may start with one.
			for i := 1; i <= len(r); i++ {
				s, ok := refName(r[:i])
				if !ok {
					break
				}
				named[s] = true
			}
			return false
		})
	}
	out := *caps
	out.Builtins = make([]*ast.Builtin, 0, 32+len(named))
	for _, b := range caps.Builtins {
		if named[b.Name] || b.Infix != "" || strings.HasPrefix(b.Name, "internal.") {
			out.Builtins = append(out.Builtins, b)
		}
	}
	return &out
}

// refName is the dotted name of a ref of a var followed by strings.
func refName(r ast.Ref) (string, bool) {
	v, ok := r[0].Value.(ast.Var)
	if !ok {
		return "", false
	}
	if len(r) == 1 {
		return string(v), true
	}
	var sb strings.Builder
	sb.WriteString(string(v))
	for _, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			return "", false
		}
		sb.WriteByte('.')
		sb.WriteString(string(s))
	}
	return sb.String(), true
}
