package webhook

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestPostgresRestart: while PostgreSQL is down, an enforced rollout is
// refused as unrecordable, a warn namespace's is let through with a
// warning, and Pods of a rollout admitted earlier are still admitted and
// pinned; when it is back the gateway recovers by itself, and every
// rollout it admitted is in the log.
func TestPostgresRestart(t *testing.T) {
	srv := storetest.NewServer(t)
	db, err := store.Open(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	g := newFaultGateway(t, db)

	if d := g.decide(t, g.rollout(t, "r1", "shop", "web")); !d.Allowed {
		t.Fatalf("before the restart: %v", d.Reasons)
	}
	if d := g.decide(t, g.replicaSet(t, "rs1")); !d.Allowed {
		t.Fatalf("the ReplicaSet: %v", d.Reasons)
	}

	srv.Stop(t)

	if d := g.decide(t, g.rollout(t, "r2", "shop", "api")); d.Allowed || !strings.Contains(d.Message(), "audit store unavailable") {
		t.Errorf("an enforced rollout with the store down: allowed=%v %q, want refused: audit store unavailable", d.Allowed, d.Message())
	}
	// A warn namespace's rollout admitted while the store is down goes to
	// the JSON log and a metric only, with a warning saying so.
	if d := g.decide(t, g.rollout(t, "r3", "dev-a", "tool")); !d.Allowed || len(d.Warnings) == 0 || !strings.Contains(strings.Join(d.Warnings, " "), "not recorded") {
		t.Errorf("a warn namespace's rollout with the store down: allowed=%v warnings %q", d.Allowed, d.Warnings)
	}
	if n := g.unrecorded(config.ModeWarn); n != 1 {
		t.Errorf("shipgate_audit_unrecorded_total{mode=\"warn\"} = %v, want 1", n)
	}
	if n := g.unrecorded(config.ModeEnforce); n != 0 {
		t.Errorf("shipgate_audit_unrecorded_total{mode=\"enforce\"} = %v, want 0: an enforced rollout is never let through unrecorded", n)
	}
	g.checkInheritedPod(t, "p1", "with the store down")

	srv.Start(t)
	recovered := false
	for i := range 100 {
		uid := fmt.Sprintf("r4-%d", i)
		if d := g.decide(t, g.rollout(t, uid, "shop", "api")); d.Allowed {
			recovered = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("the gateway did not recover after PostgreSQL came back")
	}
	g.checkEveryAdmissionRecorded(t)
}

// reviewIn is review in namespace ns.
func reviewIn(t *testing.T, uid, ns, kind, group, user, object string) *Request {
	t.Helper()
	object = strings.Replace(object, `"namespace":"shop"`, `"namespace":"`+ns+`"`, 1)
	raw := fmt.Sprintf(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":%q,
		"kind":{"group":%q,"version":"v1","kind":%q},"resource":{"group":%q,"version":"v1","resource":"x"},
		"namespace":%q,"operation":"CREATE","userInfo":{"username":%q},"object":%s}}`,
		uid, group, kind, group, ns, user, object)
	req, err := DecodeReview([]byte(raw))
	if err != nil {
		t.Fatalf("%v\n%s", err, raw)
	}
	return req
}
