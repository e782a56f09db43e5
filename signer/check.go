package signer

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// checked is what verifying one signature with one authority established.
type checked struct {
	signer      Signer
	trustedTime *time.Time
}

// verifyFunc is cosign's per-signature verification: of an image
// signature, or of an attestation.
type verifyFunc func(ctx context.Context, sig oci.Signature, h v1.Hash, co *cosign.CheckOpts) (bool, error)

func verifySignature(ctx context.Context, sig oci.Signature, h v1.Hash, co *cosign.CheckOpts) (bool, error) {
	return cosign.VerifyImageSignature(ctx, sig, h, co)
}

func verifyAttestation(ctx context.Context, sig oci.Signature, h v1.Hash, co *cosign.CheckOpts) (bool, error) {
	return cosign.VerifyBlobAttestation(ctx, sig, h, co)
}

// check verifies sig, bound to the digest h, with authority a: offline,
// against the authority's own keys, roots and transparency log key only.
func (a *authority) check(ctx context.Context, sig oci.Signature, h v1.Hash, verify verifyFunc, claims func(oci.Signature, v1.Hash, map[string]any) error) (checked, error) {
	co := &cosign.CheckOpts{
		ClaimVerifier: claims,
		IgnoreSCT:     true, // no certificate transparency log is configured
		IgnoreTlog:    true,
		Offline:       true,
	}
	if a.verifier != nil {
		co.SigVerifier = a.verifier
	} else {
		co.RootCerts = a.roots
		co.IntermediateCerts = a.intermediatesFor(sig)
		co.Identities = []cosign.Identity{a.identity}
	}
	bundle, err := sig.Bundle()
	if err != nil {
		return checked{}, fmt.Errorf("reading the transparency log entry: %w", err)
	}
	switch {
	case bundle != nil && a.rekor != nil:
		co.IgnoreTlog, co.RekorPubKeys = false, a.rekor
	case a.requireTlog:
		return checked{}, errors.New("the signature has no transparency log entry, which this authority requires")
	}
	ts, err := sig.RFC3161Timestamp()
	if err != nil {
		return checked{}, fmt.Errorf("reading the RFC 3161 timestamp: %w", err)
	}
	if ts != nil && a.tsaLeaf != nil {
		co.UseSignedTimestamps = true
		co.TSACertificate, co.TSAIntermediateCertificates, co.TSARootCertificates = a.tsaLeaf, a.tsaInter, a.tsaRoots
	}
	if _, err := verify(ctx, sig, h, co); err != nil {
		return checked{}, err
	}
	out := checked{signer: Signer{Name: a.name, KeyID: a.keyID}}
	if a.verifier == nil {
		if cert, err := sig.Cert(); err == nil && cert != nil {
			out.signer.Subject = strings.Join(cryptoutils.GetSubjectAlternateNames(cert), ",")
			out.signer.Issuer = (&cosign.CertExtensions{Cert: cert}).GetIssuer()
		}
	}
	// Trusted time, now that the checks above accepted its source.
	if !co.IgnoreTlog {
		t := time.Unix(bundle.Payload.IntegratedTime, 0).UTC()
		out.trustedTime = &t
	}
	if co.UseSignedTimestamps {
		if stamp, err := cosign.VerifyRFC3161Timestamp(sig, co); err == nil && stamp != nil {
			t := stamp.Time.UTC()
			if out.trustedTime == nil || t.Before(*out.trustedTime) {
				out.trustedTime = &t
			}
		}
	}
	if a.verifier == nil {
		at := time.Now()
		if out.trustedTime != nil {
			at = *out.trustedTime
		}
		if err := a.intermediatesValidAt(sig, at); err != nil {
			return checked{}, err
		}
	}
	return out, nil
}

// intermediatesValidAt checks that every intermediate certificate between
// a keyless signature's certificate and the authority's roots was valid
// when the signature was made (its trusted time) or, without one, now.
// cosign checks the signing certificate's own validity but, when the
// transparency log is not consulted, not the intermediates' (GO-2026-4529).
func (a *authority) intermediatesValidAt(sig oci.Signature, at time.Time) error {
	cert, err := sig.Cert()
	if err != nil || cert == nil {
		return err
	}
	chains, err := cosign.TrustedCert(cert, a.roots, a.intermediatesFor(sig))
	if err != nil {
		return err
	}
	for _, chain := range chains {
		ok := true
		for _, c := range chain[1 : len(chain)-1] {
			if at.Before(c.NotBefore) || at.After(c.NotAfter) {
				ok = false
				break
			}
		}
		if ok {
			return nil
		}
	}
	return fmt.Errorf("an intermediate certificate of the signing certificate was not valid at %s", at.UTC().Format(time.RFC3339))
}

// plainError turns cosign's error for a signature that does not verify
// into words a deployer can act on.
func plainError(err error) string {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "unable to verify RFC3161 timestamp"):
		return "the RFC 3161 timestamp does not verify against this authority's timestampAuthorities"
	case strings.Contains(msg, "rekor log public key not found"), strings.Contains(msg, "unable to verify SET"):
		return "the transparency log entry is not signed by this authority's rekorKey"
	case strings.Contains(msg, "invalid signature when validating ASN.1 encoded signature"),
		strings.Contains(msg, "failed to verify signature"),
		strings.Contains(msg, "verification error"),
		strings.Contains(msg, "accepted signatures do not match threshold"):
		return "no signature verifies with its key"
	case strings.Contains(msg, "expected a signed timestamp to verify an expired certificate"):
		return "the signing certificate has expired and the signature carries no trusted timestamp"
	case strings.Contains(msg, "none of the expected identities matched"):
		return "the certificate's identity (subject or issuer) is not the one this authority expects"
	case strings.Contains(msg, "certificate signed by unknown authority"):
		return "the signing certificate does not chain to this authority's roots"
	}
	return msg
}

// intermediatesFor is the configured intermediates plus the chain stored
// beside the signature's certificate: both are only hints, since the chain
// must still end at one of the authority's roots.
func (a *authority) intermediatesFor(sig oci.Signature) *x509.CertPool {
	pool := a.intermediates.Clone()
	if chain, err := sig.Chain(); err == nil && len(chain) > 1 {
		for _, c := range chain[:len(chain)-1] {
			pool.AddCert(c)
		}
	}
	return pool
}
