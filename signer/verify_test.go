package signer_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/signer"
)

func contextWithTimeout(t *testing.T, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.Context(), d)
}

// TestVerifyWithCosignCLI verifies what the real cosign CLI signed and
// attested, and every way an image can fail to be trusted.
func TestVerifyWithCosignCLI(t *testing.T) {
	f := newFixture(t)
	cfg := f.trustConfig(t)
	v := signer.New(verification(nil), compile(t, cfg))

	tagA, refA := f.signedAndTested(t, "team/api", "1.0")

	t.Run("signed and tested", func(t *testing.T) {
		r := verifyOne(t, v, tagA)
		if !r.Verified || len(r.Errors) != 0 {
			t.Fatalf("not verified: %q", r.Errors)
		}
		if want := refA[strings.Index(refA, "@")+1:]; r.Digest != want {
			t.Errorf("digest %s, want %s", r.Digest, want)
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
		if r.Tag != "1.0" || r.TrustPolicy != "company" {
			t.Errorf("tag %q policy %q", r.Tag, r.TrustPolicy)
		}
	})

	t.Run("unsigned", func(t *testing.T) {
		_, ref := f.image(t, "team/unsigned", "1")
		f.attestTests(t, f.ci, ref, signer.TestsPassed)
		wantError(t, verifyOne(t, v, ref), "not signed: no cosign signature found")
	})

	t.Run("signed by an untrusted key", func(t *testing.T) {
		_, ref := f.image(t, "team/other", "1")
		f.sign(t, f.other, ref)
		f.attestTests(t, f.ci, ref, signer.TestsPassed)
		wantError(t, verifyOne(t, v, ref), "release: no signature verifies with its key")
	})

	t.Run("tests failed", func(t *testing.T) {
		_, ref := f.image(t, "team/failing", "1")
		f.sign(t, f.release, ref)
		f.attestTests(t, f.ci, ref, signer.TestsFailed, "T1", "T2", "T3", "T4", "T5", "T6", "T7")
		wantError(t, verifyOne(t, v, ref), "tests did not pass: result FAILED; failed: T1, T2, T3, T4, T5 and 2 more")
	})

	t.Run("a rerun's failing result beside a passing one, without trusted time", func(t *testing.T) {
		_, ref := f.image(t, "team/flaky", "1")
		f.sign(t, f.release, ref)
		f.attestTests(t, f.ci, ref, signer.TestsPassed)
		f.attestTests(t, f.ci, ref, signer.TestsFailed, "TestFlaky")
		wantError(t, verifyOne(t, v, ref), "2 signed test results for this digest disagree (one by ci says FAILED; failed: TestFlaky)")
	})

	t.Run("two passing results", func(t *testing.T) {
		_, ref := f.image(t, "team/rerun", "1")
		f.sign(t, f.release, ref)
		f.attestTests(t, f.ci, ref, signer.TestsPassed)
		f.attestTests(t, f.ci, ref, signer.TestsPassed)
		if r := verifyOne(t, v, ref); !r.Verified {
			t.Errorf("two passing results refused: %q", r.Errors)
		}
	})

	t.Run("no test attestation", func(t *testing.T) {
		_, ref := f.image(t, "team/untested", "1")
		f.sign(t, f.release, ref)
		wantError(t, verifyOne(t, v, ref), "no https://in-toto.io/attestation/test-result/v0.1 attestation found")
	})

	t.Run("test result attested by the release key, not ci", func(t *testing.T) {
		_, ref := f.image(t, "team/selftested", "1")
		f.sign(t, f.release, ref)
		f.attestTests(t, f.release, ref, signer.TestsPassed)
		wantError(t, verifyOne(t, v, ref), "attestation not accepted: ci: no signature verifies with its key")
	})

	t.Run("attestation for another digest", func(t *testing.T) {
		_, ref := f.image(t, "team/api", "copied")
		f.sign(t, f.release, ref)
		repo := f.reg.Host + "/team/api"
		copyTag(t, attTag(repo, refA[strings.Index(refA, "@")+1:]), attTag(repo, ref[strings.Index(ref, "@")+1:]))
		wantError(t, verifyOne(t, v, ref), "attestation not accepted: ci:")
	})

	t.Run("threshold of two authorities, one signed", func(t *testing.T) {
		c := f.trustConfig(t)
		s := &c.Trust[0].Signatures
		s.Authorities = append(s.Authorities, config.Authority{Name: "security", Key: pem(t, f.other.pub)})
		s.Threshold = 2
		v2 := signer.New(verification(nil), compile(t, c))
		wantError(t, verifyOne(t, v2, refA), "not signed by a trusted authority: 1 of 2 required signatures (authorities: release, security); security: no signature verifies with its key")
	})

	t.Run("an authority removed by a reload voids cached results", func(t *testing.T) {
		v3 := signer.New(verification(nil), compile(t, cfg))
		if r := verifyOne(t, v3, refA); !r.Verified {
			t.Fatalf("not verified before the reload: %q", r.Errors)
		}
		c := f.trustConfig(t)
		c.Trust[0].Signatures.Authorities[0] = config.Authority{Name: "release", Key: pem(t, f.other.pub)}
		v3.SetTrust(compile(t, c))
		r := verifyOne(t, v3, refA)
		if r.Cached {
			t.Error("the result verified under the old trust policy was reused")
		}
		wantError(t, r, "release: no signature verifies with its key")
	})

	t.Run("a registry no trust policy names is never contacted", func(t *testing.T) {
		other := newFixture(t) // a second loopback registry, trusted by nobody
		ref, _ := other.reg.PushRandom(t, "app", "1")
		other.reg.ResetCount()
		r := verifyOne(t, v, ref)
		wantError(t, r, "no trust policy matches "+other.reg.Host+"/app (trust policies bound here: company)")
		if n := other.reg.Requests(); n != 0 {
			t.Errorf("the untrusted registry got %d requests: %q", n, other.reg.RequestLog())
		}
		wantError(t, verifyOne(t, v, "registry.example.com/app:1", "none-bound"), "no trust policy matches registry.example.com/app")
	})

	t.Run("a missing tag", func(t *testing.T) {
		wantError(t, verifyOne(t, v, f.reg.Host+"/team/api:nope"), "tag nope not found in "+f.reg.Host+"/team/api")
	})
}
