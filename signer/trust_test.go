package signer_test

import (
	"testing"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
)

// TestTrustRevisionFollowsKeyMaterial: the same configuration with a
// rotated key in its Secret or file compiles to another revision, so a
// refresh puts it in force; unchanged material keeps the revision.
func TestTrustRevisionFollowsKeyMaterial(t *testing.T) {
	a, b := signedtest.New(t), signedtest.New(t)
	cfg := &config.GatewayConfig{Trust: []config.TrustPolicy{{
		Name: "test", Images: []string{"registry.example.com/**"},
		Signatures: config.SignatureRequirement{Threshold: 1, Authorities: []config.Authority{
			{Name: "release", Key: &config.Source{SecretRef: &config.SecretRef{Name: "keys", Key: "release.pub"}}},
		}},
	}}}
	keyOf := func(imgs *signedtest.Images) signer.ReadSource {
		parsed, err := config.Parse("g.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\n"+imgs.TrustYAML(t, "x")))
		if err != nil {
			t.Fatal(err)
		}
		pub := parsed.Trust[0].Signatures.Authorities[0].Key.Data
		return func(*config.Source) ([]byte, error) { return []byte(pub), nil }
	}
	first, err := signer.CompileTrust(cfg, keyOf(a))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := signer.CompileTrust(cfg, keyOf(a))
	rotated, _ := signer.CompileTrust(cfg, keyOf(b))
	if first.Revision() != again.Revision() {
		t.Error("the same key material compiled to another revision")
	}
	if first.Revision() == rotated.Revision() {
		t.Error("a rotated key left the revision unchanged: the refresh would not put it in force")
	}
}
