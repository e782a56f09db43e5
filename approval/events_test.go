package approval_test

import (
	"context"
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

func (d *downAuditor) Append(ctx context.Context, r audit.Record) (uint64, error) {
	if d.failures.Add(-1) >= 0 {
		return 0, errors.New("audit store unavailable")
	}
	return d.log.Append(ctx, r)
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
