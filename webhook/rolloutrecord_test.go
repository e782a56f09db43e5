package webhook

import (
	"strings"
	"testing"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestRolloutRecordCommitsWithItsAuditRecord: with an audit log, an
// admitted rollout's record and pin are written in the transaction that
// appends its audit record: both are there after the answer, naming the
// same decision; a retried request writes neither again; and when the log
// cannot take the record, the enforced rollout is refused and no rollout
// record or pin is left behind.
func TestRolloutRecordCommitsWithItsAuditRecord(t *testing.T) {
	for _, dialect := range storetest.Dialects {
		t.Run(string(dialect), func(t *testing.T) {
			db := storetest.Open(t, dialect)
			l, err := audit.New(db)
			if err != nil {
				t.Fatal(err)
			}
			p := newPinningOn(t, db, WithRecorder(NewAuditRecorder(l)))
			imgs, v := p.imgs, p.validate
			ref, digest := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)

			d := v.Decide(t.Context(), review(t, "u1", "Deployment", "apps", deployerUser, deploymentJSON("web", ref), false))
			if !d.Allowed {
				t.Fatalf("the signed Deployment was refused: %v", d.Reasons)
			}
			r, _, ok, err := db.GetRollout(t.Context(), d.Fingerprint)
			if err != nil || !ok || r.DecisionID != d.ID || r.Digests[ref] != digest {
				t.Fatalf("rollout record %+v %v %v, want decision %s with %s", r, ok, err, d.ID, digest)
			}
			entries, _, err := l.Query(t.Context(), audit.Filter{Name: "web"}, "", 10)
			if err != nil || len(entries) != 1 || entries[0].Record.DecisionID != d.ID {
				t.Fatalf("audit records of web: %+v %v, want one for decision %s", entries, err, d.ID)
			}

			// The same request again (the API server retried it): one audit
			// record, and the rollout record still names the first decision.
			if d2 := v.Decide(t.Context(), review(t, "u1", "Deployment", "apps", deployerUser, deploymentJSON("web", ref), false)); !d2.Allowed {
				t.Fatalf("the retried Deployment was refused: %v", d2.Reasons)
			}
			if r, _, _, _ := db.GetRollout(t.Context(), d.Fingerprint); r.DecisionID != d.ID {
				t.Errorf("a retried request rewrote the rollout record: decision %s, want %s", r.DecisionID, d.ID)
			}
			if size, err := l.Size(t.Context()); err != nil || size != 1 {
				t.Errorf("log size %d (%v) after a retried request, want 1", size, err)
			}

			// The log is closed: the enforced rollout is refused and nothing
			// of it is written.
			l.Close()
			d3 := v.Decide(t.Context(), review(t, "u2", "Deployment", "apps", deployerUser, deploymentJSON("api", ref), false))
			if d3.Allowed || !strings.Contains(d3.Message(), "audit store unavailable") {
				t.Fatalf("a rollout the log cannot take: allowed=%v %q, want refused: audit store unavailable", d3.Allowed, d3.Message())
			}
			if _, ok, err := db.GetPin(t.Context(), "shop", "Deployment", "api"); ok || err != nil {
				t.Errorf("a refused rollout left a pin (%v, %v)", ok, err)
			}
			if d3.Fingerprint != "" {
				if _, _, ok, _ := db.GetRollout(t.Context(), d3.Fingerprint); ok {
					t.Error("a refused rollout left a rollout record")
				}
			}
		})
	}
}
