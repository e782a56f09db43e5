package signer_test

import (
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/internal/cosigntest"
	"github.com/shipgate/shipgate/signer"
)

// TestSignIsWhatCosignVerifies: a signature made by signer.Sign is
// accepted by the real cosign CLI, and by shipgate.
func TestSignIsWhatCosignVerifies(t *testing.T) {
	f := newFixture(t)
	_, ref := f.image(t, "team/signed", "1")
	sv, err := signer.LoadPrivateKey(f.release.key, []byte(cosigntest.Password))
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	digest, err := signer.Sign(t.Context(), r, sv)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(ref, digest) {
		t.Errorf("Sign signed %s, want the digest of %s", digest, ref)
	}
	if _, stderr, err := cosigntest.Run(t, cosigntest.VerifyArgs(f.release.pub, cosigntest.EmptyTrustedRoot(t), ref)...); err != nil {
		t.Fatalf("cosign verify refused signer.Sign's signature: %v\n%s", err, stderr)
	}
	if _, _, err := cosigntest.Run(t, cosigntest.VerifyArgs(f.other.pub, cosigntest.EmptyTrustedRoot(t), ref)...); err == nil {
		t.Error("cosign verify accepted the signature with another key")
	}
	f.attestTests(t, f.ci, ref, signer.TestsPassed)
	v := signer.New(verification(nil), compile(t, f.trustConfig(t)))
	if res := verifyOne(t, v, ref); !res.Verified {
		t.Errorf("shipgate refused signer.Sign's signature: %q", res.Errors)
	}
}
