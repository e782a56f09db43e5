package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// The approval-expiry scenario runs in its own production namespace, whose
// binding gives an approval only approvedExpiry: long enough for the
// deployer to apply the approved rollout on two busy cores, short enough
// to lapse while the scenarios between its two steps run.
const (
	// expiring matches the binding before prod-*: the same rule, but
	// approvals that lapse after approvedExpiry.
	expiring = "prod-expiring"
	// expiringName is its rollout.
	expiringName = "checkout"
	// approvedExpiry is the binding's expiry.approved.
	approvedExpiry = 20 * time.Second
	// sweepInterval is the config's approvals.sweepInterval: how often
	// shipgate expires lapsed requests nobody asks about (default 30s).
	sweepInterval = time.Second
	// expiredScale is the replicas of the scale-up after the approval
	// lapsed.
	expiredScale = 3
)

// expiringBinding is the namespace binding of the expiring namespace: the
// production rule of gatewayConfig with a short approval.
func expiringBinding() map[string]any {
	return map[string]any{
		"match": map[string]any{"names": []string{expiring}, "labels": map[string]string{"env": "prod"}},
		"mode":  "enforce",
		"approval": map[string]any{
			"approvers":        2,
			"groups":           []string{harness.GroupReleaseManagers},
			"breakGlassGroups": []string{harness.GroupSREOncall},
			"expiry":           map[string]any{"pending": "72h", "approved": approvedExpiry.String(), "breakGlass": "1h"},
		},
	}
}

// testApprovedThenExpiring: in a production namespace whose approvals live
// approvedExpiry, the deployer's rollout waits for two approvals; bob and
// carol approve and the deployer's second apply is admitted, naming the
// request, which is then used. Its ReplicaSet and Pod are made under the
// approval. testScaleAfterExpiry picks it up once the approval has lapsed.
func testApprovedThenExpiring(ctx context.Context, t *testing.T, e *env) {
	manifest := deployment(expiring, expiringName, e.im.Ref(apiTag), 1)
	r := e.c.Kubectl(ctx, harness.Deployer, manifest, "apply", "-f", "-")
	id := wantApprovalPending(t, r, expiring, expiringName)
	e.expect(approvalEvent("requested", expiring, expiringName, harness.Deployer),
		admission("Deployment", expiring, expiringName, "denied", harness.Deployer))

	for _, user := range []string{harness.Bob, harness.Carol} {
		if out, err := e.sg.API(ctx, user, "approvals", "approve", id, "--comment", "reviewed by "+user); err != nil {
			t.Fatalf("%s's approval of %s: %v", user, id, err)
		} else {
			e.log.Printf("shipgate approvals approve %s as %s: %s", id, user, strings.TrimSpace(out))
		}
	}
	e.expect(approvalEvent("approved", expiring, expiringName, harness.Bob),
		approvalEvent("approved", expiring, expiringName, harness.Carol))
	approved := time.Now()

	r = e.c.Kubectl(ctx, harness.Deployer, manifest, "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the approved rollout admitted (%s after the second approval; the approval lives %s):\n%s",
			time.Since(approved).Round(time.Millisecond), approvedExpiry, r)
	}
	e.expect(approvalEvent("used", expiring, expiringName, harness.Deployer),
		admission("Deployment", expiring, expiringName, "admitted", harness.Deployer))
	req := getApproval(ctx, t, e, id)
	if req.State != "used" {
		t.Fatalf("approval request %s is %s after the rollout, want used", id, req.State)
	}
	e.expiring.approval, e.expiring.expiresAt = id, req.ExpiresAt
	for _, p := range waitPods(ctx, t, e, expiring, "app="+expiringName, 1) {
		wantImage(t, p, e.im.Pinned(apiTag))
	}
	e.expiring.rs = oneReplicaSet(ctx, t, e, expiring, expiringName).Name
	e.log.Printf("Deployment %s/%s admitted %s after the second approval; approval %s lapses at %s",
		expiring, expiringName, time.Since(approved).Round(time.Millisecond), id, req.ExpiresAt.Format(time.RFC3339))
}

// testScaleAfterExpiry: the approval that admitted the rollout lapses and
// shipgate's sweep (approvals.sweepInterval) expires it, recording an
// "expired" event; the test waits for that record through the audit API
// (each read it makes is itself recorded, and counted), so the log's
// contents do not depend on when the sweep runs. The deployer then scales
// the Deployment up with kubectl scale: a scale is not a rollout, so
// nothing asks for the lapsed approval; the ReplicaSet controller's new
// Pods inherit the rollout's decision and digests. No rollout record and
// no approval request is made (the audit log is checked at the end).
func testScaleAfterExpiry(ctx context.Context, t *testing.T, e *env) {
	id := e.expiring.approval
	if id == "" {
		t.Fatal("no approval: testApprovedThenExpiring failed")
	}
	// The bound: the approval's remaining life, a sweep, and slack for a
	// busy machine.
	bound := time.Until(e.expiring.expiresAt) + sweepInterval + 30*time.Second
	var req approvalRequest
	eventually(ctx, t, "approval request "+id+" expired", max(bound, 30*time.Second), func(ctx context.Context) error {
		var err error
		if req, err = fetchApproval(ctx, e, id); err != nil {
			return err
		}
		if req.State != "expired" {
			return fmt.Errorf("state %s, expires at %s", req.State, req.ExpiresAt.Format(time.RFC3339))
		}
		return nil
	})
	// The sweep ran within a few sweep intervals of the expiry: the
	// configured interval is in force (the default, 30s, would usually
	// miss this bound).
	if late := req.DecidedAt.Sub(req.ExpiresAt); late < 0 || late > 10*sweepInterval {
		t.Errorf("approval request %s expired at %s, %s after its expiry %s; want within %s (approvals.sweepInterval %s)",
			id, req.DecidedAt.Format(time.RFC3339Nano), late, req.ExpiresAt.Format(time.RFC3339Nano), 10*sweepInterval, sweepInterval)
	}
	e.expect(approvalEvent("expired", expiring, expiringName, ""))

	reads := 0
	eventually(ctx, t, "the audit log's expired event of approval "+id, 30*time.Second, func(ctx context.Context) error {
		out, err := e.sg.API(ctx, harness.Auditor, "audit", "query", "-n", expiring, "--kind", "Deployment", "--name", expiringName, "-o", "json")
		if err != nil {
			// Whether a failed read was recorded is unknown: the expected
			// set would no longer be exact.
			t.Fatalf("the auditor's audit query: %v", err)
		}
		reads++ // the API records a read before it answers it
		var entries []auditEntry
		if err := json.Unmarshal([]byte(out), &entries); err != nil {
			return fmt.Errorf("reading audit query output: %v\n%s", err, out)
		}
		for _, en := range entries {
			if en.Record.Event == "approval" && en.Record.Decision == "expired" {
				return nil
			}
		}
		return fmt.Errorf("%d records of Deployment %s/%s, none an expired approval", len(entries), expiring, expiringName)
	})
	for range reads {
		e.expect(wantRecord{Event: "audit-read", User: harness.Auditor, Path: "/v1/audit/events"})
	}
	e.log.Printf("approval %s expired %s after its expiry; its audit record found by audit query %d",
		id, req.DecidedAt.Sub(req.ExpiresAt).Round(time.Millisecond), reads)

	rollouts := func() int {
		return len(e.sg.Decisions(func(l harness.LogLine) bool {
			return l.Namespace == expiring && l.Name == expiringName && l.Class == "rollout"
		}))
	}
	before := rollouts()
	scaleQuietly(ctx, t, e, expiring, expiringName, expiredScale, apiTag, e.expiring.rs, " after the approval expired")
	if rs := oneReplicaSet(ctx, t, e, expiring, expiringName).Name; rs != e.expiring.rs {
		t.Errorf("the scale made ReplicaSet %s beside %s: want the same one scaled", rs, e.expiring.rs)
	}
	if after := rollouts(); after != before {
		t.Errorf("shipgate judged %d rollouts of Deployment %s/%s during the scale, want none", after-before, expiring, expiringName)
	}
	got := listApprovalsIn(ctx, t, e, harness.Bob, expiring)
	if len(got) != 1 || got[0].ID != id || got[0].State != "expired" {
		t.Errorf("approval requests in %s after the scale: %+v; want only %s, expired", expiring, got, id)
	}
}

// getApproval reads an approval request as an approver.
func getApproval(ctx context.Context, t *testing.T, e *env, id string) approvalRequest {
	t.Helper()
	r, err := fetchApproval(ctx, e, id)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// fetchApproval reads an approval request as an approver (bob); reads of
// the approval API are not recorded in the audit log.
func fetchApproval(ctx context.Context, e *env, id string) (approvalRequest, error) {
	var r approvalRequest
	out, err := e.sg.API(ctx, harness.Bob, "approvals", "get", id, "-o", "json")
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		return r, fmt.Errorf("reading approvals get output: %w\n%s", err, out)
	}
	return r, nil
}
