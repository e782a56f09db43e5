package sigstoretest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// Fulcio's OIDC issuer extensions. oidIssuerV1 holds the issuer's raw
// bytes and is what cosign v2 reads; oidIssuerV2 holds it DER-encoded as a
// UTF8String. Fulcio writes both.
var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// caLifetime is how long the test CAs are valid either side of now: a
// chain is checked at the leaf's NotBefore, so it must cover any time a
// test backdates a leaf to.
const caLifetime = 365 * 24 * time.Hour

// leafLifetime is a Fulcio certificate's: ten minutes.
const leafLifetime = 10 * time.Minute

// CA is a Fulcio-like certificate authority: a self-signed root and an
// intermediate, ECDSA P-256.
type CA struct {
	Root, Intermediate *x509.Certificate
	interKey           *ecdsa.PrivateKey
}

// Identity is what a Fulcio certificate says about its holder.
type Identity struct {
	// Subject is the subject alternative name: an email address, or a URI
	// (a CI workflow's identity) when it contains "://".
	Subject string
	// Issuer is the OIDC issuer that vouched for Subject.
	Issuer string
	// NotBefore defaults to a minute ago; NotAfter to ten minutes after
	// NotBefore, Fulcio's lifetime.
	NotBefore, NotAfter time.Time
}

// Leaf is an issued certificate and its private key.
type Leaf struct {
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
	// CertPEM is the certificate; ChainPEM is the intermediate then the
	// root, as cosign stores them beside a signature.
	CertPEM, ChainPEM []byte
}

// Signing is Signing{Key, CertPEM, ChainPEM}: a signature by this leaf,
// with no transparency log entry and no timestamp.
func (l *Leaf) Signing() Signing {
	return Signing{Key: l.Key, CertPEM: l.CertPEM, ChainPEM: l.ChainPEM}
}

// NewCA makes a root and an intermediate, valid a year either side of now.
func NewCA(t testing.TB) *CA {
	t.Helper()
	return NewCAWithIntermediateUntil(t, time.Now().Add(caLifetime))
}

// NewCAWithIntermediateUntil is NewCA with an intermediate that expires at
// notAfter (the root still valid a year either side of now).
func NewCAWithIntermediateUntil(t testing.TB, notAfter time.Time) *CA {
	t.Helper()
	now := time.Now()
	rootKey, interKey := NewKey(t), NewKey(t)
	name := "sigstoretest " + cryptoutils.GenerateRandomURLSafeString(8)
	root := issue(t, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"sigstoretest"}, CommonName: name + " root"},
		NotBefore:             now.Add(-caLifetime),
		NotAfter:              now.Add(caLifetime),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}, nil, rootKey, rootKey)
	inter := issue(t, &x509.Certificate{
		Subject:               pkix.Name{Organization: []string{"sigstoretest"}, CommonName: name + " intermediate"},
		NotBefore:             now.Add(-caLifetime),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, root, interKey, rootKey)
	return &CA{Root: root, Intermediate: inter, interKey: interKey}
}

// RootsPEM is the root then the intermediate, as a user configures a
// keyless authority's roots.
func (ca *CA) RootsPEM() []byte {
	return mustPEM(ca.Root, ca.Intermediate)
}

// RootPEM is the root alone: intermediates then come from the chain
// stored beside each signature.
func (ca *CA) RootPEM() []byte {
	return mustPEM(ca.Root)
}

// Issue makes a code-signing certificate for id, signed by the
// intermediate, with a new key.
func (ca *CA) Issue(t testing.TB, id Identity) *Leaf {
	t.Helper()
	if id.NotBefore.IsZero() {
		id.NotBefore = time.Now().Add(-time.Minute)
	}
	if id.NotAfter.IsZero() {
		id.NotAfter = id.NotBefore.Add(leafLifetime)
	}
	v2, err := asn1.MarshalWithParams(id.Issuer, "utf8")
	if err != nil {
		t.Fatalf("encoding issuer %q: %v", id.Issuer, err)
	}
	// No subject name: Fulcio leaves it empty, which makes Go mark the
	// SAN extension critical, as Fulcio's is.
	tmpl := &x509.Certificate{
		NotBefore:   id.NotBefore,
		NotAfter:    id.NotAfter,
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(id.Issuer)},
			{Id: oidIssuerV2, Value: v2},
		},
	}
	if strings.Contains(id.Subject, "://") {
		u, err := url.Parse(id.Subject)
		if err != nil {
			t.Fatalf("parsing subject %q: %v", id.Subject, err)
		}
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{id.Subject}
	}
	key := NewKey(t)
	cert := issue(t, tmpl, ca.Intermediate, key, ca.interKey)
	return &Leaf{Key: key, Cert: cert, CertPEM: mustPEM(cert), ChainPEM: mustPEM(ca.Intermediate, ca.Root)}
}

// NewKey makes an ECDSA P-256 key, the kind cosign and Fulcio use.
func NewKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("generating a key: %v", err)
	}
	return k
}

// PublicKeyPEM is the PEM "PUBLIC KEY" of key's public half, as in a
// cosign.pub file.
func PublicKeyPEM(t testing.TB, key crypto.Signer) []byte {
	t.Helper()
	b, err := cryptoutils.MarshalPublicKeyToPEM(key.Public())
	if err != nil {
		t.Fatalf("encoding a public key: %v", err)
	}
	return b
}

// issue signs tmpl with parentKey as parent (itself when parent is nil)
// and returns the parsed certificate.
func issue(t testing.TB, tmpl, parent *x509.Certificate, key, parentKey *ecdsa.PrivateKey) *x509.Certificate {
	t.Helper()
	serial, err := cryptoutils.GenerateSerialNumber()
	if err != nil {
		t.Fatalf("making a serial number: %v", err)
	}
	tmpl.SerialNumber = serial
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), parentKey)
	if err != nil {
		t.Fatalf("issuing a certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatalf("parsing the certificate just issued: %v", err)
	}
	return cert
}

// mustPEM encodes certificates the way cosign does. Encoding a parsed
// certificate cannot fail.
func mustPEM(certs ...*x509.Certificate) []byte {
	b, err := cryptoutils.MarshalCertificatesToPEM(certs)
	if err != nil {
		panic(err)
	}
	return b
}
