package approval_test

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestRefusals: each rule of the issue, broken once, refused with a
// message that says why — on both backends.
func TestRefusals(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		// setup acts on the new pending request id before the vote.
		setup   func(t *testing.T, e *env, id string)
		by      auth.User
		reject  bool
		in      approval.VoteInput
		want    error
		says    []string
		missing bool // vote on an id that does not exist
	}{
		"self-approval": {
			by: ci, want: approval.ErrSelfApproval,
			says: []string{"system:serviceaccount:ci:deployer requested approval", "cannot approve it", "someone other than the requester"},
		},
		"self-rejection": {
			by: ci, reject: true, want: approval.ErrSelfApproval, says: []string{"cannot reject it"},
		},
		"an approver outside the required groups": {
			by: dave, want: approval.ErrNotEligible, says: []string{"dave is not in release-managers, the groups that may approve"},
		},
		"a break-glass group member approving ordinarily": {
			by: carol, want: approval.ErrNotEligible, says: []string{"carol is not in release-managers"},
		},
		"a double vote": {
			setup: func(t *testing.T, e *env, id string) { approve(t, e, id, alice) },
			by:    alice, want: approval.ErrAlreadyVoted, says: []string{"alice already approved", "the same person counts once"},
		},
		"an expired pending request": {
			setup: func(t *testing.T, e *env, id string) { e.age(t, id) },
			by:    alice, want: approval.ErrExpired, says: []string{"expired at", "apply the rollout again"},
		},
		"approval after a rejection": {
			setup: func(t *testing.T, e *env, id string) {
				if _, err := e.svc.Reject(t.Context(), id, bob, "the migration drops a column"); err != nil {
					t.Fatal(err)
				}
			},
			by: alice, want: approval.ErrRejected,
			says: []string{"was rejected by bob", "(the migration drops a column)", "a rejection ends a request"},
		},
		"a vote on an approved request": {
			setup: func(t *testing.T, e *env, id string) { approve(t, e, id, alice); approve(t, e, id, bob) },
			by:    frank, want: approval.ErrDecided, says: []string{"already approved (by alice, bob)"},
		},
		"break-glass without a reason": {
			by: carol, in: approval.VoteInput{BreakGlass: true, Comment: "  "}, want: approval.ErrInvalid,
			says: []string{"a break-glass approval needs a reason"},
		},
		"break-glass from outside the break-glass groups": {
			by: alice, in: approval.VoteInput{BreakGlass: true, Comment: "outage"}, want: approval.ErrNotEligible,
			says: []string{"alice is not in sre-oncall, the break-glass groups"},
		},
		"an unknown request": {
			missing: true, by: alice, want: approval.ErrNotFound, says: []string{`no approval request "nope"`},
		},
	}
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			i := 0
			for name, tc := range tests {
				i++
				fp := "sha256:refusal-" + string(rune('a'+i))
				t.Run(name, func(t *testing.T) {
					id := "nope"
					if !tc.missing {
						id = e.pending(t, fp)
					}
					if tc.setup != nil {
						tc.setup(t, e, id)
					}
					var err error
					if tc.reject {
						_, err = e.svc.Reject(t.Context(), id, tc.by, "")
					} else {
						_, err = e.svc.Approve(t.Context(), id, tc.by, tc.in)
					}
					refused(t, err, tc.want, tc.says...)
				})
			}
		})
	}
}

func approve(t *testing.T, e *env, id string, by auth.User) *approval.Request {
	t.Helper()
	r, err := e.svc.Approve(t.Context(), id, by, approval.VoteInput{Comment: "looks good"})
	if err != nil {
		t.Fatalf("%s approving %s: %v", by.Name, id, err)
	}
	return r
}

// TestRequireFlow: refused pending approval, the request reused on a
// re-apply, one approver not enough, the second approves, the rollout is
// admitted and its use recorded; the audit log shows it all.
func TestRequireFlow(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			ctx := t.Context()

			// A dry run creates nothing.
			q := query("sha256:flow")
			q.DryRun = true
			out, err := e.svc.Require(ctx, q)
			if err != nil || out.Satisfied || out.RequestID != "" {
				t.Fatalf("dry run: %+v, %v; want no request", out, err)
			}
			if list, _ := e.svc.List(ctx, approval.Filter{}); len(list) != 0 {
				t.Fatalf("a dry run created %d requests", len(list))
			}

			id := e.pending(t, "sha256:flow")
			again, err := e.svc.Require(ctx, query("sha256:flow"))
			if err != nil || again.RequestID != id || again.Created {
				t.Fatalf("re-apply: %+v, %v; want the same pending request %s", again, err, id)
			}
			r := approve(t, e, id, alice)
			if r.State != approval.Pending || !strings.Contains(r.Progress(), "1 of 2 approvals from release-managers") {
				t.Fatalf("after one approval: %s, %q", r.State, r.Progress())
			}
			if out, _ := e.svc.Require(ctx, query("sha256:flow")); out.Satisfied || out.RequestID != id {
				t.Fatalf("one approver is not enough: %+v", out)
			}
			r = approve(t, e, id, bob)
			if r.State != approval.Approved || r.ExpiresAt.Sub(r.DecidedAt) != 24*time.Hour {
				t.Fatalf("after two approvals: %s, expires %s after approval", r.State, r.ExpiresAt.Sub(r.DecidedAt))
			}

			out, err = e.svc.Require(ctx, query("sha256:flow"))
			if err != nil || !out.Satisfied || !slices.Equal(out.Approvals, []string{id}) || !slices.Equal(out.Approvers, []string{"alice", "bob"}) {
				t.Fatalf("approved rollout: %+v, %v", out, err)
			}
			// A re-apply (the API server's retry) is admitted again, counted.
			if out, _ := e.svc.Require(ctx, query("sha256:flow")); !out.Satisfied {
				t.Fatalf("re-apply of the approved rollout: %+v", out)
			}
			got, err := e.svc.Get(ctx, id)
			if err != nil || got.State != approval.Used || got.Uses != 2 || got.UsedAt.IsZero() {
				t.Fatalf("after use: %+v, %v", got, err)
			}
			want := []string{"requested:" + ci.Name, "approved:alice", "approved:bob", "used:" + ci.Name, "used:" + ci.Name}
			if ev := e.events(t, id); !slices.Equal(ev, want) {
				t.Errorf("audit events %q, want %q", ev, want)
			}
			if det := e.details(t, id, approval.ActionRequested); det.State != approval.Pending || len(det.Requirements) != 1 ||
				det.Requirements[0] != "the namespace binding requires approval by 2 distinct people from release-managers" {
				t.Errorf("requested details %+v", det)
			}
		})
	}
}

// TestEachRequirementOnItsOwn: the binding's rule and a policy's are each
// met on their own; one person may meet both.
func TestEachRequirementOnItsOwn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	q := query("sha256:two-rules")
	q.Requirements = append(q.Requirements, approval.FromPolicy("security", 1, []string{"security"}, "new image", prodRule))
	out, err := e.svc.Require(t.Context(), q)
	if err != nil {
		t.Fatal(err)
	}
	id := out.RequestID
	approve(t, e, id, alice)
	if r := approve(t, e, id, bob); r.State != approval.Pending || !strings.Contains(r.Progress(), "0 of 1 approval from security (policy security)") {
		t.Fatalf("two release managers but no security approval: %s, %q", r.State, r.Progress())
	}
	if r := approve(t, e, id, eve); r.State != approval.Approved {
		t.Fatalf("after security approved: %s", r.State)
	}

	// frank is in both groups: he and alice meet both rules.
	q.Fingerprint = "sha256:two-rules-2"
	out, _ = e.svc.Require(t.Context(), q)
	approve(t, e, out.RequestID, frank)
	if r := approve(t, e, out.RequestID, alice); r.State != approval.Approved {
		t.Fatalf("frank (both groups) and alice: %s, %q", r.State, r.Progress())
	}
}

// TestTheDeployerNeverCounts: approvals by the person applying the rollout
// do not admit it, even on a request someone else made.
func TestTheDeployerNeverCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	id := e.pending(t, "sha256:deployer")
	approve(t, e, id, alice)
	approve(t, e, id, bob)
	q := query("sha256:deployer")
	q.Requester = alice
	out, err := e.svc.Require(t.Context(), q)
	if err != nil || out.Satisfied || out.RequestID == id {
		t.Fatalf("alice deploying what she approved: %+v, %v; want a new pending request", out, err)
	}
}

// TestExpiry: lapsed requests and approvals, judged by the store's clock.
func TestExpiry(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			ctx := t.Context()

			// An expired pending request: Require replaces it.
			old := e.pending(t, "sha256:lapsed")
			e.age(t, old)
			out, err := e.svc.Require(ctx, query("sha256:lapsed"))
			if err != nil || out.RequestID == old || !out.Created {
				t.Fatalf("after the pending request lapsed: %+v, %v; want a new one", out, err)
			}
			if r, _ := e.svc.Get(ctx, old); r.State != approval.Expired {
				t.Errorf("lapsed request is %s", r.State)
			}

			// An expired approval no longer admits.
			id := out.RequestID
			approve(t, e, id, alice)
			approve(t, e, id, bob)
			e.age(t, id)
			out, err = e.svc.Require(ctx, query("sha256:lapsed"))
			if err != nil || out.Satisfied || out.RequestID == id {
				t.Fatalf("after the approval expired: %+v, %v; want a new pending request", out, err)
			}
			if ev := e.events(t, id); ev[len(ev)-1] != "expired:" {
				t.Errorf("events of the expired approval: %q", ev)
			}

			// Expire finds lapsed requests nobody asks about.
			idle := e.pending(t, "sha256:idle")
			e.age(t, idle)
			if n, err := e.svc.Expire(ctx); err != nil || n != 1 {
				t.Fatalf("Expire = %d, %v; want 1", n, err)
			}
			if n, _ := e.svc.Expire(ctx); n != 0 {
				t.Errorf("a second Expire found %d", n)
			}
			list, err := e.svc.List(ctx, approval.Filter{Namespace: "prod-payments", State: approval.Expired})
			if err != nil || len(list) != 3 {
				t.Errorf("expired requests: %d, %v; want 3", len(list), err)
			}
		})
	}
}

// TestBreakGlass: one approval with a reason is enough, expires within the
// break-glass expiry and is flagged in the audit log and on the outcome.
func TestBreakGlass(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	id := e.pending(t, "sha256:glass")
	r, err := e.svc.Approve(t.Context(), id, carol, approval.VoteInput{BreakGlass: true, Comment: "payments down, INC-4711"})
	if err != nil {
		t.Fatal(err)
	}
	if r.State != approval.Approved || !r.BreakGlass || r.BreakGlassReason != "payments down, INC-4711" || r.ExpiresAt.Sub(r.DecidedAt) != time.Hour {
		t.Fatalf("break-glass request: %+v", r)
	}
	out, err := e.svc.Require(t.Context(), query("sha256:glass"))
	if err != nil || !out.Satisfied || !out.BreakGlass || !slices.Equal(out.Approvers, []string{"carol"}) {
		t.Fatalf("break-glass admission: %+v, %v", out, err)
	}
	if d := e.details(t, id, approval.ActionBreakGlass); !d.BreakGlass || d.Comment != "payments down, INC-4711" {
		t.Errorf("break-glass record: %+v", d)
	}
	if d := e.details(t, id, approval.ActionUsed); !d.BreakGlass {
		t.Errorf("the use of a break-glass approval is not flagged: %+v", d)
	}
}

func TestRejectionEndsTheRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	id := e.pending(t, "sha256:no")
	approve(t, e, id, alice)
	r, err := e.svc.Reject(t.Context(), id, bob, "not during the freeze")
	if err != nil || r.State != approval.Rejected {
		t.Fatalf("Reject = %+v, %v", r, err)
	}
	out, _ := e.svc.Require(t.Context(), query("sha256:no"))
	if out.Satisfied || out.RequestID == id {
		t.Errorf("after a rejection: %+v; want a new request", out)
	}
	if ev := e.events(t, id); !slices.Equal(ev, []string{"requested:" + ci.Name, "approved:alice", "rejected:bob"}) {
		t.Errorf("events %q", ev)
	}
}
