package webhook

import (
	"fmt"
	"strings"
	"testing"

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
	g.checkUnrecordedWarn(t, "r3", "with the store down")

	srv.Start(t)
	g.awaitRecovery(t, "r4", "after PostgreSQL came back")
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
