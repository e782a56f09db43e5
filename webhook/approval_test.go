package webhook

import (
	"encoding/json"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store/storetest"
)

// approvalGateway asks two release managers to approve every rollout.
const approvalGateway = `apiVersion: shipgate.dev/v1alpha1
kind: GatewayConfig
defaults:
  mode: enforce
  approval:
    approvers: 2
    groups: [release-managers]
    expiry: {pending: 72h, approved: 24h}
`

// approvalValidator is a validator with a real approval service on a
// SQLite store.
func approvalValidator(t *testing.T) (*Validator, *approval.Service) {
	t.Helper()
	db := storetest.Open(t, storetest.Dialects[0])
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := audit.New(db, audit.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approval.New(db, l, approval.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second); l.Close() })
	cfg, err := config.Parse("gateway.yaml", []byte(approvalGateway))
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithApprovals(svc), WithOwners(cluster),
		WithIDs(sequence()), WithLogger(quiet))
	return v, svc
}

// reviewWith is a request fixture with change applied to its request.
func reviewWith(t *testing.T, name string, change func(r map[string]any)) *Request {
	t.Helper()
	var review map[string]any
	if err := json.Unmarshal(readRequest(t, name), &review); err != nil {
		t.Fatal(err)
	}
	if change != nil {
		change(review["request"].(map[string]any))
	}
	b, _ := json.Marshal(review)
	req, err := DecodeReview(b)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// TestApprovalStep: refused pending approval with the request id and how
// to approve; the same request on a re-apply; nothing created on a dry run;
// admitted once two release managers approved, the decision and its audit
// record naming the approval and the approvers; inherited objects never
// asked.
func TestApprovalStep(t *testing.T) {
	t.Parallel()
	v, svc := approvalValidator(t)
	ctx := t.Context()
	alice := approval.User{Name: "alice", Groups: []string{"release-managers"}}
	bob := approval.User{Name: "bob", Groups: []string{"release-managers"}}

	dry := v.Decide(ctx, reviewWith(t, "deployment-create-prod", func(r map[string]any) { r["dryRun"] = true }))
	if dry.Allowed || dry.ApprovalRequest != "" || !strings.Contains(dry.Message(), "a dry run creates none") {
		t.Fatalf("dry run: allowed=%v request=%q\n%s", dry.Allowed, dry.ApprovalRequest, dry.Message())
	}
	if list, _ := svc.List(ctx, approval.Filter{}); len(list) != 0 {
		t.Fatalf("a dry run created %d approval requests", len(list))
	}

	d := v.Decide(ctx, reviewWith(t, "deployment-create-prod", nil))
	id := d.ApprovalRequest
	if d.Allowed || d.Code != 403 || id == "" {
		t.Fatalf("first apply: allowed=%v code=%d request=%q\n%s", d.Allowed, d.Code, id, d.Message())
	}
	for _, want := range []string{
		"shipgate: Deployment prod-payments/web: the namespace binding requires approval by 2 distinct people from release-managers",
		"approval request " + id + " is pending (0 of 2 approvals from release-managers (the namespace binding))",
		"`shipgate approvals approve " + id + "`", "POST /v1/approvals/" + id + "/approve",
	} {
		if !strings.Contains(d.Message(), want) {
			t.Errorf("message lacks %q:\n%s", want, d.Message())
		}
	}
	if again := v.Decide(ctx, reviewWith(t, "deployment-create-prod", nil)); again.ApprovalRequest != id {
		t.Errorf("re-apply names request %q, want %q", again.ApprovalRequest, id)
	}
	r, err := svc.Get(ctx, id)
	if err != nil || r.Requester.Name != "system:serviceaccount:ci:deployer" || r.Fingerprint != d.Fingerprint || r.DecisionID != d.ID {
		t.Fatalf("the stored request: %+v, %v", r, err)
	}

	for _, who := range []approval.User{alice, bob} {
		if _, err := svc.Approve(ctx, id, who, approval.VoteInput{}); err != nil {
			t.Fatal(err)
		}
	}
	req := reviewWith(t, "deployment-create-prod", nil)
	d = v.Decide(ctx, req)
	if !d.Allowed || !slices.Equal(d.Approvals, []string{id}) || !slices.Equal(d.Approvers, []string{"alice", "bob"}) {
		t.Fatalf("after approval: allowed=%v approvals=%q approvers=%q\n%s", d.Allowed, d.Approvals, d.Approvers, d.Message())
	}
	rec := AuditRecord(d, req)
	if !slices.Equal(rec.Approvals, []string{id}) || string(rec.Details) != `{"approvers":["alice","bob"]}` {
		t.Errorf("audit record approvals %q, details %s", rec.Approvals, rec.Details)
	}

	// Another image digest or env var is another fingerprint: refused again.
	changed := v.Decide(ctx, reviewWith(t, "deployment-create-prod", func(r map[string]any) {
		spec := r["object"].(map[string]any)["spec"].(map[string]any)["template"].(map[string]any)["spec"].(map[string]any)
		c := spec["containers"].([]any)[0].(map[string]any)
		c["env"] = []any{map[string]any{"name": "FEATURE", "value": "on"}}
	}))
	if changed.Allowed || changed.ApprovalRequest == id || changed.ApprovalRequest == "" {
		t.Errorf("a changed env var: allowed=%v request=%q; want a new pending request", changed.Allowed, changed.ApprovalRequest)
	}

	inherited := v.Decide(ctx, reviewWith(t, "pod-create-inherited", nil))
	if !inherited.Allowed || inherited.ApprovalRequest != "" || len(inherited.Reasons) != 0 {
		t.Errorf("an inherited Pod: allowed=%v request=%q reasons=%v", inherited.Allowed, inherited.ApprovalRequest, inherited.Reasons)
	}
}

// TestApprovalStoreDown: approvals that cannot be checked refuse the
// rollout in an enforced namespace (fail closed), saying why.
func TestApprovalStoreDown(t *testing.T) {
	t.Parallel()
	db := storetest.Open(t, storetest.Dialects[0])
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	l, err := audit.New(db, audit.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	svc, err := approval.New(db, l, approval.WithLogger(quiet))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second); l.Close() })
	cfg, err := config.Parse("gateway.yaml", []byte(approvalGateway))
	if err != nil {
		t.Fatal(err)
	}
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithApprovals(svc), WithIDs(sequence()), WithLogger(quiet))
	db.Close()
	d := v.Decide(t.Context(), reviewWith(t, "deployment-create-prod", nil))
	if d.Allowed || d.Code != 503 || !strings.Contains(d.Message(), "approvals could not be checked: ") {
		t.Errorf("store down: allowed=%v code=%d\n%s", d.Allowed, d.Code, d.Message())
	}
}
