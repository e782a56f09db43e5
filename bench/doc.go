// Command bench is shipgate's benchmark harness: a load generator that
// sends AdmissionReviews over HTTPS with keep-alive (HTTP/2, as
// kube-apiserver does) to a `shipgate serve` it builds from this tree and
// starts on loopback, and to the peers it measures shipgate against, in the
// same run and with the same request bytes:
//
//   - a plain OPA server (`opa run --server`, TLS, built from the OPA module
//     version shipgate itself uses) loaded with the same Rego, wrapped the
//     way OPA's Kubernetes admission tutorial does it, as the policy-only
//     baseline for the pod-warm, rollout and mixed scenarios;
//   - the cosign CLI (`cosign verify` and `cosign verify-attestation`, per
//     image) as the cold-path baseline: what a CI script gating on
//     signatures pays per image.
//
// Everything runs on this machine: a real OCI registry (go-containerregistry's
// pkg/registry, in this process, behind a counting handler) holding images
// signed and test-attested in Go before the timed phases, a loopback
// stand-in for the Kubernetes API server that answers the owner, namespace
// and service-account reads shipgate makes in a cluster, and shipgate's own
// SQLite store in a temporary directory.
//
// Each scenario is run closed-loop (C clients, each sending its next request
// when the last is answered) and, where a rate is given, open-loop (requests
// started at a fixed rate R whether or not earlier ones were answered, so
// queueing shows in the latency; latency counts from the scheduled start).
// The harness reports throughput, latency percentiles, errors, the server
// process's CPU seconds and peak RSS (/proc) and its garbage collections
// (its /metrics), registry requests, and its own CPU, as a table and as
// JSON. shipgate runs from a copy of its binary, so that its RSS is that of
// a binary read from disk, not of one the linker has just written.
//
//	go run ./bench                          # the default suite (make bench)
//	go run ./bench -duration 30s -clients 64 -rate 2000
//	go run ./bench -scenarios cold -cold-pool 5000
//	go run ./bench -scenarios memory -memory-digests 100000
package main
