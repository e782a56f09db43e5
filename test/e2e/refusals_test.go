package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// testRefusals: in the enforced namespace the deployer applies three
// Deployments of images from the trusted registry, and kubectl prints
// shipgate's reason for each refusal: one nobody signed (its tests
// passed), one tagged latest (signed and tested: latest is refused
// whatever else holds), one signed whose tests FAILED (the denial names
// the failed tests).
func testRefusals(ctx context.Context, t *testing.T, e *env) {
	cases := []struct {
		name, image, reason string
	}{
		{"cart", e.im.Ref(cartTag), "(container web): not signed: no cosign signature found for " + e.im.Digest(cartTag) +
			" (trust policy " + trustPolicy + " needs 1 of: release-key)"},
		{"web-signed-latest", e.im.Ref(webLatest), `container "web" image "` + e.im.Ref(webLatest) + `" uses the tag latest; pin a version tag or a digest`},
		{"checkout", e.im.Ref(checkoutTag), "(container web): " + harness.TestResultPredicateType +
			" attestation not accepted: tests did not pass: result FAILED; failed: " + strings.Join(checkoutFailed, ", ")},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, tc.name, tc.image, 1), "apply", "-f", "-")
			wantRefused(t, r, "Deployment", enforced, tc.name, tc.reason)
			e.expect(admission("Deployment", enforced, tc.name, "denied", harness.Deployer))
			wantNoDeployment(ctx, t, e.c, enforced, tc.name)
			e.log.Printf("kubectl said: %s", strings.TrimSpace(r.Stderr))
		})
	}
}

// testDryRunsLeaveNothing: kubectl apply --dry-run=server of a signed,
// tested Deployment in the enforced namespace is admitted and of a
// production one is refused for want of approval, saying a dry run makes
// no request; neither stores anything, the audit log keeps no record of
// them (checked at the end) and no approval request exists.
func testDryRunsLeaveNothing(ctx context.Context, t *testing.T, e *env) {
	const name = "web-dry-run-signed"
	r := e.c.Kubectl(ctx, harness.Deployer, deployment(enforced, name, e.im.Ref(webTag), 1), "apply", "--dry-run=server", "-f", "-")
	if r.Err != nil || !strings.Contains(r.Stdout, "(server dry run)") {
		t.Fatalf("want the signed Deployment admitted in a server dry run:\n%s", r)
	}
	wantNoDeployment(ctx, t, e.c, enforced, name)

	r = e.c.Kubectl(ctx, harness.Alice, deployment(prod, prodName, e.im.Ref(apiTag), 1), "apply", "--dry-run=server", "-f", "-")
	wantRefused(t, r, "Deployment", prod, prodName, "no approval request exists for this exact rollout and a dry run creates none")
	wantNoDeployment(ctx, t, e.c, prod, prodName)

	if got := listApprovals(ctx, t, e, harness.Bob); len(got) != 0 {
		t.Errorf("the dry runs left approval requests: %+v", got)
	}
}

// approvalRequest is what `shipgate approvals … -o json` prints of one.
type approvalRequest struct {
	ID        string `json:"id"`
	Namespace string `json:"namespace"`
	Kind      string `json:"kind"`
	Name      string `json:"name"`
	State     string `json:"state"`
	// ExpiresAt is when the request or its approval lapses; DecidedAt
	// when it was approved, rejected or expired.
	ExpiresAt time.Time `json:"expiresAt"`
	DecidedAt time.Time `json:"decidedAt"`
}

// listApprovals lists the approval requests of the production namespace
// as user.
func listApprovals(ctx context.Context, t *testing.T, e *env, user string) []approvalRequest {
	t.Helper()
	return listApprovalsIn(ctx, t, e, user, prod)
}

// listApprovalsIn lists the approval requests of namespace ns as user.
func listApprovalsIn(ctx context.Context, t *testing.T, e *env, user, ns string) []approvalRequest {
	t.Helper()
	out, err := e.sg.API(ctx, user, "approvals", "list", "-n", ns, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var got []approvalRequest
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("reading approvals list output: %v\n%s", err, out)
	}
	return got
}
