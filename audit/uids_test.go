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
	u.add("old", 0, t0, t0)
	u.add("new", 1, t0+int64(time.Minute), t0+int64(time.Minute))
	u.add("old", 0, t0+int64(time.Minute), t0+int64(time.Minute)) // read again, as a catch-up after a failed one does
	if seq, confirm, ok := u.lookup("old"); !ok || !confirm || seq != 0 {
		t.Fatalf("lookup(old) = %d, %v, %v; want 0, to confirm", seq, confirm, ok)
	}
	if len(u.order) != 2 || len(u.collided) != 0 {
		t.Fatalf("adding a remembered uid again left %d in the queue and %d collided; want 2 and 0", len(u.order), len(u.collided))
	}
	u.age(t0 + int64(uidWindow) + 1)
	if _, ok := u.seqs[u.hash("old")]; ok {
		t.Error("a uid older than the window is still remembered")
	}
	if seq, ok := u.seqs[u.hash("new")]; !ok || seq != 1 {
		t.Errorf("new = %d, %v; want 1: it is inside the window", seq, ok)
	}

	// A uid whose hash is taken is kept by itself, and ages the same.
	u.seqs[u.hash("twin")] = 1
	u.add("twin", 2, t0+int64(time.Minute), t0+int64(time.Minute))
	if seq, confirm, ok := u.lookup("twin"); !ok || confirm || seq != 2 {
		t.Errorf("lookup(twin) = %d, %v, %v; want 2 without confirming", seq, confirm, ok)
	}
	u.age(t0 + int64(time.Minute+uidWindow) + 1)
	if _, ok := u.collided["twin"]; ok {
		t.Error("twin is remembered past the window")
	}

	// Past the cap the oldest go first, whatever their age.
	u = newRecentUIDs()
	for i := range uidWindowRecords + 10 {
		u.add(fmt.Sprint("uid-", i), uint64(i), t0, t0)
	}
	if n := len(u.seqs); n != uidWindowRecords {
		t.Errorf("%d uids remembered; want the cap, %d", n, uidWindowRecords)
	}
	if _, ok := u.seqs[u.hash("uid-9")]; ok {
		t.Error("uid-9 is remembered: the oldest should have gone past the cap")
	}
	if _, ok := u.seqs[u.hash("uid-10")]; !ok {
		t.Error("uid-10 is forgotten: only the 10 oldest should have gone")
	}
	if len(u.order)-u.head != uidWindowRecords {
		t.Errorf("the queue holds %d uids; want %d", len(u.order)-u.head, uidWindowRecords)
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
	l.uids.seqs[l.uids.hash("second")] = 0
	r.RequestUID = "second"
	if seq, err := l.Append(ctx, r); err != nil || seq != 1 {
		t.Errorf("Append(second) = %d, %v; want 1, a record of its own", seq, err)
	}
	if seq, err := l.Append(ctx, r); err != nil || seq != 1 {
		t.Errorf("Append(second) again = %d, %v; want 1", seq, err)
	}
}
