package approval_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store/storetest"
)

// countingTransport counts the attempts a client makes, over the real
// transport.
type countingTransport struct{ n atomic.Int64 }

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	return http.DefaultTransport.RoundTrip(r)
}

// receiver collects the notifications POSTed to it.
type receiver struct{ got chan approval.Notification }

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var n approval.Notification
	body, _ := io.ReadAll(r.Body)
	if err := json.Unmarshal(body, &n); err != nil || r.Header.Get("Content-Type") != "application/json" {
		http.Error(w, "bad body", http.StatusBadRequest)
		return
	}
	rc.got <- n
}

// wait returns the next notification; it fails the test if none comes in
// a minute (a bound for a stuck test, not a timing assertion).
func (rc *receiver) wait(t *testing.T) approval.Notification {
	t.Helper()
	select {
	case n := <-rc.got:
		return n
	case <-time.After(time.Minute):
		t.Fatal("no notification arrived")
		return approval.Notification{}
	}
}

// TestNotificationReceiverDown: the receiver is down when the request is
// created; the rollout's admission answer does not wait for it, and the
// delivery is retried until the receiver is up. A receiver that takes only
// approvals hears only the approval.
func TestNotificationReceiverDown(t *testing.T) {
	t.Parallel()
	// A port nobody listens on, for now: connections are refused.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()

	chat := &receiver{got: make(chan approval.Notification, 10)}
	approvalsOnly := &receiver{got: make(chan approval.Notification, 10)}
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go http.Serve(other, approvalsOnly)
	t.Cleanup(func() { other.Close() })

	attempts := &countingTransport{}
	targets := []config.NotifyTarget{
		{URL: "http://" + addr + "/services/T0/B0/secret"},
		{URL: "http://" + other.Addr().String() + "/hook", Events: []string{"approved"}},
	}
	e := newEnv(t, storetest.Dialects[0],
		approval.WithNotifyTargets(func() []config.NotifyTarget { return targets }),
		approval.WithHTTPClient(&http.Client{Transport: attempts}),
		approval.WithNotifyRetry(50, time.Millisecond, 20*time.Millisecond, 5*time.Second))

	out, err := e.svc.Require(t.Context(), query("sha256:notify"))
	if err != nil || out.RequestID == "" {
		t.Fatalf("Require with the receiver down: %+v, %v", out, err)
	}
	if len(chat.got) != 0 {
		t.Fatal("a notification arrived at a receiver that is down")
	}

	// Bring the receiver up once a second attempt has begun, so the first
	// has failed.
	for attempts.n.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	up, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("bringing the receiver up on %s: %v", addr, err)
	}
	go http.Serve(up, chat)
	t.Cleanup(func() { up.Close() })

	n := chat.wait(t)
	if n.Event != "created" || n.Request.ID != out.RequestID || n.ApproveCommand != "shipgate approvals approve "+out.RequestID {
		t.Errorf("notification %+v", n)
	}
	for _, want := range []string{
		"approval requested for Deployment prod-payments/api by " + ci.Name,
		"Namespace: prod-payments", "Workload: Deployment api",
		"Images: registry.example.com/shop/api:1.4.2@sha256:aaaa", "Requester: " + ci.Name,
		"`shipgate approvals approve " + out.RequestID + "`", "POST /v1/approvals/" + out.RequestID + "/approve",
		"the namespace binding requires approval by 2 distinct people from release-managers",
	} {
		if !strings.Contains(n.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, n.Text)
		}
	}
	// The second attempt began only after the first failed: the delivery
	// that arrived was a retry.
	if got := attempts.n.Load(); got < 2 {
		t.Errorf("%d attempts; want the failed one retried", got)
	}

	approve(t, e, out.RequestID, alice)
	approve(t, e, out.RequestID, bob)
	if n := chat.wait(t); n.Event != "approved" || !strings.Contains(n.Text, "approved by alice, bob") {
		t.Errorf("approval notification %q: %s", n.Event, n.Text)
	}
	if n := approvalsOnly.wait(t); n.Event != "approved" {
		t.Errorf("the approvals-only receiver heard %q", n.Event)
	}
	e.svc.Close(time.Minute) // every delivery has ended
	if len(approvalsOnly.got) != 0 || len(chat.got) != 0 {
		t.Errorf("extra notifications: %d and %d", len(approvalsOnly.got), len(chat.got))
	}
}
