package signer_test

import (
	"maps"
	"testing"
	"time"

	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestPinsOutliveTheStore: pins read or written before the store went
// away are still served from memory; a pin the store never held is not
// invented.
func TestPinsOutliveTheStore(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	p := signer.StorePins(db)
	ctx := t.Context()
	digests := map[string]string{"reg/app:1": "sha256:aaa"}
	if err := p.PutRollout(ctx, signer.Rollout{Fingerprint: "sha256:f", Namespace: "shop", Kind: "Deployment", Name: "web", Digests: digests, DecisionID: "d", AdmittedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	pin, ok, err := p.GetPin(ctx, "shop", "Deployment", "web")
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	if err := p.PutPin(ctx, "shop", "ReplicaSet", "web-1", pin); err != nil {
		t.Fatal(err)
	}
	db.Close() // the store goes away

	got, ok, err := p.GetPin(ctx, "shop", "ReplicaSet", "web-1")
	if err != nil || !ok || !maps.Equal(got.Digests, digests) {
		t.Errorf("with the store down: %+v %v %v, want the pin from memory", got, ok, err)
	}
	if err := p.PutPin(ctx, "shop", "ReplicaSet", "web-2", pin); err == nil {
		t.Error("writing a pin to a closed store reported no error")
	}
	if got, ok, err := p.GetPin(ctx, "shop", "ReplicaSet", "web-2"); err != nil || !ok || got.Fingerprint != "sha256:f" {
		t.Errorf("a pin written while the store was down: %+v %v %v, want it from memory", got, ok, err)
	}
	if _, ok, err := p.GetPin(ctx, "shop", "ReplicaSet", "never"); ok || err == nil {
		t.Errorf("an unknown pin with the store down: ok=%v err=%v, want the store's error", ok, err)
	}
}

// TestBarePodKeepsNoPinInMemory: a bare Pod's rollout is recorded, and no
// pin of it is kept, in the store or in memory: nothing inherits from a
// Pod.
func TestBarePodKeepsNoPinInMemory(t *testing.T) {
	db := storetest.Open(t, store.SQLite)
	p := signer.StorePins(db)
	r := signer.Rollout{Fingerprint: "sha256:p", Namespace: "shop", Kind: "Pod", Name: "debug", Digests: map[string]string{"reg/app:1": "sha256:aaa"}, DecisionID: "d", AdmittedAt: time.Now()}
	if err := p.PutRollout(t.Context(), r); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := db.GetRollout(t.Context(), "sha256:p"); !ok || err != nil {
		t.Fatalf("the bare Pod's rollout was not recorded: %v %v", ok, err)
	}
	db.Close() // only memory can answer now
	if _, ok, _ := p.GetPin(t.Context(), "shop", "Pod", "debug"); ok {
		t.Error("a pin of a bare Pod was kept in memory")
	}
}
