// Package signedtest gives tests outside package signer images that are
// signed and test-attested the way CI would do it, in a loopback registry,
// with the trust section of a GatewayConfig that trusts them.
package signedtest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"

	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/signer"
)

// Images is a loopback registry and the keys that sign (release) and
// attest test results (ci) for its images.
type Images struct {
	Registry *registrytest.Registry
	release  signature.SignerVerifier
	ci       signature.SignerVerifier
}

// New starts a registry and makes the two keys.
func New(t testing.TB) *Images {
	t.Helper()
	return &Images{Registry: registrytest.New(t), release: newKey(t), ci: newKey(t)}
}

func newKey(t testing.TB) signature.SignerVerifier {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sv, err := signature.LoadECDSASignerVerifier(k, crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return sv
}

// Push pushes a random image as repo:tag, signs it with the release key
// and attests a test result (signer.TestsPassed, TestsFailed, …) with the
// ci key. It returns the reference by tag and the digest.
func (s *Images) Push(t testing.TB, repo, tag, result string) (ref, digest string) {
	t.Helper()
	ref, digest = s.Registry.PushRandom(t, repo, tag)
	s.Sign(t, ref)
	if result != "" {
		tr := signer.TestResult{Result: result, Configuration: []signer.ResourceDescriptor{}, PassedTests: []string{"TestServes"}}
		if result != signer.TestsPassed {
			tr.PassedTests, tr.FailedTests = nil, []string{"TestServes"}
		}
		predicate, err := json.Marshal(tr)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := signer.Attest(t.Context(), parse(t, ref), signer.TestResultPredicateType, predicate, s.ci); err != nil {
			t.Fatal(err)
		}
	}
	return ref, digest
}

// Sign signs ref with the release key only.
func (s *Images) Sign(t testing.TB, ref string) {
	t.Helper()
	if _, err := signer.Sign(t.Context(), parse(t, ref), s.release); err != nil {
		t.Fatal(err)
	}
}

func parse(t testing.TB, ref string) name.Reference {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// TrustYAML is a GatewayConfig "trust:" section with one trust policy,
// named policy, trusting this registry's images signed by release and
// test-attested by ci.
func (s *Images) TrustYAML(t testing.TB, policy string) string {
	t.Helper()
	return fmt.Sprintf(`trust:
- name: %s
  images: ["%s/**"]
  signatures:
    authorities:
    - name: release
      key:
        data: |
%s
  attestations:
  - predicateType: %s
    authorities:
    - name: ci
      key:
        data: |
%s
`, policy, s.Registry.Host, indent(pem(t, s.release), 10), signer.TestResultPredicateType, indent(pem(t, s.ci), 10))
}

func pem(t testing.TB, sv signature.SignerVerifier) string {
	t.Helper()
	pub, err := sv.PublicKey()
	if err != nil {
		t.Fatal(err)
	}
	b, err := cryptoutils.MarshalPublicKeyToPEM(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func indent(s string, n int) string {
	pad := strings.Repeat(" ", n)
	return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
}
