package cosigntest

import "slices"

// SignArgs is `cosign sign` of image with the key at keyPath, in cosign
// v2's .sig tag layout, uploading nothing to a transparency log.
func SignArgs(keyPath, image string) []string {
	return []string{"sign", "--key", keyPath, "--tlog-upload=false", "--yes", image}
}

// AttestArgs is `cosign attest` of the predicate in predicateFile, of type
// predicateType, to image with the key at keyPath, in cosign v2's .att tag
// layout, uploading nothing to a transparency log.
func AttestArgs(keyPath, predicateType, predicateFile, image string) []string {
	return []string{"attest", "--key", keyPath, "--tlog-upload=false", "--yes",
		"--type", predicateType, "--predicate", predicateFile, image}
}

// VerifyArgs is `cosign verify` of image with the public key at pubPath,
// without a transparency log; trustedRoot is a file such as
// EmptyTrustedRoot, which keeps cosign from fetching one from TUF.
func VerifyArgs(pubPath, trustedRoot, image string) []string {
	return []string{"verify", "--key", pubPath, "--insecure-ignore-tlog=true", "--trusted-root", trustedRoot, image}
}

// VerifyAttestationArgs is `cosign verify-attestation` of image's
// attestations of predicateType, as VerifyArgs verifies signatures.
func VerifyAttestationArgs(pubPath, trustedRoot, predicateType, image string) []string {
	return []string{"verify-attestation", "--key", pubPath, "--insecure-ignore-tlog=true",
		"--trusted-root", trustedRoot, "--type", predicateType, image}
}

// Bundle switches any of the command lines above to cosign v3's layout:
// a Sigstore bundle stored as an OCI 1.1 referrer of the image.
func Bundle(args []string) []string {
	return slices.Insert(slices.Clone(args), 1, "--new-bundle-format")
}
