package audit_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/store/storetest"
)

// checkpointSizes lists the stored checkpoints' sizes.
func checkpointSizes(t *testing.T, db *store.DB) []uint64 {
	t.Helper()
	return sqlSeqs(t, db, "SELECT size FROM audit_checkpoints ORDER BY size")
}

func TestCheckpointsEveryNAndOnClose(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			key := newKey(t, "shipgate.test/every")
			db := storetest.Open(t, d)
			l := newLog(t, db, audit.WithCheckpoints(key.signer, 10, time.Hour))
			if _, err := l.Checkpoint(ctx); !errors.Is(err, audit.ErrNoCheckpoint) {
				t.Errorf("Checkpoint of an empty log = %v, want ErrNoCheckpoint", err)
			}
			appendN(t, l, 0, 35)
			if got := checkpointSizes(t, db); !slices.Equal(got, []uint64{10, 20, 30}) {
				t.Errorf("checkpoints at %v, want 10, 20, 30", got)
			}
			l.Close()
			if got := checkpointSizes(t, db); !slices.Equal(got, []uint64{10, 20, 30, 35}) {
				t.Errorf("after Close, checkpoints at %v, want 10, 20, 30, 35", got)
			}
			signed, err := l.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cp, err := audit.OpenCheckpoint(signed, key.verifiers)
			if err != nil {
				t.Fatal(err)
			}
			size, root, err := l.Root(ctx)
			if err != nil || cp.Size != 35 || size != 35 || string(cp.Hash) != string(root) || cp.Origin != "shipgate.test/every" {
				t.Errorf("latest checkpoint %+v; log at %d with root %x (%v)", cp, size, root, err)
			}
			if _, err := audit.OpenCheckpoint(signed, newKey(t, "shipgate.test/every").verifiers); err == nil {
				t.Error("the checkpoint opens with another key")
			}
		})
	}
}

func TestCheckpointsOnInterval(t *testing.T) {
	t.Parallel()
	key := newKey(t, "shipgate.test/interval")
	db := storetest.Open(t, store.SQLite)
	l := newLog(t, db, audit.WithCheckpoints(key.signer, 0, 20*time.Millisecond))
	appendN(t, l, 0, 3)
	// A tick may fall between two appends; the last checkpoint must come to
	// cover all three, and then, with no growth, no more are signed.
	deadline := time.Now().Add(10 * time.Second)
	for got := checkpointSizes(t, db); len(got) == 0 || got[len(got)-1] != 3; got = checkpointSizes(t, db) {
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint at size 3 after 10 s: %v", got)
		}
		time.Sleep(10 * time.Millisecond)
	}
	before := checkpointSizes(t, db)
	time.Sleep(100 * time.Millisecond)
	if got := checkpointSizes(t, db); !slices.Equal(got, before) {
		t.Errorf("checkpoints went from %v to %v while the log did not grow", before, got)
	}
}

func TestKeyRotationKeepsOldCheckpointsVerifiable(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			old, cur := newKey(t, "shipgate.test/rotation"), newKey(t, "shipgate.test/rotation")
			db := storetest.Open(t, d)
			l := newLog(t, db, audit.WithCheckpoints(old.signer, 5, 0))
			appendN(t, l, 0, 10)
			l.Close()
			l = newLog(t, db, audit.WithCheckpoints(cur.signer, 5, 0))
			appendN(t, l, 10, 20)
			l.Close()

			both, err := audit.NewVerifiers(old.vkey, cur.vkey)
			if err != nil {
				t.Fatal(err)
			}
			if rep, err := audit.Verify(ctx, db, both, audit.VerifyOptions{}); err != nil || rep.Checkpoints != 4 {
				t.Errorf("with both keys: Verify = %+v, %v", rep, err)
			}
			_, err = audit.Verify(ctx, db, cur.verifiers, audit.VerifyOptions{})
			var m *audit.Mismatch
			if !errors.As(err, &m) || m.Seq != 5 || m.Reason != "checkpoint at size 5: signature does not verify" {
				t.Errorf("with the new key only: Verify = %v, want the checkpoint at 5 refused", err)
			}
		})
	}
}
