package signer_test

import (
	"cmp"
	"crypto/ecdsa"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/internal/sigstoretest"
	"github.com/shipgate/shipgate/signer"
)

// The identity the keyless authorities below trust: a CI workflow.
const (
	ciIssuer  = "https://token.actions.example.com"
	ciSubject = "https://git.example.com/team/app/.github/workflows/release.yml@refs/heads/main"
)

const testsPassed = `{"result":"PASSED","configuration":[],"passedTests":["pkg.TestA"]}`

// sigstoreFixture is a loopback registry and a Sigstore of the test's own:
// a CA, a Rekor key and a TSA the trust config names, and another of each
// it does not.
type sigstoreFixture struct {
	reg               *registrytest.Registry
	ca, otherCA       *sigstoretest.CA
	rekor, otherRekor *sigstoretest.Rekor
	tsa, otherTSA     *sigstoretest.TSA
	key               *ecdsa.PrivateKey // a cosign key pair's
	images            atomic.Int64
}

func newSigstoreFixture(t *testing.T) *sigstoreFixture {
	t.Helper()
	return &sigstoreFixture{
		reg: registrytest.New(t),
		ca:  sigstoretest.NewCA(t), otherCA: sigstoretest.NewCA(t),
		rekor: sigstoretest.NewRekor(t), otherRekor: sigstoretest.NewRekor(t),
		tsa: sigstoretest.NewTSA(t), otherTSA: sigstoretest.NewTSA(t),
		key: sigstoretest.NewKey(t),
	}
}

// image pushes a random image to a repository of its own.
func (f *sigstoreFixture) image(t *testing.T) name.Digest {
	t.Helper()
	repo := fmt.Sprintf("sigstore/app%d", f.images.Add(1))
	_, digest := f.reg.PushRandom(t, repo, "1")
	ref, err := name.NewDigest(f.reg.Host + "/" + repo + "@" + digest)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

func inlineSource(b []byte) *config.Source { return &config.Source{Data: string(b)} }

// keyless is an authority trusting the fixture's CA for the CI identity,
// with the fixture's Rekor key.
func (f *sigstoreFixture) keyless(t *testing.T, name string) config.Authority {
	return config.Authority{Name: name, Keyless: &config.Keyless{
		Roots:    inlineSource(f.ca.RootsPEM()),
		Issuer:   ciIssuer,
		Subject:  ciSubject,
		RekorKey: inlineSource(f.rekor.PublicKeyPEM(t)),
	}}
}

// verify checks ref against one trust policy over the fixture's registry.
func (f *sigstoreFixture) verify(t *testing.T, ref name.Digest, tp config.TrustPolicy) *signer.Result {
	t.Helper()
	tp.Name, tp.Images = "sigstore", []string{f.reg.Host + "/**"}
	cfg := &config.GatewayConfig{APIVersion: config.APIVersion, Kind: config.Kind, Trust: []config.TrustPolicy{tp}}
	cfg.ApplyDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("the trust config is invalid: %v", err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	rs := signer.New(cfg.Verification, trust).Verify(t.Context(), signer.Request{Images: []string{ref.String()}, Trust: []string{"sigstore"}})
	if len(rs) != 1 {
		t.Fatalf("Verify returned %d results for one image", len(rs))
	}
	return rs[0]
}

// wantRefused fails unless r was refused with every one of msgs in its
// errors.
func wantRefused(t *testing.T, r *signer.Result, msgs ...string) {
	t.Helper()
	all := strings.Join(r.Errors, "\n")
	if r.Verified {
		t.Fatalf("verified; want refused with %q", msgs)
	}
	for _, m := range msgs {
		if !strings.Contains(all, m) {
			t.Errorf("errors %q, want one containing %q", r.Errors, m)
		}
	}
}

func wantVerified(t *testing.T, r *signer.Result) {
	t.Helper()
	if !r.Verified || len(r.Errors) != 0 {
		t.Fatalf("refused: %q", r.Errors)
	}
}

// TestKeylessSignatures verifies image signatures made with certificates
// from the test CA, checked offline against its roots, the CI identity,
// the Rekor key and the TSA.
func TestKeylessSignatures(t *testing.T) {
	t.Parallel()
	f := newSigstoreFixture(t)
	now := time.Now().Truncate(time.Second)
	expired := sigstoretest.Identity{NotBefore: now.Add(-3 * time.Hour), NotAfter: now.Add(-3*time.Hour + 10*time.Minute)}
	whileValid := now.Add(-3*time.Hour + 5*time.Minute)
	const refused = "not signed by a trusted authority: 0 of 1 required signatures (authorities: fulcio); fulcio: "
	cases := map[string]struct {
		id      sigstoretest.Identity // Subject and Issuer default to the CI identity
		otherCA bool
		proofs  func(s *sigstoretest.Signing)
		trust   func(a *config.Authority)
		want    string // "" for verified
	}{
		"exact subject and issuer": {},
		"subject regular expression": {trust: func(a *config.Authority) {
			a.Keyless.Subject, a.Keyless.SubjectRegExp = "", `^https://git\.example\.com/team/[^/]+/\.github/workflows/release\.yml@refs/heads/main$`
		}},
		"email subject": {
			id:    sigstoretest.Identity{Subject: "release@example.com"},
			trust: func(a *config.Authority) { a.Keyless.Subject = "release@example.com" },
		},
		"wrong subject": {
			id:   sigstoretest.Identity{Subject: "https://git.example.com/team/app/.github/workflows/pr.yml@refs/pull/7"},
			want: refused + "the certificate's identity (subject or issuer) is not the one this authority expects",
		},
		"wrong issuer": {
			id:   sigstoretest.Identity{Issuer: "https://accounts.example.com"},
			want: refused + "the certificate's identity (subject or issuer) is not the one this authority expects",
		},
		"certificate from another CA": {
			otherCA: true,
			want:    refused + "the signing certificate does not chain to this authority's roots",
		},
		"expired certificate without trusted time": {
			id:   expired,
			want: refused + "the signing certificate has expired and the signature carries no trusted timestamp",
		},
		"expired certificate, logged while it was valid": {
			id:     expired,
			proofs: func(s *sigstoretest.Signing) { s.Rekor, s.LoggedAt = f.rekor, whileValid },
		},
		"expired certificate, logged after it expired": {
			id:     expired,
			proofs: func(s *sigstoretest.Signing) { s.Rekor, s.LoggedAt = f.rekor, now.Add(-time.Hour) },
			want:   refused + "checking expiry on certificate with bundle: certificate expired before signatures were entered in log",
		},
		"expired certificate, timestamped while it was valid": {
			id:     expired,
			proofs: func(s *sigstoretest.Signing) { s.TSA, s.StampedAt = f.tsa, whileValid },
			trust:  func(a *config.Authority) { a.TimestampAuthorities = inlineSource(f.tsa.ChainPEM()) },
		},
		"requireTlog and a bundle": {
			proofs: func(s *sigstoretest.Signing) { s.Rekor = f.rekor },
			trust:  func(a *config.Authority) { a.Keyless.RequireTlog = true },
		},
		"requireTlog and no bundle": {
			trust: func(a *config.Authority) { a.Keyless.RequireTlog = true },
			want:  refused + "the signature has no transparency log entry, which this authority requires",
		},
		"bundle signed by another Rekor key": {
			proofs: func(s *sigstoretest.Signing) { s.Rekor = f.otherRekor },
			want:   refused + "the transparency log entry is not signed by this authority's rekorKey",
		},
		"chain beside the certificate, only the root configured": {
			trust: func(a *config.Authority) { a.Keyless.Roots = inlineSource(f.ca.RootPEM()) },
		},
		"no chain beside the certificate, intermediate in the configured roots": {
			proofs: func(s *sigstoretest.Signing) { s.ChainPEM = nil },
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			id := c.id
			id.Subject, id.Issuer = cmp.Or(id.Subject, ciSubject), cmp.Or(id.Issuer, ciIssuer)
			ca := f.ca
			if c.otherCA {
				ca = f.otherCA
			}
			s := ca.Issue(t, id).Signing()
			if c.proofs != nil {
				c.proofs(&s)
			}
			ref := f.image(t)
			sigstoretest.SignImage(t, ref, s)
			a := f.keyless(t, "fulcio")
			if c.trust != nil {
				c.trust(&a)
			}
			r := f.verify(t, ref, config.TrustPolicy{Signatures: config.SignatureRequirement{Authorities: []config.Authority{a}}})
			if c.want != "" {
				wantRefused(t, r, c.want)
				return
			}
			wantVerified(t, r)
			want := signer.Signer{Name: "fulcio", Subject: id.Subject, Issuer: ciIssuer}
			if len(r.Authorities) != 1 || r.Authorities[0] != want {
				t.Errorf("authorities %+v, want %+v", r.Authorities, want)
			}
		})
	}
}

// TestTrustedTimeMaxAge verifies test-result attestations under maxAge
// 24h: trusted time from a Rekor bundle (a keyless CI identity) or from an
// RFC 3161 timestamp (a key with timestampAuthorities).
func TestTrustedTimeMaxAge(t *testing.T) {
	t.Parallel()
	f := newSigstoreFixture(t)
	now := time.Now().Truncate(time.Second)
	hourAgo, twoDaysAgo := now.Add(-time.Hour), now.Add(-48*time.Hour)
	const refused = signer.TestResultPredicateType + " attestation not accepted: "
	cases := map[string]struct {
		keyless bool
		at      time.Time // when the CI signed; a keyless certificate is valid then
		proofs  func(s *sigstoretest.Signing, at time.Time)
		want    string
	}{
		"keyless, logged an hour ago": {keyless: true, at: hourAgo,
			proofs: func(s *sigstoretest.Signing, at time.Time) { s.Rekor, s.LoggedAt = f.rekor, at }},
		"keyless, logged two days ago": {keyless: true, at: twoDaysAgo,
			proofs: func(s *sigstoretest.Signing, at time.Time) { s.Rekor, s.LoggedAt = f.rekor, at },
			want:   refused + "signed by ci at " + twoDaysAgo.UTC().Format(time.RFC3339)},
		"keyless, no bundle": {keyless: true, at: now,
			want: refused + "signed by ci but carries no trusted time (a transparency log entry or an RFC 3161 timestamp), which maxAge 24h0m0s needs"},
		"key, timestamped an hour ago": {at: hourAgo,
			proofs: func(s *sigstoretest.Signing, at time.Time) { s.TSA, s.StampedAt = f.tsa, at }},
		"key, timestamped two days ago": {at: twoDaysAgo,
			proofs: func(s *sigstoretest.Signing, at time.Time) { s.TSA, s.StampedAt = f.tsa, at },
			want:   refused + "signed by ci at " + twoDaysAgo.UTC().Format(time.RFC3339)},
		"key, timestamped by another TSA": {at: hourAgo,
			proofs: func(s *sigstoretest.Signing, at time.Time) { s.TSA, s.StampedAt = f.otherTSA, at },
			want:   refused + "ci: the RFC 3161 timestamp does not verify against this authority's timestampAuthorities"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := sigstoretest.Signing{Key: f.key}
			a := config.Authority{Name: "ci", Key: inlineSource(sigstoretest.PublicKeyPEM(t, f.key)), TimestampAuthorities: inlineSource(f.tsa.ChainPEM())}
			subject := ""
			if c.keyless {
				s = f.ca.Issue(t, sigstoretest.Identity{Subject: ciSubject, Issuer: ciIssuer, NotBefore: c.at.Add(-time.Minute)}).Signing()
				a, subject = f.keyless(t, "ci"), ciSubject
			}
			if c.proofs != nil {
				c.proofs(&s, c.at)
			}
			ref := f.image(t)
			sigstoretest.AttestImage(t, ref, signer.TestResultPredicateType, []byte(testsPassed), s)
			r := f.verify(t, ref, config.TrustPolicy{Attestations: []config.AttestationRequirement{{
				PredicateType: signer.TestResultPredicateType,
				Authorities:   []config.Authority{a},
				MaxAge:        config.Duration{Duration: 24 * time.Hour},
			}}})
			if c.want != "" {
				wantRefused(t, r, c.want)
				return
			}
			wantVerified(t, r)
			if len(r.Attestations) != 1 {
				t.Fatalf("attestations %+v, want the test result", r.Attestations)
			}
			got := r.Attestations[0]
			if got.TrustedTime == nil || !got.TrustedTime.Equal(c.at) {
				t.Errorf("trusted time %v, want %s", got.TrustedTime, c.at)
			}
			if got.Signer.Name != "ci" || got.Signer.Subject != subject || got.PredicateType != signer.TestResultPredicateType {
				t.Errorf("attestation %+v, want the test result signed by ci (subject %q)", got, subject)
			}
		})
	}
}

// TestNewestTimedTestResultDecides: with trusted time on every signed test
// result of a digest, the newest decides, whichever way it went.
func TestNewestTimedTestResultDecides(t *testing.T) {
	t.Parallel()
	f := newSigstoreFixture(t)
	now := time.Now().Truncate(time.Second)
	const failed = `{"result":"FAILED","configuration":[],"failedTests":["TestFlaky"]}`
	for name, c := range map[string]struct {
		older, newer string
		want         string
	}{
		"a pass after a failure": {older: failed, newer: testsPassed},
		"a failure after a pass": {older: testsPassed, newer: failed, want: "the newest signed test result: tests did not pass: result FAILED; failed: TestFlaky"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ref := f.image(t)
			for i, p := range []string{c.older, c.newer} {
				s := sigstoretest.Signing{Key: f.key, TSA: f.tsa, StampedAt: now.Add(time.Duration(i-2) * time.Hour)}
				sigstoretest.AttestImage(t, ref, signer.TestResultPredicateType, []byte(p), s)
			}
			a := config.Authority{Name: "ci", Key: inlineSource(sigstoretest.PublicKeyPEM(t, f.key)), TimestampAuthorities: inlineSource(f.tsa.ChainPEM())}
			r := f.verify(t, ref, config.TrustPolicy{Attestations: []config.AttestationRequirement{{
				PredicateType: signer.TestResultPredicateType, Authorities: []config.Authority{a},
			}}})
			if c.want != "" {
				wantRefused(t, r, c.want)
				return
			}
			wantVerified(t, r)
			if got := r.Attestations[0].TrustedTime; got == nil || !got.Equal(now.Add(-time.Hour)) {
				t.Errorf("the accepted result was stamped %v, want the newer one at %v", got, now.Add(-time.Hour))
			}
		})
	}
}

// TestExpiredIntermediateIsRefused: a certificate issued while its
// intermediate was valid does not verify once the intermediate has
// expired, unless trusted time shows the signature was made before
// (cosign alone accepts it when the log is not consulted, GO-2026-4529).
func TestExpiredIntermediateIsRefused(t *testing.T) {
	t.Parallel()
	f := newSigstoreFixture(t)
	now := time.Now()
	ca := sigstoretest.NewCAWithIntermediateUntil(t, now.Add(-time.Hour))
	id := sigstoretest.Identity{Subject: ciSubject, Issuer: ciIssuer, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(8 * time.Hour)}
	authority := func(withTSA bool) config.Authority {
		a := config.Authority{Name: "fulcio", Keyless: &config.Keyless{Roots: inlineSource(ca.RootsPEM()), Issuer: ciIssuer, Subject: ciSubject}}
		if withTSA {
			a.TimestampAuthorities = inlineSource(f.tsa.ChainPEM())
		}
		return a
	}

	ref := f.image(t)
	sigstoretest.SignImage(t, ref, ca.Issue(t, id).Signing())
	r := f.verify(t, ref, config.TrustPolicy{Signatures: config.SignatureRequirement{Authorities: []config.Authority{authority(false)}}})
	wantRefused(t, r, "an intermediate certificate of the signing certificate was not valid at")

	stamped := f.image(t)
	s := ca.Issue(t, id).Signing()
	s.TSA, s.StampedAt = f.tsa, now.Add(-90*time.Minute) // while the intermediate was valid
	sigstoretest.SignImage(t, stamped, s)
	r = f.verify(t, stamped, config.TrustPolicy{Signatures: config.SignatureRequirement{Authorities: []config.Authority{authority(true)}}})
	wantVerified(t, r)
}
