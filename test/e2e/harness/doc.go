// Package harness starts what the e2e suite runs: etcd, kube-apiserver
// (static tokens, RBAC and Node authorization, service account tokens) and
// kube-controller-manager on free loopback ports in a temporary directory;
// Debian's docker-registry on loopback with its own config and storage
// (the package is installed with apt-get when missing), and a second one
// requiring htpasswd basic auth for the pull-secret scenario; shipgate installed
// as the chart installs it, but running on loopback; kubectl as the token
// file's users; and the cosign CLI, offline, for signing and attesting.
// Every process logs to a file in the run's directory; Cluster.Logs shows
// their tails for a failure.
//
// Nothing here is built on the fly except shipgate itself: the control
// plane, kubectl and helm come from the cache scripts/e2e-build.sh fills,
// cosign from `make cosign`, and a missing one is an error that names it.
package harness
