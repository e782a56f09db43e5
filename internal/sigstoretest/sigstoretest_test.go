package sigstoretest_test

import (
	"crypto"
	"crypto/x509"
	"encoding/asn1"
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/cosign/bundle"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"
	"github.com/sigstore/sigstore/pkg/tuf"

	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/internal/sigstoretest"
)

const (
	issuer  = "https://token.actions.example.com"
	subject = "https://git.example.com/team/app/.github/workflows/release.yml@refs/heads/main"
)

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

func rekorKeys(t *testing.T, r *sigstoretest.Rekor) *cosign.TrustedTransparencyLogPubKeys {
	t.Helper()
	keys := cosign.NewTrustedTransparencyLogPubKeys()
	if err := keys.AddTransparencyLogPubKey(r.PublicKeyPEM(t), tuf.Active); err != nil {
		t.Fatal(err)
	}
	return &keys
}

// TestIssueIsFulcioLike checks a leaf the way cosign checks Fulcio's: the
// chain with the code-signing EKU, the identity, both issuer extensions.
func TestIssueIsFulcioLike(t *testing.T) {
	t.Parallel()
	ca, other := sigstoretest.NewCA(t), sigstoretest.NewCA(t)
	for _, sub := range []string{subject, "ci@example.com"} {
		leaf := ca.Issue(t, sigstoretest.Identity{Subject: sub, Issuer: issuer})
		co := &cosign.CheckOpts{
			RootCerts: pool(ca.Root), IntermediateCerts: pool(ca.Intermediate), IgnoreSCT: true,
			Identities: []cosign.Identity{{Subject: sub, Issuer: issuer}},
		}
		if _, err := cosign.ValidateAndUnpackCert(leaf.Cert, co); err != nil {
			t.Errorf("%s: cosign refuses the leaf: %v", sub, err)
		}
		if got := (&cosign.CertExtensions{Cert: leaf.Cert}).GetIssuer(); got != issuer {
			t.Errorf("%s: issuer extension %q, want %q", sub, got, issuer)
		}
		var v2 string
		for _, e := range leaf.Cert.Extensions {
			if e.Id.String() == "1.3.6.1.4.1.57264.1.8" {
				if _, err := asn1.UnmarshalWithParams(e.Value, &v2, "utf8"); err != nil {
					t.Errorf("%s: issuer v2 extension: %v", sub, err)
				}
			}
		}
		if v2 != issuer {
			t.Errorf("%s: issuer v2 extension %q, want %q", sub, v2, issuer)
		}
		co.RootCerts, co.IntermediateCerts = pool(other.Root), pool(other.Intermediate)
		if _, err := cosign.ValidateAndUnpackCert(leaf.Cert, co); err == nil {
			t.Errorf("%s: another CA's roots accept the leaf", sub)
		}
	}
	if roots := string(ca.RootsPEM()); strings.Count(roots, "BEGIN CERTIFICATE") != 2 {
		t.Errorf("RootsPEM holds %d certificates, want root and intermediate", strings.Count(roots, "BEGIN CERTIFICATE"))
	}
}

// TestSignAndAttestImage pushes a keyless signature and attestation with
// a bundle and a timestamp, then has cosign verify them offline.
func TestSignAndAttestImage(t *testing.T) {
	t.Parallel()
	reg := registrytest.New(t)
	ca, rekor, tsa := sigstoretest.NewCA(t), sigstoretest.NewRekor(t), sigstoretest.NewTSA(t)
	_, digest := reg.PushRandom(t, "team/app", "1")
	ref, err := name.NewDigest(reg.Host + "/team/app@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	logged := time.Now().Add(-time.Hour).Truncate(time.Second)
	leaf := ca.Issue(t, sigstoretest.Identity{Subject: subject, Issuer: issuer, NotBefore: logged.Add(-time.Minute)})
	s := leaf.Signing()
	s.Rekor, s.LoggedAt, s.TSA, s.StampedAt = rekor, logged, tsa, logged
	sigstoretest.SignImage(t, ref, s)
	sigstoretest.AttestImage(t, ref, "https://in-toto.io/attestation/test-result/v0.1", []byte(`{"result":"PASSED"}`), s)

	co := func(claims func(sig oci.Signature, h v1.Hash, _ map[string]any) error) *cosign.CheckOpts {
		return &cosign.CheckOpts{
			RootCerts: pool(ca.Root), IgnoreSCT: true, Offline: true, ClaimVerifier: claims,
			Identities:   []cosign.Identity{{Subject: subject, Issuer: issuer}},
			RekorPubKeys: rekorKeys(t, rekor), UseSignedTimestamps: true,
			TSACertificate: tsa.Leaf, TSAIntermediateCertificates: []*x509.Certificate{tsa.Intermediate},
			TSARootCertificates: []*x509.Certificate{tsa.Root},
		}
	}
	sigs, bundled, err := cosign.VerifyImageSignatures(t.Context(), ref, co(cosign.SimpleClaimVerifier))
	if err != nil || !bundled || len(sigs) != 1 {
		t.Fatalf("signature: %d verified, bundle verified %v, error %v", len(sigs), bundled, err)
	}
	atts, bundled, err := cosign.VerifyImageAttestations(t.Context(), ref, co(cosign.IntotoSubjectClaimVerifier))
	if err != nil || !bundled || len(atts) != 1 {
		t.Fatalf("attestation: %d verified, bundle verified %v, error %v", len(atts), bundled, err)
	}
	for what, sig := range map[string]oci.Signature{"signature": sigs[0], "attestation": atts[0]} {
		ts, err := cosign.VerifyRFC3161Timestamp(sig, co(nil))
		if err != nil || ts == nil || !ts.Time.Equal(logged) {
			t.Errorf("%s timestamp %v (%v), want %s", what, ts, err, logged)
		}
		b, _ := sig.Bundle()
		if b == nil || b.Payload.IntegratedTime != logged.Unix() || b.Payload.LogID != rekor.LogID() {
			t.Errorf("%s bundle %+v, want integrated at %d in log %s", what, b, logged.Unix(), rekor.LogID())
		}
	}
}

// TestForeignProofsAreRefused checks the bundle and the timestamp of a
// key signature, then that cosign refuses a bundle from another log, a
// bundle edited after it was signed or made for another signature, and a
// timestamp from another TSA or over other bytes.
func TestForeignProofsAreRefused(t *testing.T) {
	t.Parallel()
	key := sigstoretest.NewKey(t)
	rekor, otherRekor := sigstoretest.NewRekor(t), sigstoretest.NewRekor(t)
	tsa, otherTSA := sigstoretest.NewTSA(t), sigstoretest.NewTSA(t)
	sv, err := signature.LoadSignerVerifier(key, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	sign := func(payload string) []byte {
		sig, err := sv.SignMessage(strings.NewReader(payload))
		if err != nil {
			t.Fatal(err)
		}
		return sig
	}
	pub := sigstoretest.PublicKeyPEM(t, key)
	at := time.Now().Add(-time.Hour).Truncate(time.Second)
	payload, sig := `{"critical":{}}`, sign(`{"critical":{}}`)
	entry := func(r *sigstoretest.Rekor) *bundle.RekorBundle {
		return r.SignatureBundle(t, []byte(payload), sig, pub, at)
	}
	edited := entry(rekor)
	edited.Payload.IntegratedTime++
	other := sign(`{"other":{}}`)

	bundles := map[string]struct {
		payload string
		sig     []byte
		b       *bundle.RekorBundle
		want    string
	}{
		"this log":                 {payload, sig, entry(rekor), ""},
		"another log":              {payload, sig, entry(otherRekor), "rekor log public key not found"},
		"edited after signing":     {payload, sig, edited, "unable to verify SET"},
		"made for other signature": {`{"other":{}}`, other, entry(rekor), "signature in bundle does not match"},
	}
	for name, c := range bundles {
		s, err := static.NewSignature([]byte(c.payload), base64.StdEncoding.EncodeToString(c.sig), static.WithBundle(c.b))
		if err != nil {
			t.Fatal(err)
		}
		ok, err := cosign.VerifyBundle(s, &cosign.CheckOpts{SigVerifier: sv, RekorPubKeys: rekorKeys(t, rekor)})
		switch {
		case c.want == "" && (!ok || err != nil):
			t.Errorf("bundle from %s: verified %v, error %v", name, ok, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("bundle %s: verified %v, error %v, want %q", name, ok, err, c.want)
		}
	}

	stamps := map[string]struct {
		ts   []byte
		want string
	}{
		"this TSA":    {tsa.Timestamp(t, sig, at), ""},
		"another TSA": {otherTSA.Timestamp(t, sig, at), "certificate embedded in the TSR does not match the provided TSA certificate"},
		"other bytes": {tsa.Timestamp(t, []byte(payload), at), "hashed messages don't match"},
	}
	co := &cosign.CheckOpts{
		TSACertificate: tsa.Leaf, TSAIntermediateCertificates: []*x509.Certificate{tsa.Intermediate},
		TSARootCertificates: []*x509.Certificate{tsa.Root},
	}
	for name, c := range stamps {
		s, err := static.NewSignature([]byte(payload), base64.StdEncoding.EncodeToString(sig),
			static.WithRFC3161Timestamp(bundle.TimestampToRFC3161Timestamp(c.ts)))
		if err != nil {
			t.Fatal(err)
		}
		got, err := cosign.VerifyRFC3161Timestamp(s, co)
		switch {
		case c.want == "" && (err != nil || got == nil || !got.Time.Equal(at)):
			t.Errorf("timestamp from %s: %v (%v), want %s", name, got, err, at)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("timestamp %s: error %v, want %q", name, err, c.want)
		}
	}
}
