package audit

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/shipgate/shipgate/store"
)

func TestRecentUIDsForgetWhatLeavesTheWindow(t *testing.T) {
	u := newRecentUIDs()
	t0 := time.Date(2026, 11, 28, 0, 0, 0, 0, time.UTC).UnixNano()
	at := func(d time.Duration) int64 { return t0 + int64(d) }
	u.add("old", 0, t0, t0)
	u.add("new", 1, at(time.Minute), at(time.Minute))
	u.add("old", 0, at(time.Minute), at(time.Minute)) // read again, as a catch-up after a failed one does
	if seq, confirm, ok := u.lookup("old"); !ok || !confirm || seq != 0 {
		t.Fatalf("lookup(old) = %d, %v, %v; want 0, to confirm", seq, confirm, ok)
	}
	if u.len() != 2 {
		t.Fatalf("adding a remembered uid again left %d uids; want 2", u.len())
	}
	u.age(at(uidWindow+uidBucketSpan) + 1)
	if _, _, ok := u.lookup("old"); ok {
		t.Error("a uid older than the window is still remembered")
	}
	if seq, _, ok := u.lookup("new"); !ok || seq != 1 {
		t.Errorf("lookup(new) = %d, %v; want 1: it is inside the window", seq, ok)
	}

	// A uid whose hash is taken is kept by itself, and ages the same.
	u.buckets[0].seqs[u.hash("twin")] = 1 // as if "new" had twin's hash
	u.add("twin", 2, at(time.Minute), at(time.Minute))
	if seq, confirm, ok := u.lookup("twin"); !ok || confirm || seq != 2 {
		t.Errorf("lookup(twin) = %d, %v, %v; want 2 without confirming", seq, confirm, ok)
	}
	u.age(at(time.Minute+uidWindow+uidBucketSpan) + 1)
	if _, _, ok := u.lookup("twin"); ok || len(u.buckets) != 0 || u.len() != 0 {
		t.Errorf("past the window: twin remembered %v, %d buckets, %d uids; want none", ok, len(u.buckets), u.len())
	}

	// Past the cap the oldest buckets go first, whatever their age.
	u = newRecentUIDs()
	per := uidWindowRecords / 4
	for i := range 5 * per {
		when := at(time.Duration(i/per) * uidBucketSpan)
		u.add(fmt.Sprint("uid-", i), uint64(i), when, when)
	}
	if u.len() != 4*per || len(u.buckets) != 4 {
		t.Errorf("%d uids in %d buckets; want %d in 4: the oldest bucket gone past the cap", u.len(), len(u.buckets), 4*per)
	}
	if _, _, ok := u.lookup(fmt.Sprint("uid-", per-1)); ok {
		t.Error("the first bucket's last uid is remembered past the cap")
	}
	if _, _, ok := u.lookup(fmt.Sprint("uid-", per)); !ok {
		t.Error("the second bucket's first uid is forgotten: only the oldest bucket should have gone")
	}
}

// TestAUIDWithAnotherUIDsHashIsAppended makes the writer's memory say a
// new uid is a record's that has another: the record is appended all the
// same, since a remembered hash is confirmed against the log.
func TestAUIDWithAnotherUIDsHashIsAppended(t *testing.T) {
	ctx := context.Background()
	db, err := store.Open(ctx, "sqlite://"+filepath.Join(t.TempDir(), "shipgate.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := New(db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	r := Record{Event: EventAdmission, Kind: "Pod", Namespace: "prod", Name: "p", Decision: DecisionAdmitted}
	r.RequestUID = "first"
	if seq, err := l.Append(ctx, r); err != nil || seq != 0 {
		t.Fatalf("Append = %d, %v", seq, err)
	}
	// The writer is idle between appends; the queue orders this write
	// before its next batch.
	l.uids.buckets[len(l.uids.buckets)-1].seqs[l.uids.hash("second")] = 0
	r.RequestUID = "second"
	if seq, err := l.Append(ctx, r); err != nil || seq != 1 {
		t.Errorf("Append(second) = %d, %v; want 1, a record of its own", seq, err)
	}
	if seq, err := l.Append(ctx, r); err != nil || seq != 1 {
		t.Errorf("Append(second) again = %d, %v; want 1", seq, err)
	}
}
