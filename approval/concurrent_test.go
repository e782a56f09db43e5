package approval_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestReplicasApprovingConcurrently: two gateway replicas, each with its
// own connection pool, audit log writer and Service, on one store. For
// every request: both replicas see the rollout at once and share one
// pending request; two approvers vote at the same moment through different
// replicas and both votes count, the request approved exactly once; one
// approver voting through both replicas at once counts once.
func TestReplicasApprovingConcurrently(t *testing.T) {
	t.Parallel()
	const rounds = 15
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			url := storetest.URL(t, d)
			replicas := [2]*env{}
			for i := range replicas {
				db, err := store.Open(t.Context(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				replicas[i] = onStore(t, db)
			}
			// at runs f on both replicas at the same moment.
			at := func(f func(i int, e *env) error) [2]error {
				var errs [2]error
				var wg sync.WaitGroup
				start := make(chan struct{})
				for i, e := range replicas {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-start
						errs[i] = f(i, e)
					}()
				}
				close(start)
				wg.Wait()
				return errs
			}

			for round := range rounds {
				fp := fmt.Sprintf("sha256:concurrent-%d", round)
				var ids [2]string
				errs := at(func(i int, e *env) error {
					out, err := e.svc.Require(t.Context(), query(fp))
					ids[i] = out.RequestID
					return err
				})
				if errs[0] != nil || errs[1] != nil || ids[0] == "" || ids[0] != ids[1] {
					t.Fatalf("round %d: both replicas asking at once got %q (%v, %v); want one shared request", round, ids, errs[0], errs[1])
				}
				id := ids[0]

				errs = at(func(i int, e *env) error {
					_, err := e.svc.Approve(t.Context(), id, []auth.User{alice, bob}[i], approval.VoteInput{})
					return err
				})
				if errs[0] != nil || errs[1] != nil {
					t.Fatalf("round %d: concurrent approvals: %v, %v", round, errs[0], errs[1])
				}
				r, err := replicas[0].svc.Get(t.Context(), id)
				if err != nil || r.State != approval.Approved || len(r.Votes) != 2 {
					t.Fatalf("round %d: after two concurrent approvals: state %s, %d votes (%v); want approved with 2", round, r.State, len(r.Votes), err)
				}

				// One person through both replicas at once.
				twice := fmt.Sprintf("sha256:twice-%d", round)
				out, err := replicas[0].svc.Require(t.Context(), query(twice))
				if err != nil {
					t.Fatal(err)
				}
				errs = at(func(_ int, e *env) error {
					_, err := e.svc.Approve(t.Context(), out.RequestID, frank, approval.VoteInput{})
					return err
				})
				ok := 0
				for _, err := range errs {
					switch {
					case err == nil:
						ok++
					case !errors.Is(err, approval.ErrAlreadyVoted):
						t.Fatalf("round %d: frank's second vote: %v; want ErrAlreadyVoted", round, err)
					}
				}
				if r, _ := replicas[1].svc.Get(t.Context(), out.RequestID); ok != 1 || len(r.Votes) != 1 || r.State != approval.Pending {
					t.Fatalf("round %d: frank voting twice at once: %d accepted, %d votes, %s; want 1, 1, pending", round, ok, len(r.Votes), r.State)
				}
			}

			// The audit log, one tree for both replicas, holds each event once:
			// per round one request created, three votes, one completing.
			completed, votes, requested := 0, 0, 0
			entries, _, err := replicas[1].log.Query(t.Context(), audit.Filter{}, "", audit.MaxLimit)
			if err != nil {
				t.Fatal(err)
			}
			for _, en := range entries {
				var det approval.Details
				_ = json.Unmarshal(en.Record.Details, &det)
				switch en.Record.Decision {
				case approval.ActionRequested:
					requested++
				case approval.ActionApproved:
					votes++
					if det.State == approval.Approved {
						completed++
					}
				}
			}
			if requested != 2*rounds || votes != 3*rounds || completed != rounds {
				t.Errorf("audit log: %d requested, %d votes, %d completing; want %d, %d, %d", requested, votes, completed, 2*rounds, 3*rounds, rounds)
			}
		})
	}
}
