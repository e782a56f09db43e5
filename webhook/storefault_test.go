package webhook

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/signer"
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
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })

	imgs := signedtest.New(t)
	cfg, err := config.Parse("gateway.yaml", []byte("apiVersion: shipgate.dev/v1alpha1\nkind: GatewayConfig\ndefaults: {mode: enforce, trust: [test]}\nnamespaces:\n- match: {names: [dev-*]}\n  mode: warn\n"+imgs.TrustYAML(t, "test")))
	if err != nil {
		t.Fatal(err)
	}
	trust, err := signer.CompileTrust(cfg, func(s *config.Source) ([]byte, error) { return []byte(s.Data), nil })
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{
		WithVerifier(signer.New(cfg.Verification, trust)), WithPins(signer.StorePins(db)), WithRecorder(NewAuditRecorder(l)),
		WithOwners(cluster), WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))),
	}
	get := func() *config.GatewayConfig { return cfg }
	validate, mutate := NewValidator(get, opts...), NewMutator(get, opts...)
	ref, digest := imgs.Push(t, "shop/web", "1.0", signer.TestsPassed)

	var admitted []string
	decide := func(uid string, req *Request) *Decision {
		d := validate.Decide(t.Context(), req)
		// A warn namespace's rollout admitted while the store is down
		// goes to the JSON log only, with a warning saying so.
		if d.Allowed && d.Class == "rollout" && !strings.Contains(strings.Join(d.Warnings, " "), "not recorded") {
			admitted = append(admitted, uid)
		}
		return d
	}
	rollout := func(uid, ns, name string) *Request {
		return reviewIn(t, uid, ns, "Deployment", "apps", deployerUser, deploymentJSON(name, ref))
	}
	if d := decide("r1", rollout("r1", "shop", "web")); !d.Allowed {
		t.Fatalf("before the restart: %v", d.Reasons)
	}
	rs := fmt.Sprintf(`{"apiVersion":"apps/v1","kind":"ReplicaSet","metadata":{"name":"web-7d9c5b8f4","namespace":"shop",
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"Deployment","name":"web","uid":"a1b2c3d4-0000-4000-8000-000000000001","controller":true}]},
		"spec":{"template":{"spec":{"containers":[{"name":"web","image":%q}]}}}}`, ref)
	if d := decide("rs1", reviewIn(t, "rs1", "shop", "ReplicaSet", "apps", dpController, rs)); !d.Allowed {
		t.Fatalf("the ReplicaSet: %v", d.Reasons)
	}

	srv.Stop(t)

	if d := decide("r2", rollout("r2", "shop", "api")); d.Allowed || !strings.Contains(d.Message(), "audit store unavailable") {
		t.Errorf("an enforced rollout with the store down: allowed=%v %q, want refused: audit store unavailable", d.Allowed, d.Message())
	}
	if d := decide("r3", rollout("r3", "dev-a", "tool")); !d.Allowed || len(d.Warnings) == 0 || !strings.Contains(strings.Join(d.Warnings, " "), "not recorded") {
		t.Errorf("a warn namespace's rollout with the store down: allowed=%v warnings %q", d.Allowed, d.Warnings)
	}
	pod := fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"generateName":"web-7d9c5b8f4-","namespace":"shop",
		"ownerReferences":[{"apiVersion":"apps/v1","kind":"ReplicaSet","name":"web-7d9c5b8f4","uid":"a1b2c3d4-0000-4000-8000-000000000002","controller":true}]},
		"spec":{"containers":[{"name":"web","image":%q}]}}`, ref)
	podReq := reviewIn(t, "p1", "shop", "Pod", "", rsController, pod)
	resp := mutate.Handle(t.Context(), podReq)
	if !strings.Contains(string(resp.Patch), ref+"@"+digest) {
		t.Errorf("a Pod of the admitted rollout with the store down was not pinned: patch %s warnings %q", resp.Patch, resp.Warnings)
	}
	if d := decide("p1", podReq); !d.Allowed || d.Class != "inherited" {
		t.Errorf("a Pod of the admitted rollout with the store down: allowed=%v class %s %v", d.Allowed, d.Class, d.Reasons)
	}

	srv.Start(t)
	recovered := false
	for i := range 100 {
		uid := fmt.Sprintf("r4-%d", i)
		if d := decide(uid, rollout(uid, "shop", "api")); d.Allowed {
			recovered = true
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !recovered {
		t.Fatal("the gateway did not recover after PostgreSQL came back")
	}
	for _, uid := range admitted {
		var n int
		if err := db.SQL().QueryRowContext(t.Context(), db.Rebind("SELECT count(*) FROM audit_log WHERE request_uid = ?"), uid).Scan(&n); err != nil || n != 1 {
			t.Errorf("admitted rollout %s has %d records in the log (%v), want 1", uid, n, err)
		}
	}
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
