package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/shipgate/shipgate/test/e2e/harness"
)

// prodName is the production rollout.
const prodName = "api"

// pendingRequest finds the approval request a denial names.
var pendingRequest = regexp.MustCompile(`approval request (\w+) is pending`)

// wantApprovalPending checks r is the refusal of Deployment ns/name for
// want of two release managers' approvals and returns the id of the
// pending request it names.
func wantApprovalPending(t *testing.T, r harness.Result, ns, name string) string {
	t.Helper()
	wantRefused(t, r, "Deployment", ns, name,
		"the namespace binding requires approval by 2 distinct people from "+harness.GroupReleaseManagers+"; approval request ")
	m := pendingRequest.FindStringSubmatch(r.Stderr)
	if m == nil {
		t.Fatalf("the denial names no pending approval request:\n%s", r)
	}
	return m[1]
}

// testApprovals: alice, herself a release manager, applies a production
// Deployment of a signed, tested image. It waits for two approvals from
// release-managers: kubectl prints the pending request and how to approve
// it. Through the approval API (TokenReview and SubjectAccessReview
// against the real API server, with `shipgate approvals approve`): alice's
// own approval is refused as self-approval, the deployer, who holds no
// approve verb, gets 403, bob and then carol approve. alice applies the
// same manifest again and it is admitted, naming the request; the
// controllers' Pods are pinned to the approved digest.
func testApprovals(ctx context.Context, t *testing.T, e *env) {
	manifest := deployment(prod, prodName, e.im.Ref(apiTag), 1)
	r := e.c.Kubectl(ctx, harness.Alice, manifest, "apply", "-f", "-")
	id := wantApprovalPending(t, r, prod, prodName)
	e.prodApproval = id
	for _, want := range []string{"is pending (0 of 2 approvals", "approve it with `shipgate approvals approve " + id + "`", "POST /v1/approvals/" + id + "/approve"} {
		if !strings.Contains(r.Stderr, want) {
			t.Errorf("kubectl's stderr lacks %q:\n%s", want, r)
		}
	}
	e.expect(approvalEvent("requested", prod, prodName, harness.Alice),
		admission("Deployment", prod, prodName, "denied", harness.Alice))
	e.log.Printf("kubectl said: %s", strings.TrimSpace(r.Stderr))

	vote := func(user string) (string, error) {
		out, err := e.sg.API(ctx, user, "approvals", "approve", id, "--comment", "reviewed by "+user)
		e.log.Printf("shipgate approvals approve %s as %s: %s", id, user, strings.TrimSpace(out))
		return out, err
	}
	out, err := vote(harness.Alice)
	wantVoteRefused(t, harness.Alice, out, err, fmt.Sprintf("%s requested approval %s for Deployment %s/%s and cannot approve it: approvals must come from someone other than the requester (HTTP 403 self-approval)",
		harness.Alice, id, prod, prodName))
	out, err = vote(harness.Deployer)
	wantVoteRefused(t, harness.Deployer, out, err, "(HTTP 403 forbidden)")

	out, err = vote(harness.Bob)
	if err != nil || !strings.Contains(out, "approval recorded; still pending (1 of 2 approvals") {
		t.Fatalf("bob's approval: want recorded, 1 of 2; got %v:\n%s", err, out)
	}
	out, err = vote(harness.Carol)
	if err != nil || !strings.Contains(out, fmt.Sprintf("approval request %s for Deployment %s/%s: approved by %s, %s", id, prod, prodName, harness.Bob, harness.Carol)) {
		t.Fatalf("carol's approval: want approved by bob, carol; got %v:\n%s", err, out)
	}
	e.expect(approvalEvent("approved", prod, prodName, harness.Bob), approvalEvent("approved", prod, prodName, harness.Carol))
	if st := approvalState(ctx, t, e, id); st != "approved" {
		t.Errorf("approval request %s is %s, want approved", id, st)
	}

	r = e.c.Kubectl(ctx, harness.Alice, manifest, "apply", "-f", "-")
	if r.Err != nil {
		t.Fatalf("want the approved rollout admitted:\n%s", r)
	}
	e.expect(approvalEvent("used", prod, prodName, harness.Alice),
		admission("Deployment", prod, prodName, "admitted", harness.Alice))
	if st := approvalState(ctx, t, e, id); st != "used" {
		t.Errorf("approval request %s is %s after the rollout, want used", id, st)
	}
	for _, p := range waitPods(ctx, t, e, prod, "app="+prodName, 1) {
		wantImage(t, p, e.im.Pinned(apiTag))
	}
}

// wantVoteRefused checks a vote failed with want in what the CLI printed.
func wantVoteRefused(t *testing.T, user, out string, err error, want string) {
	t.Helper()
	if err == nil || !strings.Contains(out, want) {
		t.Errorf("%s's approval: want refused with %q, got %v:\n%s", user, want, err, out)
	}
}

// approvalState reads an approval request's state as an approver.
func approvalState(ctx context.Context, t *testing.T, e *env, id string) string {
	t.Helper()
	out, err := e.sg.API(ctx, harness.Bob, "approvals", "get", id, "-o", "json")
	if err != nil {
		t.Fatal(err)
	}
	var r approvalRequest
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("reading approvals get output: %v\n%s", err, out)
	}
	return r.State
}
