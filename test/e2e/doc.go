// Package e2e runs shipgate behind a real control plane on loopback: etcd,
// kube-apiserver and kube-controller-manager built from their Go modules
// (scripts/e2e-build.sh), kubectl as users run it, and the Helm chart's own
// webhook configurations. See harness for how it is started, and
// TestE2E for the scenarios. Run with `make e2e`.
package e2e
