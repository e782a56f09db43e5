package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store/storetest"
)

// TestRecordsAreNeverCommittedAfterTheirCallerGaveUp: while another
// transaction holds the log's head, an append whose deadline passes fails,
// and its record is not written when the head is free again: the log
// never says "admitted" for a request that was answered as refused.
func TestRecordsAreNeverCommittedAfterTheirCallerGaveUp(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			db := storetest.Open(t, d)
			l := newLog(t, db)
			if _, err := l.Append(t.Context(), sample(0)); err != nil {
				t.Fatal(err)
			}
			tx, err := db.SQL().BeginTx(t.Context(), nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tx.Exec("UPDATE audit_head SET size = size WHERE id = 1"); err != nil {
				t.Fatal(err)
			}
			late := sample(1)
			late.RequestUID = "late"
			ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
			_, err = l.Append(ctx, late)
			cancel()
			if err == nil {
				t.Fatal("an append behind a held lock succeeded past its deadline")
			}
			// A second caller queued behind the first, also giving up.
			queued := sample(2)
			queued.RequestUID = "queued"
			ctx, cancel = context.WithTimeout(t.Context(), 50*time.Millisecond)
			_, err2 := l.Append(ctx, queued)
			cancel()
			if err2 == nil {
				t.Fatal("a queued append succeeded past its deadline")
			}
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(t.Context(), sample(3)); err != nil {
				t.Fatalf("appending once the head is free: %v", err)
			}
			var n int
			if err := db.SQL().QueryRow(db.Rebind("SELECT count(*) FROM audit_log WHERE request_uid IN (?, ?)"), "late", "queued").Scan(&n); err != nil || n != 0 {
				t.Errorf("%d records whose callers gave up were committed later (%v)", n, err)
			}
			if size, _, err := l.Root(t.Context()); err != nil || size != 2 {
				t.Errorf("the log holds %d records (%v), want 2", size, err)
			}
			if _, err := audit.Verify(t.Context(), db, nil, audit.VerifyOptions{}); err != nil {
				t.Errorf("the log does not verify: %v", err)
			}
		})
	}
}
