package server

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/internal/signedtest"
	"github.com/shipgate/shipgate/store"
	"github.com/shipgate/shipgate/webhook"
)

// TestShutdownFinishesInFlightAdmissions: with an admission in flight,
// stopping the server makes readiness false and stops taking connections,
// while Run waits; the admission is then answered, its audit record is
// committed, and only then does Run return.
func TestShutdownFinishesInFlightAdmissions(t *testing.T) {
	bv := signedtest.NewBlocking()
	r := startWith(t, configFile(t, gatewayEnforce), webhook.WithVerifier(bv))

	type result struct {
		resp *admissionv1.AdmissionResponse
		err  error
	}
	inFlight := make(chan result, 1)
	body := pinnedDeployment(t, "drain-1")
	go func() {
		resp, err := post(r.client, r.base+"/validate?timeout=20s", body)
		inFlight <- result{resp, err}
	}()
	bv.WaitEntered(t, 1)

	r.stop()
	waitFor(t, "readiness to go false", func() bool {
		rec := httptest.NewRecorder()
		r.s.http.Handler.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		return rec.Code == http.StatusServiceUnavailable
	})
	waitFor(t, "the listener to close", func() bool {
		c, err := net.DialTimeout("tcp", r.s.Addr().String(), time.Second)
		if err == nil {
			c.Close()
		}
		return err != nil
	})
	select {
	case err := <-r.done:
		t.Fatalf("Run returned (%v) with an admission in flight", err)
	case res := <-inFlight:
		t.Fatalf("the admission was answered (%+v, %v) before its verifier was released", res.resp, res.err)
	default:
	}

	bv.Release()
	res := <-inFlight
	if res.err != nil || !res.resp.Allowed {
		t.Fatalf("the in-flight admission: %+v %v, want admitted", res.resp, res.err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not return once the admission was answered")
	}

	// The store is closed; open it again and find the admission's record.
	db, err := store.Open(context.Background(), r.store)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	l, err := audit.New(db)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	entries, _, err := l.Query(context.Background(), audit.Filter{Decision: "admitted"}, "", 10)
	if err != nil {
		t.Fatal(err)
	}
	id := res.resp.AuditAnnotations["decision-id"]
	if len(entries) != 1 || entries[0].Record.DecisionID != id || entries[0].Record.RequestUID != "drain-1" {
		t.Errorf("audit log after shutdown: %+v, want the one admission, decision %s", entries, id)
	}
}
