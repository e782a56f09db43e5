// Package policy evaluates the Rego policies bound to a namespace with an
// embedded OPA, and answers deny, warn and require_approval for one
// admission request.
//
// Policy comes in Bundles: Rego modules and data documents, read from a
// directory by LoadDir or built in memory (the ConfigMap source fills one
// per ConfigMap set). An Engine compiles one Bundle of cluster policy and one
// Bundle per namespace that has its own policy, and prepares one OPA query
// per policy set up front: compile once, evaluate many. Update compiles a new
// revision completely before swapping it in with one atomic pointer store,
// so an evaluation sees either the old revision or the new one, never a mix
// and never a half-built one. Check compiles a bundle without putting it
// in force, so a source that assembles policy from many parts (policy/kube
// and its ConfigMaps) can leave a broken part out before it calls Update;
// Update then takes what Check compiled instead of compiling it again.
// UpdateChanged is Update for a source that knows which namespaces
// changed: the others keep their compiled policy unread, so one change
// among a thousand namespaces costs one namespace's compile.
//
// # Policy sets
//
// A binding in GatewayConfig names policy sets. A plain name ("production")
// is the package data.shipgate.production; a dotted name
// ("kubernetes.admission") is that package as written, so policies written
// for OPA's Kubernetes admission tutorial bind without renaming. From each
// set the engine reads three rules, and only these:
//
//   - deny: a set (or array) of strings or {"msg", "code"} objects; a bare
//     string, object or true is taken as one message;
//   - warn: the same shape as deny;
//   - require_approval: an object {"approvers": n, "groups": [...],
//     "reason": "..."} or a set of such objects. Each requirement must be met
//     on its own (one person may satisfy several).
//
// A value of any other shape is an evaluation error, never silently ignored.
//
// # Namespace policy tightens only
//
// A namespace's own modules must declare package
// shipgate.namespaces.<namespace> (or a package below it), written
// shipgate.namespaces["team-a"] when the name is not a Rego identifier, and
// may read no data outside it. They are compiled by their own compiler into
// their own store, so the cluster's rules do not exist for them: they can
// neither read nor redefine them. Their deny, warn and require_approval are
// appended to the cluster's; nothing a namespace writes is subtracted from
// anything (see Evaluate).
//
// # Rego versions
//
// Modules are Rego v1 unless a comment line "# shipgate.dev/rego-version: v0"
// among the comment lines before the package statement says v0 (the same
// key the ConfigMap annotation uses; "v1" may be written to pin v1). A module
// with no marker that does not parse as v1 but does parse as v0 is loaded as
// v0, so a tutorial-era policy runs unmodified. v0 and v1 modules compile
// side by side in one compiler.
//
// # No network
//
// Built-in functions that do I/O (http.send, net.lookup_ip_addr) are
// removed from the compiler's capabilities: a policy that calls one fails
// to compile, unless the engine is built WithNetworkBuiltins. Facts that
// need the network (signatures, attestations, digests) are gathered in Go
// before evaluation and passed in the input (see docs/policy-input.md).
package policy
