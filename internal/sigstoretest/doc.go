// Package sigstoretest is Sigstore in a test, in process and offline: a
// Fulcio-like certificate authority, a Rekor-like transparency log that
// only signs entries (no log, no server), and an RFC 3161 timestamp
// authority, each with keys made for the test. It also signs and attests
// images in a registry the way cosign v2 does, with cosign's own packages,
// so what a test pushes is exactly what `cosign sign` and `cosign attest`
// would have pushed with those services.
//
//   - NewCA issues short-lived code-signing certificates the way Fulcio
//     does: the identity (an email address or a URI) as the subject
//     alternative name, the OIDC issuer in both issuer extensions
//     (1.3.6.1.4.1.57264.1.1, raw, which cosign reads, and
//     1.3.6.1.4.1.57264.1.8, DER), chained root → intermediate → leaf.
//   - NewRekor makes log entries as Rekor's server does (hashedrekord
//     v0.0.1 for signatures, intoto v0.0.1 for attestations, as cosign v2
//     uploads them; canonicalised by rekor's own types) and a signed entry
//     timestamp over them: the offline bundle cosign.VerifyBundle checks
//     against the log's public key.
//   - NewTSA answers timestamp requests as sigstore's timestamp-authority
//     does (digitorus/timestamp, leaf certificate embedded, critical
//     timeStamping EKU), over what cosign timestamps: the raw signature of
//     an image signature, the DSSE envelope of an attestation.
//   - SignImage and AttestImage put a signature or an attestation, with
//     its certificate, bundle and timestamp as Signing says, on cosign v2's
//     sha256-<hex>.sig or .att tag.
//
// Times are chosen by the test (Identity.NotAfter, Signing.LoggedAt,
// Signing.StampedAt), so expired certificates and old entries are made,
// not waited for.
package sigstoretest
