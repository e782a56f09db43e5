package signedtest_test

import (
	"testing"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// TestTrustYAMLVerifiesPushedImages: the config section parses, and the
// verifier it makes accepts a pushed image and refuses a failing one.
func TestTrustYAMLVerifiesPushedImages(t *testing.T) {
	s := signedtest.New(t)
	good, _ := s.Push(t, "app", "1", signer.TestsPassed)
	bad, _ := s.Push(t, "app", "2", signer.TestsFailed)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\n"+s.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(src *config.Source) ([]byte, error) { return []byte(src.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	rs := signer.New(cfg.Verification, trust).Verify(t.Context(), signer.Request{Images: []string{good, bad}, Trust: []string{"test"}})
	if !rs[0].Verified {
		t.Errorf("the passing image was refused: %q", rs[0].Errors)
	}
	if rs[1].Verified {
		t.Error("the failing image was verified")
	}
}
