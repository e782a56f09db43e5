package audit_test

import (
	"errors"
	"testing"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store/storetest"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
)

// checkpointAt opens the stored checkpoint of size and returns its root.
func checkpointAt(t *testing.T, tl tamperLog, size uint64) []byte {
	t.Helper()
	var text string
	if err := tl.db.SQL().QueryRow(tl.db.Rebind("SELECT note FROM audit_checkpoints WHERE size = ?"), int64(size)).Scan(&text); err != nil {
		t.Fatalf("checkpoint at %d: %v", size, err)
	}
	cp, err := audit.OpenCheckpoint([]byte(text), tl.key.verifiers)
	if err != nil || cp.Size != size {
		t.Fatalf("checkpoint at %d: %+v, %v", size, cp, err)
	}
	return cp.Hash
}

func TestProofsVerifyAgainstCheckpoints(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			ctx := t.Context()
			tl := tamperLog{db: storetest.Open(t, d), key: newKey(t, "shipgate.test/proofs")}
			l := newLog(t, tl.db, audit.WithCheckpoints(tl.key.signer, 1, 0))
			appendN(t, l, 0, 37)
			entries, _, err := l.Query(ctx, audit.Filter{}, "", 100)
			if err != nil {
				t.Fatal(err)
			}
			h := rfc6962.DefaultHasher
			for _, c := range []struct{ seq, size uint64 }{{0, 1}, {0, 37}, {5, 6}, {13, 16}, {15, 16}, {16, 17}, {36, 37}, {20, 33}} {
				root := checkpointAt(t, tl, c.size)
				leaf, err := audit.Leaf(entries[c.seq].Record)
				if err != nil {
					t.Fatal(err)
				}
				p, err := l.InclusionProof(ctx, c.seq, c.size)
				if err != nil {
					t.Fatalf("InclusionProof(%d, %d) = %v", c.seq, c.size, err)
				}
				if err := proof.VerifyInclusion(h, c.seq, c.size, leaf, p, root); err != nil {
					t.Errorf("inclusion of %d in %d does not verify: %v", c.seq, c.size, err)
				}
				other, _ := audit.Leaf(entries[(c.seq+1)%37].Record)
				if err := proof.VerifyInclusion(h, c.seq, c.size, other, p, root); err == nil {
					t.Errorf("inclusion of %d in %d verifies for another record's leaf", c.seq, c.size)
				}
			}
			for _, c := range []struct{ size1, size2 uint64 }{{1, 37}, {5, 16}, {16, 37}, {7, 8}, {13, 29}, {37, 37}} {
				root1, root2 := checkpointAt(t, tl, c.size1), checkpointAt(t, tl, c.size2)
				p, err := l.ConsistencyProof(ctx, c.size1, c.size2)
				if err != nil {
					t.Fatalf("ConsistencyProof(%d, %d) = %v", c.size1, c.size2, err)
				}
				if err := proof.VerifyConsistency(h, c.size1, c.size2, p, root1, root2); err != nil {
					t.Errorf("consistency %d → %d does not verify: %v", c.size1, c.size2, err)
				}
				if c.size1 != c.size2 {
					wrong := checkpointAt(t, tl, c.size1+1)
					if err := proof.VerifyConsistency(h, c.size1, c.size2, p, wrong, root2); err == nil {
						t.Errorf("consistency %d → %d verifies from the wrong root", c.size1, c.size2)
					}
				}
			}
			for name, call := range map[string]func() error{
				"seq beyond size":  func() error { _, err := l.InclusionProof(ctx, 5, 5); return err },
				"size beyond log":  func() error { _, err := l.InclusionProof(ctx, 5, 38); return err },
				"sizes reversed":   func() error { _, err := l.ConsistencyProof(ctx, 9, 8); return err },
				"size2 beyond log": func() error { _, err := l.ConsistencyProof(ctx, 9, 40); return err },
			} {
				if err := call(); !errors.Is(err, audit.ErrOutOfRange) {
					t.Errorf("%s: %v, want ErrOutOfRange", name, err)
				}
			}
		})
	}
}
