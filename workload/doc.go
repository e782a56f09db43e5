// Package workload reads the pod specs of every workload kind shipgate
// admits and answers the questions the webhooks ask about them: which images
// does this object run, is this request a rollout, an object inherited from an
// admitted rollout, or neither, and what exactly is being rolled out.
//
// Decode turns the object JSON of an AdmissionRequest into an Object: its
// identity, ownerReferences, pod template and containers in spec order.
// ParseImage normalises an image reference the way the container runtime
// does while keeping the tag exactly as written, so "app:latest@sha256:…"
// is still judged as latest. Classify applies the rules of DESIGN.md
// ("Words"): a change to a pod template or its images is a rollout; what a
// controller creates beneath an admitted rollout inherits its decision when
// the controller's own user asks and the owner exists; anything else (a
// scale, a label change, a status update) is neither. CanonicalTemplate and
// Fingerprint identify a rollout so an approval binds to exactly what is
// admitted, whether computed from a manifest ahead of time or from the object
// the API server later sends.
//
// The package is a leaf: it imports no other shipgate package and no
// client-go. Subpackage kube looks owners up in a cluster.
package workload
