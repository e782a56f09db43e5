// Package kube loads Rego policy from ConfigMaps into a policy.Engine, and
// says on each ConfigMap whether it loaded.
//
// # Which ConfigMaps, whose policy
//
// A ConfigMap labelled shipgate.dev/policy: rego, in any namespace, is
// policy. One in shipgate's own namespace (WithNamespace) is cluster
// policy: its modules are compiled together with the policy directory's
// and with each other, and bindings name their packages as they name the
// directory's. One in any other namespace is that namespace's own policy:
// its modules must be in package shipgate.namespaces.<namespace> (written
// shipgate.namespaces["team-a"] for a name with a dash) or below it, and
// may read no data outside it; they are compiled with the namespace's other
// ConfigMaps, apart from cluster policy, and apply to objects in that
// namespace only. They can add deny, warn and require_approval, never take
// any away (see policy.Engine.Evaluate): a module that declares another
// package, the cluster's included, or reads a cluster rule, is refused.
//
// # Keys
//
// Each key ending in ".rego" is a module; the key is the file name its
// errors report. The keys data.json, data.yaml and data.yml are data
// documents (a JSON or YAML object). A cluster ConfigMap's data is merged
// into data at its root, with the directory's data.json files and the
// other cluster ConfigMaps' (a key set twice is an error). A namespace
// ConfigMap's data is mounted at data.shipgate.namespaces.<namespace>,
// where only that namespace's policy reads it, so a namespace can keep
// its lists (registries, teams) beside its rules without reaching anyone
// else's. Other keys (a README) are left alone; binaryData is not read.
//
// The annotation shipgate.dev/rego-version: v0 parses every module of the
// ConfigMap as Rego v0 (v1 pins v1); without it each module is read as a
// policy file: its own "# shipgate.dev/rego-version:" comment, else v1,
// else v0 when it parses only as v0.
//
// # Hot reload, one ConfigMap at a time
//
// Every change is composed into a new revision that is checked
// (policy.Engine.Check) before the whole is swapped in by one
// Engine.UpdateChanged, which is handed only the namespaces whose
// ConfigMaps changed, so an admission sees the old revision or the new one,
// never a half-built one, and never fails for a change that did not
// compile. A ConfigMap that does not compile, or clashes with the rest
// (the same data key, a rule defined twice), is left out at its latest
// version: the version of it that last loaded stays in force, or none
// when none did. The others load. Compile errors are blamed on the
// ConfigMap whose module they are in; an error that names none is blamed
// on what changed, and a clash on the newer of the two.
//
// # Status
//
// Each policy ConfigMap carries the annotation shipgate.dev/policy-status:
//
//	loaded: namespace revision 0123456789ab
//	error: policy.rego:3: rego_parse_error: unexpected eof token; not in force
//
// (see Status.String). The revision is the one decisions and audit records
// name: for a cluster ConfigMap the cluster's, for a namespace ConfigMap
// what follows "+". Every replica loads every ConfigMap and enforces it;
// only the replica holding the coordination.k8s.io Lease
// shipgate-policy-status in shipgate's namespace writes statuses, with a
// JSON merge patch of that one annotation, only when the ConfigMap does not
// already say it, and only onto the version it describes: one PATCH per
// change, however many replicas and ConfigMaps. A ConfigMap that loses its
// label keeps its last status.
package kube
