// Package e2e runs shipgate behind a real control plane on loopback: etcd,
// kube-apiserver and kube-controller-manager built from their Go modules
// (scripts/e2e-build.sh), kubectl as users run it, and the Helm chart's own
// webhook configurations. Images live in a real registry (Debian's
// docker-registry), pushed with go-containerregistry's crane and signed and
// attested with the real cosign CLI; the trust policy's keys come from a
// Secret shipgate reads through the API. Approvals go through the approval
// API with `shipgate approvals`, authorised by SubjectAccessReview against
// the API server. See harness for how it is started, and TestE2E for the
// scenarios. Run with `make e2e`.
package e2e
