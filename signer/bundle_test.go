package signer_test

import (
	"cmp"
	"encoding/json"
	encpem "encoding/pem"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/internal/sigstoretest"
	"github.com/shipgate/shipgate/signer"
)

// signBundle is `cosign sign --new-bundle-format`: a Sigstore bundle
// stored as an OCI 1.1 referrer of image.
func (f *fixture) signBundle(t *testing.T, k keyPair, image string) {
	t.Helper()
	if _, _, err := cosigntest.Run(t, cosigntest.Bundle(cosigntest.SignArgs(k.key, image))...); err != nil {
		t.Fatal(err)
	}
}

// attestTestsBundle is attestTests in cosign v3's layout.
func (f *fixture) attestTestsBundle(t *testing.T, k keyPair, image, result string, failed ...string) {
	t.Helper()
	tr := signer.TestResult{Result: result, Configuration: []signer.ResourceDescriptor{}, PassedTests: []string{"TestOK"}, FailedTests: failed}
	b, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "predicate.json")
	if err := os.WriteFile(file, b, 0o644); err != nil {
		t.Fatal(err)
	}
	args := cosigntest.Bundle(cosigntest.AttestArgs(k.key, signer.TestResultPredicateType, file, image))
	if _, _, err := cosigntest.Run(t, args...); err != nil {
		t.Fatal(err)
	}
}

// TestBundleLayout verifies what cosign signs and attests with
// --new-bundle-format (cosign v3's layout), through the referrers API and
// through the referrers tag of a registry without it, alone and beside
// cosign v2's .sig/.att tags.
func TestBundleLayout(t *testing.T) {
	t.Parallel()
	for _, registry := range []struct {
		name string
		opts []registrytest.Option
	}{
		{"referrers API", nil},
		{"referrers tag", []registrytest.Option{registrytest.WithoutReferrers()}},
	} {
		t.Run(registry.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			f.reg = registrytest.New(t, registry.opts...)
			v := signer.New(verification(nil), compile(t, f.trustConfig(t)))
			cases := map[string]struct {
				sign   func(t *testing.T, ref string)
				attest func(t *testing.T, ref string)
				want   string // "" for verified
			}{
				"signed and attested in bundles": {
					sign:   func(t *testing.T, ref string) { f.signBundle(t, f.release, ref) },
					attest: func(t *testing.T, ref string) { f.attestTestsBundle(t, f.ci, ref, signer.TestsPassed) },
				},
				"signed with a .sig tag, attested in a bundle": {
					sign:   func(t *testing.T, ref string) { f.sign(t, f.release, ref) },
					attest: func(t *testing.T, ref string) { f.attestTestsBundle(t, f.ci, ref, signer.TestsPassed) },
				},
				"signed in a bundle, attested with an .att tag": {
					sign:   func(t *testing.T, ref string) { f.signBundle(t, f.release, ref) },
					attest: func(t *testing.T, ref string) { f.attestTests(t, f.ci, ref, signer.TestsPassed) },
				},
				"bundle signed by another key": {
					sign:   func(t *testing.T, ref string) { f.signBundle(t, f.other, ref) },
					attest: func(t *testing.T, ref string) { f.attestTestsBundle(t, f.ci, ref, signer.TestsPassed) },
					want:   "not signed by a trusted authority: 0 of 1 required signatures (authorities: release); release: no signature verifies with its key",
				},
				"test result attested by the release key": {
					sign:   func(t *testing.T, ref string) { f.signBundle(t, f.release, ref) },
					attest: func(t *testing.T, ref string) { f.attestTestsBundle(t, f.release, ref, signer.TestsPassed) },
					want:   signer.TestResultPredicateType + " attestation not accepted: ci: no signature verifies with its key",
				},
				"tests failed": {
					sign: func(t *testing.T, ref string) { f.signBundle(t, f.release, ref) },
					attest: func(t *testing.T, ref string) {
						f.attestTestsBundle(t, f.ci, ref, signer.TestsFailed, "TestA", "TestB", "TestC", "TestD", "TestE", "TestF")
					},
					want: "tests did not pass: result FAILED; failed: TestA, TestB, TestC, TestD, TestE and 1 more",
				},
				"attested, not signed": {
					attest: func(t *testing.T, ref string) { f.attestTestsBundle(t, f.ci, ref, signer.TestsPassed) },
					want:   "not signed: no cosign signature found",
				},
				"signed, not attested": {
					sign: func(t *testing.T, ref string) { f.signBundle(t, f.release, ref) },
					want: "no " + signer.TestResultPredicateType + " attestation found",
				},
			}
			i := 0
			for name, c := range cases {
				i++
				tag := fmt.Sprintf("case%d", i)
				t.Run(name, func(t *testing.T) {
					_, ref := f.image(t, "team/bundle", tag)
					if c.sign != nil {
						c.sign(t, ref)
					}
					if c.attest != nil {
						c.attest(t, ref)
					}
					r := verifyOne(t, v, ref)
					if c.want != "" {
						wantError(t, r, c.want)
						return
					}
					if !r.Verified || len(r.Errors) != 0 {
						t.Fatalf("not verified: %q", r.Errors)
					}
					if len(r.Authorities) != 1 || r.Authorities[0].Name != "release" || !strings.HasPrefix(r.Authorities[0].KeyID, "sha256:") {
						t.Errorf("authorities %+v, want release with its key id", r.Authorities)
					}
					if len(r.Attestations) != 1 || r.Attestations[0].Signer.Name != "ci" || r.Attestations[0].PredicateType != signer.TestResultPredicateType {
						t.Fatalf("attestations %+v, want the ci test result", r.Attestations)
					}
					var tr signer.TestResult
					if err := json.Unmarshal(r.Attestations[0].Predicate, &tr); err != nil || tr.Result != signer.TestsPassed {
						t.Errorf("predicate %s (%v), want result PASSED", r.Attestations[0].Predicate, err)
					}
				})
			}
		})
	}
}

// TestBundleRequestCounts counts what looking for bundles costs: nothing
// for an image the .sig and .att tags already verify, one referrers
// request for one they do not (and one for the referrers tag where the
// registry has no referrers API).
func TestBundleRequestCounts(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)))
	_, warmup := f.signedAndTested(t, "team/app", "warmup")
	_, tagged := f.signedAndTested(t, "team/app", "tagged")
	_, unsigned := f.image(t, "team/app", "unsigned")
	_, bundled := f.image(t, "team/app", "bundled")
	f.signBundle(t, f.release, bundled)
	f.attestTestsBundle(t, f.ci, bundled, signer.TestsPassed)

	if r := verifyOne(t, v, warmup); !r.Verified {
		t.Fatalf("warm-up not verified: %q", r.Errors)
	}
	count := func(ref string) []string {
		t.Helper()
		f.reg.ResetCount()
		verifyOne(t, v, ref)
		return f.reg.RequestLog()
	}
	referrers := func(log []string) int {
		return len(slices.DeleteFunc(slices.Clone(log), func(s string) bool { return !strings.Contains(s, "/referrers/") }))
	}
	if log := count(tagged); len(log) != 4 || referrers(log) != 0 {
		t.Errorf("an image signed and attested in .sig/.att tags: %d requests, %d for referrers, want 4 and 0: %q", len(log), referrers(log), log)
	}
	if log := count(unsigned); len(log) != 3 || referrers(log) != 1 {
		t.Errorf("an image with neither: %d requests, %d for referrers, want 3 and 1: %q", len(log), referrers(log), log)
	}
	// .sig and .att (not found), the referrers, and a manifest and a blob
	// for each of the two bundles.
	if log := count(bundled); len(log) != 7 || referrers(log) != 1 {
		t.Errorf("an image signed and attested in bundles: %d requests, %d for referrers, want 7 and 1: %q", len(log), referrers(log), log)
	}

	f.reg = registrytest.New(t, registrytest.WithoutReferrers())
	v = signer.New(verification(nil), compile(t, f.trustConfig(t)))
	_, warmup = f.image(t, "team/app", "warmup")
	_, unsigned = f.image(t, "team/app", "unsigned")
	verifyOne(t, v, warmup)
	fallbackPath := "GET /v2/team/app/manifests/" + strings.Replace(unsigned[strings.Index(unsigned, "@")+1:], ":", "-", 1)
	if log := count(unsigned); len(log) != 4 || referrers(log) != 1 || !slices.Contains(log, fallbackPath) {
		t.Errorf("an image with neither, no referrers API: %d requests, %d for referrers, want 4 and 1, and %q: %q", len(log), referrers(log), fallbackPath, log)
	}
}

// pushBundle attaches to ref, as cosign v3 does, a Sigstore bundle v0.3
// of the in-toto statement of predicate, signed as s says: its
// certificate (or the key's hint), and a timestamp over the DSSE
// signature when s has a TSA. The Rekor entry of s is not supported.
func pushBundle(t *testing.T, ref name.Digest, predicateType string, predicate []byte, s sigstoretest.Signing) {
	t.Helper()
	env := &protodsse.Envelope{}
	if err := protojson.Unmarshal(sigstoretest.Envelope(t, ref, predicateType, predicate, s.Key), env); err != nil {
		t.Fatalf("reading the DSSE envelope: %v", err)
	}
	material := &protobundle.VerificationMaterial{
		Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: "test key"}},
	}
	if s.CertPEM != nil {
		block, _ := encpem.Decode(s.CertPEM)
		material.Content = &protobundle.VerificationMaterial_Certificate{Certificate: &protocommon.X509Certificate{RawBytes: block.Bytes}}
	}
	if s.TSA != nil {
		stamp := s.TSA.Timestamp(t, env.Signatures[0].Sig, s.StampedAt)
		material.TimestampVerificationData = &protobundle.TimestampVerificationData{
			Rfc3161Timestamps: []*protocommon.RFC3161SignedTimestamp{{SignedTimestamp: stamp}},
		}
	}
	raw, err := protojson.Marshal(&protobundle.Bundle{
		MediaType:            bundleV03,
		VerificationMaterial: material,
		Content:              &protobundle.Bundle_DsseEnvelope{DsseEnvelope: env},
	})
	if err != nil {
		t.Fatalf("encoding the bundle: %v", err)
	}
	subject, err := remote.Head(ref)
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, static.NewLayer(raw, bundleV03))
	if err != nil {
		t.Fatal(err)
	}
	img = mutate.ConfigMediaType(mutate.MediaType(img, types.OCIManifestSchema1), "application/vnd.oci.empty.v1+json")
	img = mutate.Annotations(img, map[string]string{"dev.sigstore.bundle.predicateType": predicateType}).(v1.Image)
	img = mutate.Subject(img, *subject).(v1.Image) // last: Annotations drops it
	d, err := img.Digest()
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref.Context().Digest(d.String()), img); err != nil {
		t.Fatalf("pushing the bundle: %v", err)
	}
}

const bundleV03 = "application/vnd.dev.sigstore.bundle.v0.3+json"

// TestKeylessBundle verifies bundles signed with certificates from the
// test CA against a keyless authority's roots and identity, with trusted
// time from an RFC 3161 timestamp in the bundle.
func TestKeylessBundle(t *testing.T) {
	t.Parallel()
	f := newSigstoreFixture(t)
	now := time.Now().Truncate(time.Second)
	hourAgo, twoDaysAgo := now.Add(-time.Hour), now.Add(-48*time.Hour)
	const notSigned = "not signed by a trusted authority: 0 of 1 required signatures (authorities: fulcio); fulcio: "
	const notAttested = signer.TestResultPredicateType + " attestation not accepted: "
	cases := map[string]struct {
		id      sigstoretest.Identity // Subject and Issuer default to the CI identity
		otherCA bool
		at      time.Time // when the certificate is issued and the bundles stamped
		stamp   *sigstoretest.TSA
		maxAge  time.Duration
		want    string // "" for verified
	}{
		"timestamped an hour ago":                                          {at: hourAgo, stamp: f.tsa},
		"no timestamp, certificate valid now":                              {at: now},
		"expired certificate, timestamped two days ago while it was valid": {at: twoDaysAgo, stamp: f.tsa, maxAge: 72 * time.Hour},
		"timestamped two days ago, beyond maxAge": {at: twoDaysAgo, stamp: f.tsa, maxAge: 24 * time.Hour,
			want: notAttested + "signed by ci at " + twoDaysAgo.UTC().Format(time.RFC3339)},
		"expired certificate, no timestamp": {at: twoDaysAgo,
			want: notSigned + "the signing certificate was not valid at the signature's trusted time (or now, when it carries none)"},
		"timestamped by another TSA": {at: hourAgo, stamp: f.otherTSA,
			want: notSigned + "the RFC 3161 timestamp does not verify against this authority's timestampAuthorities"},
		"wrong subject": {at: now, id: sigstoretest.Identity{Subject: "https://git.example.com/team/app/.github/workflows/pr.yml@refs/pull/7"},
			want: notSigned + "the certificate's identity (subject or issuer) is not the one this authority expects"},
		"wrong issuer": {at: now, id: sigstoretest.Identity{Issuer: "https://accounts.example.com"},
			want: notSigned + "the certificate's identity (subject or issuer) is not the one this authority expects"},
		"certificate from another CA": {at: now, otherCA: true,
			want: notSigned + "the signing certificate does not chain to this authority's roots"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := c.id
			id.Subject, id.Issuer = cmp.Or(id.Subject, ciSubject), cmp.Or(id.Issuer, ciIssuer)
			id.NotBefore = c.at.Add(-time.Minute)
			ca := f.ca
			if c.otherCA {
				ca = f.otherCA
			}
			s := ca.Issue(t, id).Signing()
			s.TSA, s.StampedAt = c.stamp, c.at
			ref := f.image(t)
			pushBundle(t, ref, "https://sigstore.dev/cosign/sign/v1", []byte(`{}`), s)
			pushBundle(t, ref, signer.TestResultPredicateType, []byte(testsPassed), s)

			authority := func(name string) config.Authority {
				a := f.keyless(t, name)
				a.TimestampAuthorities = inlineSource(f.tsa.ChainPEM())
				return a
			}
			r := f.verify(t, ref, config.TrustPolicy{
				Signatures: config.SignatureRequirement{Authorities: []config.Authority{authority("fulcio")}},
				Attestations: []config.AttestationRequirement{{
					PredicateType: signer.TestResultPredicateType,
					Authorities:   []config.Authority{authority("ci")},
					MaxAge:        config.Duration{Duration: c.maxAge},
				}},
			})
			if c.want != "" {
				wantRefused(t, r, c.want)
				return
			}
			wantVerified(t, r)
			want := signer.Signer{Name: "fulcio", Subject: ciSubject, Issuer: ciIssuer}
			if len(r.Authorities) != 1 || r.Authorities[0] != want {
				t.Errorf("authorities %+v, want %+v", r.Authorities, want)
			}
			if len(r.Attestations) != 1 {
				t.Fatalf("attestations %+v, want the test result", r.Attestations)
			}
			got := r.Attestations[0]
			if got.Signer.Name != "ci" || got.Signer.Subject != ciSubject {
				t.Errorf("attestation signed by %+v, want ci with the CI identity", got.Signer)
			}
			switch {
			case c.stamp == nil && got.TrustedTime != nil:
				t.Errorf("trusted time %v from a bundle with no timestamp", got.TrustedTime)
			case c.stamp != nil && (got.TrustedTime == nil || !got.TrustedTime.Equal(c.at)):
				t.Errorf("trusted time %v, want %s", got.TrustedTime, c.at)
			}
		})
	}
}
