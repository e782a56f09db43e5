package signer_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/internal/registrytest"
	"github.com/shipgate/shipgate/signer"
)

// fixture is a loopback registry and three cosign key pairs: release
// signs images, ci attests their tests, other is nobody the config trusts.
type fixture struct {
	reg                *registrytest.Registry
	release, ci, other keyPair
}

type keyPair struct{ key, pub string }

func newFixture(t *testing.T) *fixture {
	t.Helper()
	cosigntest.Binary(t)
	kp := func(shared bool) keyPair {
		dir := t.TempDir()
		var k keyPair
		if shared {
			k.key, k.pub = cosigntest.SharedKeyPair(t, dir)
		} else {
			k.key, k.pub = cosigntest.KeyPair(t, dir)
		}
		return k
	}
	return &fixture{reg: registrytest.New(t), release: kp(true), ci: kp(false), other: kp(false)}
}

// image pushes a random image and returns its reference by digest.
func (f *fixture) image(t *testing.T, repo, tag string) (tagRef, digestRef string) {
	t.Helper()
	ref, digest := f.reg.PushRandom(t, repo, tag)
	return ref, f.reg.Host + "/" + repo + "@" + digest
}

func (f *fixture) sign(t *testing.T, k keyPair, image string) {
	t.Helper()
	if _, _, err := cosigntest.Run(t, cosigntest.SignArgs(k.key, image)...); err != nil {
		t.Fatal(err)
	}
}

// attestTests attaches a test-result predicate with the given outcome.
func (f *fixture) attestTests(t *testing.T, k keyPair, image, result string, failed ...string) {
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
	if _, _, err := cosigntest.Run(t, cosigntest.AttestArgs(k.key, signer.TestResultPredicateType, file, image)...); err != nil {
		t.Fatal(err)
	}
}

// signedAndTested pushes an image, signs it with release and attests a
// passing test run with ci.
func (f *fixture) signedAndTested(t *testing.T, repo, tag string) (tagRef, digestRef string) {
	t.Helper()
	tagRef, digestRef = f.image(t, repo, tag)
	f.sign(t, f.release, digestRef)
	f.attestTests(t, f.ci, digestRef, signer.TestsPassed)
	return tagRef, digestRef
}

// copyTag makes dst (a tag) name what src names: a moved tag, or an
// attestation copied onto another image.
func copyTag(t *testing.T, src, dst string) {
	t.Helper()
	s, err := name.ParseReference(src)
	if err != nil {
		t.Fatal(err)
	}
	d, err := name.NewTag(dst)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Tag(d, desc); err != nil {
		t.Fatal(err)
	}
}

// attTag is the cosign v2 attestation tag of an image digest.
func attTag(repo, digest string) string {
	return repo + ":" + strings.Replace(digest, ":", "-", 1) + ".att"
}

func pem(t *testing.T, path string) *config.Source {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return &config.Source{Data: string(b)}
}

// trustConfig trusts images of the fixture's registry signed by release
// and attested by ci.
func (f *fixture) trustConfig(t *testing.T) *config.GatewayConfig {
	t.Helper()
	cfg := &config.GatewayConfig{Trust: []config.TrustPolicy{{
		Name:   "company",
		Images: []string{f.reg.Host + "/**"},
		Signatures: config.SignatureRequirement{Threshold: 1, Authorities: []config.Authority{
			{Name: "release", Key: pem(t, f.release.pub)},
		}},
		Attestations: []config.AttestationRequirement{{
			PredicateType: signer.TestResultPredicateType,
			Authorities:   []config.Authority{{Name: "ci", Key: pem(t, f.ci.pub)}},
		}},
	}}}
	return cfg
}

func readSource(s *config.Source) ([]byte, error) {
	if s.File != "" {
		return os.ReadFile(s.File)
	}
	return []byte(s.Data), nil
}

func compile(t *testing.T, cfg *config.GatewayConfig) *signer.Trust {
	t.Helper()
	tr, err := signer.CompileTrust(cfg, readSource)
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

// verification is config.Verification as defaulted, with changes.
func verification(change func(*config.Verification)) config.Verification {
	c := config.GatewayConfig{}
	c.ApplyDefaults()
	if change != nil {
		change(&c.Verification)
	}
	return c.Verification
}

func verifyOne(t *testing.T, v *signer.Verifier, ref string, trust ...string) *signer.Result {
	t.Helper()
	if len(trust) == 0 {
		trust = []string{"company"}
	}
	ctx, cancel := contextWithTimeout(t, 10*time.Second)
	defer cancel()
	rs := v.Verify(ctx, signer.Request{Images: []string{ref}, Trust: trust})
	if len(rs) != 1 {
		t.Fatalf("Verify returned %d results for one image", len(rs))
	}
	return rs[0]
}

func wantError(t *testing.T, r *signer.Result, substr string) {
	t.Helper()
	if r.Verified {
		t.Errorf("%s verified; want refused with %q", r.Ref, substr)
		return
	}
	if !strings.Contains(strings.Join(r.Errors, "\n"), substr) {
		t.Errorf("%s errors = %q, want one containing %q", r.Ref, r.Errors, substr)
	}
}
