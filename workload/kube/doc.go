// Package kube looks up workload owners in a Kubernetes cluster with
// client-go, for workload.Classify: an object inherits its rollout's
// decision only when the owner its ownerReferences name still exists.
package kube
