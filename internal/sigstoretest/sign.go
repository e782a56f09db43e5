package sigstoretest

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/sigstore/cosign/v2/pkg/cosign/attestation"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/signature/dsse"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"
)

// Signing says who signs and which proofs of time go with the signature.
// The bundle and the timestamp are made after signing, over the signature
// just made, as cosign does with a Rekor and a TSA.
type Signing struct {
	// Key signs. CertPEM, with ChainPEM (intermediates, then the root), is
	// its certificate for a keyless signature; nil for a key signature.
	Key               crypto.Signer
	CertPEM, ChainPEM []byte
	// Rekor, when set, logs the signature: the result carries its bundle,
	// integrated at LoggedAt (default now).
	Rekor    *Rekor
	LoggedAt time.Time
	// TSA, when set, timestamps the signature at StampedAt (default now).
	TSA       *TSA
	StampedAt time.Time
}

// signerPEM is what cosign uploads to Rekor as the signer: the
// certificate, else the public key.
func (s Signing) signerPEM(t testing.TB) []byte {
	if s.CertPEM != nil {
		return s.CertPEM
	}
	return PublicKeyPEM(t, s.Key)
}

// options are the static.Options for the certificate, bundle and
// timestamp of a signature over signed.
func (s Signing) options(t testing.TB, signed []byte, logEntry func(signerPEM []byte, at time.Time) *bundle.RekorBundle) []static.Option {
	var opts []static.Option
	if s.CertPEM != nil {
		opts = append(opts, static.WithCertChain(s.CertPEM, s.ChainPEM))
	}
	if s.Rekor != nil {
		opts = append(opts, static.WithBundle(logEntry(s.signerPEM(t), orNow(s.LoggedAt))))
	}
	if s.TSA != nil {
		opts = append(opts, static.WithRFC3161Timestamp(bundle.TimestampToRFC3161Timestamp(s.TSA.Timestamp(t, signed, orNow(s.StampedAt)))))
	}
	return opts
}

func orNow(t time.Time) time.Time {
	if t.IsZero() {
		return time.Now()
	}
	return t
}

func (s Signing) signer(t testing.TB) signature.SignerVerifier {
	t.Helper()
	sv, err := signature.LoadSignerVerifier(s.Key, crypto.SHA256)
	if err != nil {
		t.Fatalf("loading the signing key: %v", err)
	}
	return sv
}

// SignImage signs the image ref names as `cosign sign` does (a simple
// signing payload naming the digest) and adds the signature to its
// sha256-<hex>.sig tag, beside any already there.
func SignImage(t testing.TB, ref name.Digest, s Signing) {
	t.Helper()
	payload, err := (&sigpayload.Cosign{Image: ref}).MarshalJSON()
	if err != nil {
		t.Fatalf("making the signing payload: %v", err)
	}
	sig, err := s.signer(t).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("signing %s: %v", ref, err)
	}
	opts := s.options(t, sig, func(signer []byte, at time.Time) *bundle.RekorBundle {
		return s.Rekor.SignatureBundle(t, payload, sig, signer, at)
	})
	ociSig, err := static.NewSignature(payload, base64.StdEncoding.EncodeToString(sig), opts...)
	if err != nil {
		t.Fatalf("making the signature layer: %v", err)
	}
	ociOpts := remoteOptions(t)
	se, err := mutate.AttachSignatureToEntity(ociremote.SignedUnknown(ref, ociOpts...), ociSig)
	if err != nil {
		t.Fatalf("attaching the signature: %v", err)
	}
	if err := ociremote.WriteSignatures(ref.Repository, se, ociOpts...); err != nil {
		t.Fatalf("writing the signature of %s: %v", ref, err)
	}
}

// AttestImage attests predicate, of predicateType, about the image ref
// names, as `cosign attest --type predicateType` does: an in-toto
// statement whose subject is the digest, signed as a DSSE envelope, added
// to its sha256-<hex>.att tag.
func AttestImage(t testing.TB, ref name.Digest, predicateType string, predicate []byte, s Signing) {
	t.Helper()
	envelope := Envelope(t, ref, predicateType, predicate, s.Key)
	logEntry := func(signer []byte, at time.Time) *bundle.RekorBundle {
		return s.Rekor.AttestationBundle(t, envelope, signer, at)
	}
	opts := append(s.options(t, envelope, logEntry),
		static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	att, err := static.NewAttestation(envelope, opts...)
	if err != nil {
		t.Fatalf("making the attestation layer: %v", err)
	}
	ociOpts := remoteOptions(t)
	se, err := mutate.AttachAttestationToEntity(ociremote.SignedUnknown(ref, ociOpts...), att)
	if err != nil {
		t.Fatalf("attaching the attestation: %v", err)
	}
	if err := ociremote.WriteAttestations(ref.Repository, se, ociOpts...); err != nil {
		t.Fatalf("writing the attestation of %s: %v", ref, err)
	}
}

// Envelope is the DSSE envelope `cosign attest` makes: the in-toto
// statement of predicate about ref's digest, signed by key.
func Envelope(t testing.TB, ref name.Digest, predicateType string, predicate []byte, key crypto.Signer) []byte {
	t.Helper()
	h, err := v1.NewHash(ref.DigestStr())
	if err != nil {
		t.Fatalf("reading the digest of %s: %v", ref, err)
	}
	st, err := attestation.GenerateStatement(attestation.GenerateOpts{
		Predicate: bytes.NewReader(predicate),
		Type:      predicateType,
		Digest:    h.Hex,
		Repo:      ref.Repository.String(),
	})
	if err != nil {
		t.Fatalf("making the in-toto statement: %v", err)
	}
	payload, err := json.Marshal(st)
	if err != nil {
		t.Fatalf("encoding the in-toto statement: %v", err)
	}
	envelope, err := dsse.WrapSigner(Signing{Key: key}.signer(t), types.IntotoPayloadType).SignMessage(bytes.NewReader(payload))
	if err != nil {
		t.Fatalf("signing the in-toto statement: %v", err)
	}
	return envelope
}

// remoteOptions bound every registry call to the test's context.
func remoteOptions(t testing.TB) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(remote.WithContext(t.Context()))}
}
