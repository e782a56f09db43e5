package sigstoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// oidExtKeyUsage is the extended key usage extension; oidTimeStamping its
// id-kp-timeStamping purpose. RFC 3161 §2.3 wants the extension critical,
// which Go's x509 does not write by itself.
var (
	oidExtKeyUsage  = asn1.ObjectIdentifier{2, 5, 29, 37}
	oidTimeStamping = asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
)

// tsaPolicy is the policy sigstore's timestamp-authority answers under by
// default.
var tsaPolicy = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 2}

// TSA is an RFC 3161 timestamp authority: a root, an intermediate and a
// timestamping leaf, ECDSA P-256.
type TSA struct {
	Root, Intermediate, Leaf *x509.Certificate
	leafKey                  *ecdsa.PrivateKey
}

// NewTSA makes a timestamp authority valid a year either side of now.
func NewTSA(t testing.TB) *TSA {
	t.Helper()
	now := time.Now()
	rootKey, interKey, leafKey := NewKey(t), NewKey(t), NewKey(t)
	name := "sigstoretest TSA " + cryptoutils.GenerateRandomURLSafeString(8)
	ca := func(cn string) *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{Organization: []string{"sigstoretest"}, CommonName: cn},
			NotBefore:             now.Add(-caLifetime),
			NotAfter:              now.Add(caLifetime),
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
		}
	}
	root := issue(t, ca(name+" root"), nil, rootKey, rootKey)
	interTmpl := ca(name + " intermediate")
	interTmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageTimeStamping}
	inter := issue(t, interTmpl, root, interKey, rootKey)
	eku, err := asn1.Marshal([]asn1.ObjectIdentifier{oidTimeStamping})
	if err != nil {
		t.Fatalf("encoding the timestamping EKU: %v", err)
	}
	leaf := issue(t, &x509.Certificate{
		Subject:         pkix.Name{Organization: []string{"sigstoretest"}, CommonName: name},
		NotBefore:       now.Add(-caLifetime),
		NotAfter:        now.Add(caLifetime),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtraExtensions: []pkix.Extension{{Id: oidExtKeyUsage, Critical: true, Value: eku}},
	}, inter, leafKey, interKey)
	return &TSA{Root: root, Intermediate: inter, Leaf: leaf, leafKey: leafKey}
}

// ChainPEM is the leaf, the intermediate and the root, as a user
// configures timestampAuthorities.
func (a *TSA) ChainPEM() []byte {
	return mustPEM(a.Leaf, a.Intermediate, a.Root)
}

// Timestamp is the DER timestamp response the authority gives, at the
// given time, over signed: the raw signature bytes of an image signature,
// or the DSSE envelope of an attestation, which is what cosign sends a TSA
// and what cosign.VerifyRFC3161Timestamp hashes. As with cosign's
// requests, the leaf certificate is embedded and a nonce is set.
func (a *TSA) Timestamp(t testing.TB, signed []byte, at time.Time) []byte {
	t.Helper()
	nonce, err := cryptoutils.GenerateSerialNumber()
	if err != nil {
		t.Fatalf("making a nonce: %v", err)
	}
	sum := sha256.Sum256(signed)
	ts := timestamp.Timestamp{
		HashAlgorithm:     crypto.SHA256,
		HashedMessage:     sum[:],
		Time:              at.UTC(),
		Nonce:             nonce,
		Policy:            tsaPolicy,
		Accuracy:          time.Second,
		AddTSACertificate: true,
	}
	resp, err := ts.CreateResponseWithOpts(a.Leaf, a.leafKey, crypto.SHA256)
	if err != nil {
		t.Fatalf("making a timestamp response: %v", err)
	}
	return resp
}
