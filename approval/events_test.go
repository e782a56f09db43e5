package approval_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/store/storetest"
)

// downAuditor is the real audit log behind an outage: its first failures
// appends fail.
type downAuditor struct {
	log      *audit.Log
	failures atomic.Int64
}

func (d *downAuditor) AppendWith(ctx context.Context, r audit.Record, also ...audit.Write) (uint64, error) {
	if d.failures.Add(-1) >= 0 {
		return 0, errors.New("audit store unavailable")
	}
	return d.log.AppendWith(ctx, r, also...)
}

// TestEventsReachTheLogAfterAnOutage: an event whose append fails is kept
// beside the request and appended by Run once the log takes it again,
// exactly once even when appended a second time.
func TestEventsReachTheLogAfterAnOutage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, storetest.Dialects[0])
	down := &downAuditor{log: e.log}
	down.failures.Store(1)
	svc, err := approval.New(e.db, down, approval.WithLogger(quiet()), approval.WithSweepInterval(5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { svc.Close(time.Second) })

	out, err := svc.Require(t.Context(), query("sha256:outage"))
	if err != nil || out.RequestID == "" {
		t.Fatalf("Require during an audit outage: %+v, %v; want the pending request", out, err)
	}
	id := out.RequestID
	if ev := e.events(t, id); len(ev) != 0 {
		t.Fatalf("events %q appended during the outage", ev)
	}

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- svc.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); len(e.events(t, id)) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("Run never appended the event")
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Appending it again (a replica that did not see the first append
	// succeed) leaves one record: the log knows the event's uid.
	if _, err := e.db.SQL().Exec("UPDATE approval_events SET audit_seq = NULL"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel = context.WithCancel(t.Context())
	go func() { done <- svc.Run(ctx) }()
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		var n int
		if err := e.db.SQL().QueryRow("SELECT count(*) FROM approval_events WHERE audit_seq IS NULL").Scan(&n); err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("Run never appended the event again")
		}
	}
	cancel()
	<-done
	if ev := e.events(t, id); !slices.Equal(ev, []string{"requested:" + ci.Name}) {
		t.Errorf("events %q, want the request recorded once", ev)
	}
}

// deafAuditor appends for real and then reports a failure, as a replica
// that died before hearing the commit would: the caller never gets to mark
// the event appended itself.
type deafAuditor struct{ log *audit.Log }

func (d deafAuditor) AppendWith(ctx context.Context, r audit.Record, also ...audit.Write) (uint64, error) {
	if _, err := d.log.AppendWith(ctx, r, also...); err != nil {
		return 0, err
	}
	return 0, errors.New("connection reset after the commit")
}

// TestAnEventIsMarkedInItsAppend: an event the audit log holds is marked
// appended by the same transaction, so it is never appended again, however
// long after (SQLite's log knows a uid for two minutes only).
func TestAnEventIsMarkedInItsAppend(t *testing.T) {
	t.Parallel()
	for _, d := range storetest.Dialects {
		t.Run(string(d), func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, d)
			svc, err := approval.New(e.db, deafAuditor{e.log}, approval.WithLogger(quiet()))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { svc.Close(time.Second) })
			out, err := svc.Require(t.Context(), query("sha256:deaf"))
			if err != nil || out.RequestID == "" {
				t.Fatalf("Require = %+v, %v", out, err)
			}
			var marked sql.NullInt64
			if err := e.db.SQL().QueryRow(e.db.Rebind("SELECT audit_seq FROM approval_events WHERE request_id = ?"), out.RequestID).Scan(&marked); err != nil {
				t.Fatal(err)
			}
			entries, _, err := e.log.Query(t.Context(), audit.Filter{}, "", audit.MaxLimit)
			if err != nil || len(entries) != 1 {
				t.Fatalf("log = %d entries, %v; want the request's one", len(entries), err)
			}
			if !marked.Valid || uint64(marked.Int64) != entries[0].Seq {
				t.Errorf("the event's audit_seq = %v; want %d, set by the append's own transaction", marked, entries[0].Seq)
			}
		})
	}
}
