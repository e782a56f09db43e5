// Package signer decides whether an image may run: it resolves references
// to digests, verifies cosign signatures and in-toto attestations against
// the trust policies of the configuration, caches what it verified, and
// builds and attaches test-result evidence.
package signer
