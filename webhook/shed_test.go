package webhook

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/internal/signedtest"
)

// answer posts body to h and decodes the AdmissionResponse; unlike
// postReview it may run outside the test's goroutine.
func answer(h http.Handler, target string, body []byte) (*admissionv1.AdmissionResponse, error) {
	rec := httptest.NewRecorder()
	r := httptest.NewRequest(http.MethodPost, target, bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusOK {
		return nil, fmt.Errorf("HTTP %d: %s", rec.Code, rec.Body)
	}
	var review admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &review); err != nil || review.Response == nil {
		return nil, fmt.Errorf("not an AdmissionReview (%v): %s", err, rec.Body)
	}
	return review.Response, nil
}

// TestOverloadIsShedAtOnce fills the gate with admissions held at the
// verifier, then sends more: each is answered while the held ones still
// wait (nothing queues behind them), by the namespace's mode, and counted.
// Released, the held admissions are answered as usual and the next one is
// judged again.
func TestOverloadIsShedAtOnce(t *testing.T) {
	t.Parallel()
	const limit = 3
	cfg := testConfig(t)
	bv := signedtest.NewBlocking()
	reg := prometheus.NewRegistry()
	gate := NewGate(func() int { return limit }, reg)
	metrics := NewMetrics(reg)
	discard := slog.New(slog.NewTextHandler(io.Discard, nil))
	get := func() *config.GatewayConfig { return cfg }
	opts := []Option{WithVerifier(bv), WithOwners(cluster), WithIDs(sequence()), WithLogger(discard),
		WithNamespaceLabels(config.StaticNamespaces{"prod-payments": {"env": "prod"}})}
	validate := Serve("validate", NewValidator(get, opts...), nil, metrics, discard, WithGate(gate))
	mutate := Serve("mutate", NewMutator(get, opts...), nil, metrics, discard, WithGate(gate))

	type result struct {
		resp *admissionv1.AdmissionResponse
		err  error
	}
	held := make(chan result, limit)
	rollout := readRequest(t, "deployment-create")
	for range limit {
		go func() {
			resp, err := answer(validate, "/validate?timeout=30s", rollout)
			held <- result{resp, err}
		}()
	}
	bv.WaitEntered(t, limit)
	if n := gate.InFlight(); n != limit {
		t.Fatalf("%d admissions in flight, want %d", n, limit)
	}

	tests := []struct {
		name     string
		h        http.Handler
		target   string
		request  string
		allowed  bool
		code     int32
		says     string // in the message or a warning; "" wants no warning
		shedMode string // the mode counted, "" when not counted as shed
	}{
		{"an enforced namespace refuses with 429", validate, "/validate", "deployment-create", false, 429,
			"shipgate: Deployment shop/web: not judged: too many admissions in flight on this replica (webhook.maxInFlight); retry shortly (decision test-", "enforce"},
		{"a warn namespace admits with a warning", validate, "/validate", "deployment-create-latest-warn", true, 200,
			"shipgate: Deployment dev-alice/web: admitted without being judged: too many admissions in flight", "warn"},
		{"an audit namespace admits with a warning", validate, "/validate", "deployment-create-latest-audit", true, 200,
			"admitted without being judged", "audit"},
		{"an excluded namespace is answered as ever", validate, "/validate", "deployment-create-latest-excluded", true, 200, "", ""},
		{"a scale is answered as ever", validate, "/validate", "deployment-update-scale", true, 200, "", ""},
		{"mutate admits with no patch and a warning", mutate, "/mutate", "pod-create-bare-latest", true, 200,
			"shipgate: images were not pinned: too many admissions in flight", "enforce"},
	}
	for _, tc := range tests {
		done := make(chan result, 1)
		go func() {
			resp, err := answer(tc.h, tc.target+"?timeout=30s", readRequest(t, tc.request))
			done <- result{resp, err}
		}()
		var r result
		select {
		case r = <-done:
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: no answer while the gate was full: the request queued", tc.name)
		}
		if r.err != nil {
			t.Errorf("%s: %v", tc.name, r.err)
			continue
		}
		got := r.resp
		if got.Allowed != tc.allowed || got.Result.Code != tc.code {
			t.Errorf("%s: allowed=%v code=%d (%s), want allowed=%v code=%d", tc.name, got.Allowed, got.Result.Code, got.Result.Message, tc.allowed, tc.code)
		}
		text := got.Result.Message + strings.Join(got.Warnings, "\n")
		if tc.says == "" && text != "" {
			t.Errorf("%s: says %q, want nothing", tc.name, text)
		}
		if !strings.Contains(text, tc.says) {
			t.Errorf("%s: says %q, want %q", tc.name, text, tc.says)
		}
		if got.Patch != nil {
			t.Errorf("%s: a shed answer carries a patch %s", tc.name, got.Patch)
		}
		if _, ok := got.AuditAnnotations["shed"]; ok != (tc.shedMode != "") {
			t.Errorf("%s: annotations %v", tc.name, got.AuditAnnotations)
		}
	}
	if len(held) != 0 {
		t.Fatal("a held admission was answered before its verifier was released")
	}
	for _, c := range []struct {
		webhook, mode string
		want          float64
	}{{"validate", "enforce", 1}, {"validate", "warn", 1}, {"validate", "audit", 1}, {"mutate", "enforce", 1}} {
		if got := testutil.ToFloat64(gate.shed.WithLabelValues(c.webhook, c.mode)); got != c.want {
			t.Errorf("shipgate_admissions_shed_total{webhook=%q,mode=%q} = %v, want %v", c.webhook, c.mode, got, c.want)
		}
	}
	if got := testutil.ToFloat64(metrics.requests.WithLabelValues("validate", "Deployment", "shed")); got != 3 {
		t.Errorf(`shipgate_admission_requests_total{decision="shed"} = %v, want 3`, got)
	}

	bv.Release()
	for range limit {
		r := <-held
		if r.err != nil || !r.resp.Allowed || r.resp.Result.Code != 200 {
			t.Errorf("a held admission, released: %+v %v, want allowed", r.resp, r.err)
		}
	}
	if n := gate.InFlight(); n != 0 {
		t.Errorf("%d admissions in flight after all were answered", n)
	}
	resp, err := answer(validate, "/validate?timeout=30s", rollout)
	if err != nil || !resp.Allowed || resp.Result.Code != 200 || len(resp.Warnings) != 0 || resp.AuditAnnotations["shed"] != "" {
		t.Errorf("after the load passed: %+v %v, want judged and allowed", resp, err)
	}
	if got := testutil.ToFloat64(gate.gauge); got != 0 {
		t.Errorf("shipgate_admissions_in_flight = %v, want 0", got)
	}
}

// TestGateFollowsItsLimit: the limit is read per request (a config
// reload applies at once), and zero or less lets everything in.
func TestGateFollowsItsLimit(t *testing.T) {
	t.Parallel()
	limit := 2
	g := NewGate(func() int { return limit }, nil)
	first, second, third := g.enter(), g.enter(), g.enter() // each call takes a slot
	if !first || !second || third {
		t.Fatal("a gate of 2 let in other than 2")
	}
	limit = 3
	if !g.enter() || g.enter() {
		t.Fatal("raising the limit to 3 did not let exactly one more in")
	}
	limit = 0
	if !g.enter() {
		t.Fatal("a limit of 0 shed a request")
	}
	for range 4 {
		g.leave()
	}
	if g.InFlight() != 0 {
		t.Errorf("%d in flight after every place was given back", g.InFlight())
	}
	var nilGate *Gate
	if !nilGate.enter() {
		t.Error("no gate shed a request")
	}
	nilGate.leave()
}
