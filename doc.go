// Package shipgate is the admission gate for Kubernetes rollouts. The code
// lives in the packages below this one (see README.md); this package holds
// only the test that guards the import arrows between them.
package shipgate
