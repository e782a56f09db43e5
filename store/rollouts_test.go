package store_test

import (
	"fmt"
	"maps"
	"reflect"
	"testing"
	"time"

	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

func TestRolloutsPinsAndVerifications(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, d)
			ctx := t.Context()
			at := time.Date(2026, 11, 27, 10, 0, 0, 123, time.UTC)
			v1 := map[string]string{"reg/app:1": "sha256:aaa"}
			r := store.Rollout{Fingerprint: "sha256:f1", Namespace: "prod", Kind: "Deployment", Name: "api", Digests: v1, DecisionID: "d1", AdmittedAt: at}
			if err := db.PutRollout(ctx, r); err != nil {
				t.Fatal(err)
			}
			// A re-apply of the same rollout is the same record.
			r.DecisionID = "d2"
			if err := db.PutRollout(ctx, r); err != nil {
				t.Fatal(err)
			}
			// The ReplicaSet copies the Deployment's pin; the Deployment
			// then rolls on to other digests.
			p, ok, err := db.GetPin(ctx, "prod", "Deployment", "api")
			if err != nil || !ok || !maps.Equal(p.Digests, v1) || p.Fingerprint != "sha256:f1" || !p.PinnedAt.Equal(at) {
				t.Fatalf("GetPin(Deployment) = %+v, %v, %v", p, ok, err)
			}
			if err := db.PutPin(ctx, "prod", "ReplicaSet", "api-1", p); err != nil {
				t.Fatal(err)
			}
			v2 := map[string]string{"reg/app:1": "sha256:bbb"}
			if err := db.PutRollout(ctx, store.Rollout{Fingerprint: "sha256:f2", Namespace: "prod", Kind: "Deployment", Name: "api", Digests: v2, DecisionID: "d3", AdmittedAt: at.Add(time.Hour)}); err != nil {
				t.Fatal(err)
			}
			rs, ok, err := db.GetPin(ctx, "prod", "ReplicaSet", "api-1")
			if err != nil || !ok || !maps.Equal(rs.Digests, v1) {
				t.Errorf("ReplicaSet pin after the Deployment moved on = %+v, %v, %v; want the first digests", rs, ok, err)
			}
			dep, _, _ := db.GetPin(ctx, "prod", "Deployment", "api")
			if !maps.Equal(dep.Digests, v2) {
				t.Errorf("Deployment pin = %v, want %v", dep.Digests, v2)
			}
			if err := db.AddInherited(ctx, map[string]int64{"sha256:f1": 1}); err != nil {
				t.Fatal(err)
			}
			got, inherited, ok, err := db.GetRollout(ctx, "sha256:f1")
			if err != nil || !ok || got.DecisionID != "d2" || inherited != 2 || !maps.Equal(got.Digests, v1) {
				t.Errorf("GetRollout = %+v, inherited %d, %v, %v; want decision d2, 2 inherited", got, inherited, ok, err)
			}
			if _, ok, err := db.GetPin(ctx, "prod", "ReplicaSet", "nope"); ok || err != nil {
				t.Errorf("GetPin of an unknown object = %v, %v", ok, err)
			}
			// A bare Pod's rollout is recorded, without a pin: nothing
			// inherits from a Pod.
			pod := store.Rollout{Fingerprint: "sha256:fpod", Namespace: "prod", Kind: "Pod", Name: "debug", Digests: v1, DecisionID: "d4", AdmittedAt: at}
			if err := db.PutRollout(ctx, pod); err != nil {
				t.Fatal(err)
			}
			if got, _, ok, err := db.GetRollout(ctx, "sha256:fpod"); err != nil || !ok || got.Kind != "Pod" {
				t.Errorf("GetRollout(bare Pod) = %+v, %v, %v; want its record", got, ok, err)
			}
			if _, ok, err := db.GetPin(ctx, "prod", "Pod", "debug"); ok || err != nil {
				t.Errorf("GetPin(bare Pod) = %v, %v; want no pin", ok, err)
			}

			if err := db.PutVerifications(ctx, []store.Verification{{Digest: "sha256:aaa", Key: "k1", Result: []byte(`{"verified":true}`), At: at}}); err != nil {
				t.Fatal(err)
			}
			if err := db.PutVerifications(ctx, []store.Verification{{Digest: "sha256:aaa", Key: "k1", Result: []byte(`{"verified":true,"n":2}`), At: at.Add(time.Minute)}}); err != nil {
				t.Fatal(err)
			}
			b, when, ok, err := db.GetVerification(ctx, "sha256:aaa", "k1")
			if err != nil || !ok || string(b) != `{"verified":true,"n":2}` || !when.Equal(at.Add(time.Minute)) {
				t.Errorf("GetVerification = %s, %v, %v, %v", b, when, ok, err)
			}
			if _, _, ok, err := db.GetVerification(ctx, "sha256:aaa", "other-revision"); ok || err != nil {
				t.Errorf("a verification under another trust revision was found: %v, %v", ok, err)
			}
			// A batch, in any order, with a replacement in it: one transaction.
			batch := []store.Verification{
				{Digest: "sha256:ccc", Key: "k1", Result: []byte(`{"c":1}`), At: at},
				{Digest: "sha256:aaa", Key: "k1", Result: []byte(`{"verified":true,"n":3}`), At: at.Add(2 * time.Minute)},
				{Digest: "sha256:bbb", Key: "k2", Result: []byte(`{"b":1}`), At: at},
			}
			if err := db.PutVerifications(ctx, batch); err != nil {
				t.Fatal(err)
			}
			for _, want := range batch {
				b, when, ok, err := db.GetVerification(ctx, want.Digest, want.Key)
				if err != nil || !ok || string(b) != string(want.Result) || !when.Equal(want.At) {
					t.Errorf("after PutVerifications: GetVerification(%s, %s) = %s, %v, %v, %v; want %s at %v", want.Digest, want.Key, b, when, ok, err, want.Result, want.At)
				}
			}

			// Pruning deletes what was made before the time given, past
			// one statement's chunk, and nothing else.
			var old []store.Verification
			for i := range 2500 {
				old = append(old, store.Verification{Digest: fmt.Sprintf("sha256:old%04d", i), Key: "k1", Result: []byte(`{}`), At: at.Add(-time.Hour)})
			}
			if err := db.PutVerifications(ctx, old); err != nil {
				t.Fatal(err)
			}
			if n, err := db.PruneVerifications(ctx, at.Add(time.Second)); err != nil || n != 2502 {
				t.Errorf("PruneVerifications = %d, %v; want the 2,500 old ones and the two made at %v", n, err, at)
			}
			if _, _, ok, _ := db.GetVerification(ctx, "sha256:old0000", "k1"); ok {
				t.Error("a pruned verification is still there")
			}
			if _, _, ok, _ := db.GetVerification(ctx, "sha256:aaa", "k1"); !ok {
				t.Error("a verification newer than the cut was pruned")
			}
		})
	}
}

// TestRolloutsMigrationKeepsRecords: a store whose rollout records were
// written before version 6 keeps every one, inherited counts included,
// after it, and the index nothing read is gone.
func TestRolloutsMigrationKeepsRecords(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			url := storetest.URL(t, d)
			db, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			// Back to version 5.
			for _, q := range []string{
				"CREATE INDEX rollouts_object ON rollouts (namespace, kind, name, admitted_at)",
				"DELETE FROM schema_migrations WHERE version = 6",
			} {
				if _, err := db.SQL().ExecContext(ctx, q); err != nil {
					t.Fatalf("%s: %v", q, err)
				}
			}
			at := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
			want := store.Rollout{Fingerprint: "fp-1", Namespace: "shop", Kind: "Deployment", Name: "checkout", UID: "u-1",
				Digests: map[string]string{"r/checkout:1": "sha256:01"}, DecisionID: "d-1", AdmittedAt: at}
			if err := db.PutRollout(ctx, want); err != nil {
				t.Fatal(err)
			}
			if err := db.PutPin(ctx, "shop", "ReplicaSet", "checkout-1", store.Pin{Fingerprint: "fp-1", Digests: want.Digests, PinnedAt: at}); err != nil {
				t.Fatal(err)
			}
			db.Close()

			db, err = store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			got, inherited, ok, err := db.GetRollout(ctx, "fp-1")
			if err != nil || !ok {
				t.Fatalf("GetRollout after the migration: %v, found %v", err, ok)
			}
			if !reflect.DeepEqual(got, want) || inherited != 1 {
				t.Errorf("after the migration: %+v, %d inherited; want %+v, 1", got, inherited, want)
			}
			var n int
			q := "SELECT count(*) FROM pg_indexes WHERE indexname = 'rollouts_object'"
			if d == store.SQLite {
				q = "SELECT count(*) FROM sqlite_master WHERE name = 'rollouts_object'"
			}
			if err := db.SQL().QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
				t.Errorf("rollouts_object: %d (%v), want it dropped", n, err)
			}
		})
	}
}
