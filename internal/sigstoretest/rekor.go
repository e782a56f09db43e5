package sigstoretest

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyberphone/json-canonicalization/go/src/webpki.org/jsoncanonicalizer"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/rekor/pkg/generated/models"
	"github.com/sigstore/rekor/pkg/pki"
	"github.com/sigstore/rekor/pkg/types"
	"github.com/sigstore/rekor/pkg/types/hashedrekord"
	hashedrekordv001 "github.com/sigstore/rekor/pkg/types/hashedrekord/v0.0.1"
	"github.com/sigstore/rekor/pkg/types/intoto"
	intotov001 "github.com/sigstore/rekor/pkg/types/intoto/v0.0.1"
)

// Rekor is a transparency log's signing key and nothing else: it makes the
// entries Rekor would make and signs their signed entry timestamps, so a
// bundle can be checked offline against PublicKeyPEM. Nothing is logged;
// there are no inclusion proofs (cosign v2's offline check does not use
// them).
type Rekor struct {
	key   *ecdsa.PrivateKey
	logID string
	index atomic.Int64
}

// NewRekor makes a log key (ECDSA P-256, as Rekor's).
func NewRekor(t testing.TB) *Rekor {
	t.Helper()
	key := NewKey(t)
	// The log ID is the hex SHA-256 of the key's DER encoding, the key a
	// verifier looks the log up by.
	id, err := cosign.GetTransparencyLogID(key.Public())
	if err != nil {
		t.Fatalf("making the log ID: %v", err)
	}
	return &Rekor{key: key, logID: id}
}

// PublicKeyPEM is the log's public key, as a user configures rekorKey.
func (r *Rekor) PublicKeyPEM(t testing.TB) []byte {
	t.Helper()
	return PublicKeyPEM(t, r.key)
}

// LogID is the hex SHA-256 of the log's DER public key.
func (r *Rekor) LogID() string { return r.logID }

// SignatureBundle is the bundle `cosign sign` attaches to an image
// signature: a hashedrekord v0.0.1 entry of the SHA-256 of payload, the
// raw signature sig, and signerPEM (the certificate, or the public key for
// a key signature), integrated at the given time.
func (r *Rekor) SignatureBundle(t testing.TB, payload, sig, signerPEM []byte, integrated time.Time) *bundle.RekorBundle {
	t.Helper()
	sum := sha256.Sum256(payload)
	pe, err := types.NewProposedEntry(t.Context(), hashedrekord.KIND, hashedrekordv001.APIVERSION, types.ArtifactProperties{
		ArtifactHash:   "sha256:" + hex.EncodeToString(sum[:]),
		SignatureBytes: sig,
		PublicKeyBytes: [][]byte{signerPEM},
		PKIFormat:      string(pki.X509),
	})
	if err != nil {
		t.Fatalf("making a hashedrekord entry: %v", err)
	}
	return r.entry(t, pe, integrated)
}

// AttestationBundle is the bundle `cosign attest` attaches to an
// attestation: an intoto v0.0.1 entry of the DSSE envelope and signerPEM,
// integrated at the given time.
func (r *Rekor) AttestationBundle(t testing.TB, envelope, signerPEM []byte, integrated time.Time) *bundle.RekorBundle {
	t.Helper()
	pe, err := types.NewProposedEntry(t.Context(), intoto.KIND, intotov001.APIVERSION, types.ArtifactProperties{
		ArtifactBytes:  envelope,
		PublicKeyBytes: [][]byte{signerPEM},
	})
	if err != nil {
		t.Fatalf("making an intoto entry: %v", err)
	}
	return r.entry(t, pe, integrated)
}

// entry does what Rekor's server does with a proposed entry: validate it
// (the entry's own signature included), canonicalise it as the log body,
// and sign the signed entry timestamp over the canonical JSON of body,
// integrated time, log index and log ID (cosign.VerifySET's input).
func (r *Rekor) entry(t testing.TB, pe models.ProposedEntry, integrated time.Time) *bundle.RekorBundle {
	t.Helper()
	e, err := types.CreateVersionedEntry(pe)
	if err != nil {
		t.Fatalf("Rekor would refuse the entry: %v", err)
	}
	body, err := types.CanonicalizeEntry(t.Context(), e)
	if err != nil {
		t.Fatalf("canonicalising the entry: %v", err)
	}
	payload := bundle.RekorPayload{
		Body:           base64.StdEncoding.EncodeToString(body),
		IntegratedTime: integrated.Unix(),
		LogIndex:       r.index.Add(1) - 1,
		LogID:          r.logID,
	}
	raw, err := json.Marshal(payload)
	if err != nil {
		t.Fatalf("encoding the entry: %v", err)
	}
	canonical, err := jsoncanonicalizer.Transform(raw)
	if err != nil {
		t.Fatalf("canonicalising the entry: %v", err)
	}
	sum := sha256.Sum256(canonical)
	set, err := ecdsa.SignASN1(rand.Reader, r.key, sum[:])
	if err != nil {
		t.Fatalf("signing the entry timestamp: %v", err)
	}
	return &bundle.RekorBundle{SignedEntryTimestamp: set, Payload: payload}
}
