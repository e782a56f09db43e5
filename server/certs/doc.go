// Package certs provides the serving certificate of shipgate's admission
// webhook.
//
// GenerateSelfSigned writes a private CA and a serving certificate signed by
// it, for clusters without cert-manager and for local runs; it keeps files
// that are still good so that a restart does not change the CA bundle
// registered in the ValidatingWebhookConfiguration. Generate does the same in
// memory.
//
// Reloader serves a certificate pair from disk and swaps it without a restart
// when the files change, whether they are replaced by a rename or by the
// `..data` symlink swap of a Kubernetes Secret volume. A broken new pair is
// reported and the current one keeps being served. TLSConfig builds the
// server's tls.Config around Reloader.GetCertificate.
package certs
