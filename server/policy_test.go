package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPolicyReloadsWithoutRestart: a policy directory change applies to the
// next admission; one that does not compile is refused and counted, and
// the last good policy stays.
func TestPolicyReloadsWithoutRestart(t *testing.T) {
	dir := t.TempDir()
	pdir := filepath.Join(dir, "policies")
	if err := os.Mkdir(pdir, 0o755); err != nil {
		t.Fatal(err)
	}
	rule := func(image string) string {
		return "package shipgate.baseline\n\ndeny contains \"no " + image + "\" if {\n\tsome c in input.request.object.spec.template.spec.containers\n\tcontains(c.image, \"/library/" + image + ":\")\n}\n"
	}
	writeAtomically(t, filepath.Join(pdir, "baseline.rego"), rule("nginx"))
	cfg := filepath.Join(dir, "gateway.yaml")
	trust, pinned := signedNginx(t)
	writeAtomically(t, cfg, "apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, policies: [baseline], trust: [test]}\npolicies: {directory: "+pdir+"}\n"+trust)

	_, client, base := started(t, cfg)

	if r := validate(t, client, base, pinned); r.Allowed || !strings.Contains(r.Result.Message, "no nginx") {
		t.Fatalf("the policy did not deny: allowed=%v %q", r.Allowed, r.Result.Message)
	}
	writeAtomically(t, filepath.Join(pdir, "baseline.rego"), rule("busybox"))
	waitFor(t, "the new policy to apply", func() bool { return validate(t, client, base, pinned).Allowed })

	writeAtomically(t, filepath.Join(pdir, "baseline.rego"), "package shipgate.baseline\n\ndeny contains x if {\n")
	waitFor(t, "the broken policy to be counted", func() bool {
		return strings.Contains(get(t, client, base+"/metrics"), "shipgate_policy_reload_errors_total 1")
	})
	if r := validate(t, client, base, pinned); !r.Allowed {
		t.Errorf("a policy that does not compile replaced the last good one: %q", r.Result.Message)
	}
}
