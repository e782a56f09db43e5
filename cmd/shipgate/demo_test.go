package main

import (
	"strings"
	"testing"
)

// TestDemo runs the whole demo: a real HTTPS gateway on loopback and the
// played API server. It checks the story's outcomes, not its wording.
func TestDemo(t *testing.T) {
	out, err := runCommand(t, "demo")
	if err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out)
	}
	for _, want := range []string{
		"shipgate is serving https://127.0.0.1:",
		// the ReplicaSet and its Pod inherit; the scale is let through
		"5 admitted, 1 warned, 5 denied, 1 refused as unreadable.",
		`container "app" image "redis:latest" uses the tag latest`,
		`Pod shop/web-7d9c5-*: container "app" image "registry.example.com/shop/web:latest"`,
		"shipgate: Deployment dev-alice/tool:",
		"→ HTTP 400: invalid AdmissionReview",
		// the audit log: one rollout and four decisions with reasons, and
		// it verifies against its signed checkpoint
		"Deployment dev-alice/tool  warned",
		`Deployment shop/tracker: container "app": image "ghcr.io/acme/tracker:2.1.0" comes from a registry this cluster does not use`,
		"verified 6 records (0 redacted) and 1 signed checkpoints",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
}
