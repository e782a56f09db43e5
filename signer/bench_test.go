package signer_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// benchTrust compiles the trust section signedtest writes.
func benchTrust(b *testing.B, imgs *signedtest.Images) (*signer.Trust, config.Verification) {
	b.Helper()
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(b, "test")))
	if err != nil {
		b.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, readSource)
	if err != nil {
		b.Fatal(err)
	}
	return trust, cfg.Verification
}

// BenchmarkVerifyCold is a digest never seen before: every iteration
// fetches and checks the signature and the test-result attestation from
// the loopback registry. Images are pushed and signed outside the timer.
func BenchmarkVerifyCold(b *testing.B) {
	benchVerifyCold(b, nil)
}

// BenchmarkVerifyColdRemote is BenchmarkVerifyCold against a registry
// that answers each request 1 ms late, as one a network hop away does:
// what the round trips made in series cost, apart from this machine's
// load. The signature and attestation fetches run side by side, so a new
// digest waits about 2 ms of round trips, not 4.
func BenchmarkVerifyColdRemote(b *testing.B) {
	benchVerifyCold(b, func(http.ResponseWriter, *http.Request) bool {
		time.Sleep(time.Millisecond)
		return false
	})
}

// benchVerifyCold verifies a new digest per iteration; fault, when not
// nil, is set on the registry once the images are pushed.
func benchVerifyCold(b *testing.B, fault func(http.ResponseWriter, *http.Request) bool) {
	imgs := signedtest.New(b)
	trust, vc := benchTrust(b, imgs)
	v := signer.New(vc, trust)
	refs := make([]string, b.N+1)
	for i := range refs {
		_, d := imgs.Push(b, "bench/app", fmt.Sprintf("v%d", i), signer.TestsPassed)
		refs[i] = imgs.Registry.Host + "/bench/app@" + d
	}
	if fault != nil {
		imgs.Registry.SetFault(fault)
	}
	// The first verification pings the registry; production does that once.
	if r := v.Verify(b.Context(), signer.Request{Images: refs[:1], Trust: []string{"test"}})[0]; !r.Verified {
		b.Fatal(r.Errors)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if r := v.Verify(b.Context(), signer.Request{Images: refs[i+1 : i+2], Trust: []string{"test"}})[0]; !r.Verified || r.Cached {
			b.Fatalf("verified=%v cached=%v %q", r.Verified, r.Cached, r.Errors)
		}
	}
}

// BenchmarkVerifyWarm is the admission after CI pre-verified the image: a
// cache lookup by digest.
func BenchmarkVerifyWarm(b *testing.B) {
	imgs := signedtest.New(b)
	trust, vc := benchTrust(b, imgs)
	v := signer.New(vc, trust)
	_, d := imgs.Push(b, "bench/app", "1", signer.TestsPassed)
	req := signer.Request{Images: []string{imgs.Registry.Host + "/bench/app@" + d}, Trust: []string{"test"}}
	if r := v.Verify(b.Context(), req)[0]; !r.Verified {
		b.Fatal(r.Errors)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for range b.N {
		if r := v.Verify(b.Context(), req)[0]; !r.Cached {
			b.Fatal("not a cache hit")
		}
	}
}

// BenchmarkCosignCLIPair is the same cold work done the way a CI script
// gating on signatures does it: `cosign verify` and `cosign
// verify-attestation`, one process each, against the same registry.
func BenchmarkCosignCLIPair(b *testing.B) {
	key, pub := cosigntest.SharedKeyPair(b, b.TempDir())
	imgs := signedtest.New(b)
	_, d := imgs.Registry.PushRandom(b, "bench/cli", "1")
	ref := imgs.Registry.Host + "/bench/cli@" + d
	pred := filepath.Join(b.TempDir(), "predicate.json")
	if err := os.WriteFile(pred, []byte(`{"result":"PASSED","configuration":[]}`), 0o644); err != nil {
		b.Fatal(err)
	}
	for _, args := range [][]string{
		cosigntest.SignArgs(key, ref),
		cosigntest.AttestArgs(key, signer.TestResultPredicateType, pred, ref),
	} {
		if _, _, err := cosigntest.Run(b, args...); err != nil {
			b.Fatal(err)
		}
	}
	root := cosigntest.EmptyTrustedRoot(b)
	verify := cosigntest.VerifyArgs(pub, root, ref)
	attest := cosigntest.VerifyAttestationArgs(pub, root, signer.TestResultPredicateType, ref)
	b.ResetTimer()
	for range b.N {
		for _, args := range [][]string{verify, attest} {
			cmd := cosigntest.Command(b, args...)
			if out, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("%v: %s", err, out)
			}
		}
	}
}
