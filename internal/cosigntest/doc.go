// Package cosigntest drives the real cosign CLI (Version, installed with
// `go install github.com/sigstore/cosign/v2/cmd/cosign@v2.6.5`) from tests,
// offline.
//
// Run gives cosign a HOME, TUF_ROOT, DOCKER_CONFIG and XDG directories of
// its own under t.TempDir(), clears inherited COSIGN_* and SIGSTORE_*
// variables, sets COSIGN_PASSWORD to Password, and points HTTP_PROXY and
// HTTPS_PROXY at a tripwire on loopback: any attempt to reach a public
// Sigstore service or TUF mirror fails at once and fails the test, naming
// the host, instead of hanging. Loopback registries are never proxied.
//
// The command lines below were found to work offline with cosign v2.6.5
// against a go-containerregistry registry on 127.0.0.1 (SignArgs,
// AttestArgs, VerifyArgs and VerifyAttestationArgs build them):
//
//	cosign sign --key cosign.key --tlog-upload=false --yes IMAGE@DIGEST
//	cosign attest --key cosign.key --tlog-upload=false --yes \
//	    --type https://in-toto.io/attestation/test-result/v0.1 --predicate FILE IMAGE@DIGEST
//	cosign verify --key cosign.pub --insecure-ignore-tlog=true --trusted-root EMPTY IMAGE@DIGEST
//	cosign verify-attestation --key cosign.pub --insecure-ignore-tlog=true --trusted-root EMPTY \
//	    --type https://in-toto.io/attestation/test-result/v0.1 IMAGE@DIGEST
//
// sign and attest with a key and --tlog-upload=false make no network call:
// in v2.6.5 --new-bundle-format and --use-signing-config default to false,
// and a trusted root is fetched only for keyless signing or a signing
// config. verify and verify-attestation, though, fetch trusted_root.json
// from TUF unless given --trusted-root (or SIGSTORE_REKOR_PUBLIC_KEY and
// friends), even with --insecure-ignore-tlog; with a key, an empty trusted
// root (EmptyTrustedRoot) is enough. --insecure-ignore-sct is not needed
// with a key.
//
// The cosign v3 layout: v2.6.5 writes it offline with a key when given
// --new-bundle-format (Bundle adds the flag). `sign` and `attest` then push
// a Sigstore bundle v0.3 (JSON, layer and artifact type
// application/vnd.dev.sigstore.bundle.v0.3+json, a DSSE envelope, the key's
// hint as verification material, no tlog entry) as an OCI 1.1 referrer of
// the image: a manifest with a subject, annotated
// dev.sigstore.bundle.predicateType. A signature is itself an in-toto
// statement of predicate type https://sigstore.dev/cosign/sign/v1. Where
// the registry has no referrers API, cosign falls back to the
// sha256-<hex> tag holding an index of those manifests. Verifying needs
// --new-bundle-format (or is switched on when bundles are found) and a
// trusted root; the empty one does with a key.
package cosigntest
