package webhook

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/shipgate/shipgate/config"
)

func TestServeRejectsWhatIsNotAnAdmissionReview(t *testing.T) {
	t.Parallel()
	valid := string(readRequest(t, "deployment-create"))
	tests := map[string]struct {
		method, contentType, body string
		status                    int
		says                      string
	}{
		"a body over 7 MiB":       {body: `{"x":"` + strings.Repeat("a", MaxBodyBytes) + `"}`, status: 413, says: "exceeds 7 MiB"},
		"a body that is not JSON": {body: "apiVersion: v1\n", status: 400, says: "invalid AdmissionReview"},
		"the wrong apiVersion":    {body: strings.Replace(valid, "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1), status: 400, says: "want admission.k8s.io/v1 AdmissionReview"},
		"the wrong kind":          {body: `{"apiVersion":"admission.k8s.io/v1","kind":"Pod","request":{"uid":"x"}}`, status: 400, says: `kind "Pod"`},
		"no request":              {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`, status: 400, says: "no request"},
		"no request.uid":          {body: `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"operation":"CREATE"}}`, status: 400, says: "request.uid is empty"},
		"a text content type":     {contentType: "text/plain", body: valid, status: 400, says: "want application/json"},
		"a GET":                   {method: http.MethodGet, status: 405, says: "POST"},
		"an empty body":           {body: "", status: 400, says: "invalid AdmissionReview"},
	}
	h := Serve("validate", newTestValidator(t), nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			r := httptest.NewRequest(method, "/validate", strings.NewReader(tc.body))
			ct := tc.contentType
			if ct == "" {
				ct = "application/json"
			}
			r.Header.Set("Content-Type", ct)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			if rec.Code != tc.status {
				t.Errorf("HTTP %d, want %d", rec.Code, tc.status)
			}
			body := rec.Body.String()
			if !strings.Contains(body, tc.says) {
				t.Errorf("body %q does not say %q", body, tc.says)
			}
			if strings.Count(strings.TrimSpace(body), "\n") > 0 {
				t.Errorf("reason is not one line: %q", body)
			}
		})
	}
}

// panicking is a namespace lookup that panics, to reach the recovery.
type panicking struct{}

func (panicking) Labels(context.Context, string) (map[string]string, error) { panic("boom") }

func TestPanicFailsClosedInEnforcedNamespaces(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	v := NewValidator(func() *config.GatewayConfig { return cfg }, WithNamespaceLabels(panicking{}),
		WithIDs(sequence()), WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	h := Serve("validate", v, nil, nil, nil)

	resp := postReview(t, h, "/validate", readRequest(t, "deployment-create"))
	if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "internal error: boom") {
		t.Errorf("enforced namespace: allowed=%v code=%d message=%q, want a 500 refusal naming the panic", resp.Allowed, resp.Result.Code, resp.Result.Message)
	}
	// The panic happens before the binding is known, so even a warn
	// namespace fails closed: shipgate cannot tell it is one.
	resp = postReview(t, h, "/validate", readRequest(t, "deployment-create-latest-warn"))
	if resp.Allowed {
		t.Errorf("a panic before the binding is known was allowed")
	}
}

// panicHandler panics past any handler-level recovery.
type panicHandler struct{}

func (panicHandler) Handle(context.Context, *Request) Response { panic("escaped") }

func TestAdapterRecoversAnEscapedPanic(t *testing.T) {
	t.Parallel()
	resp := postReview(t, Serve("validate", panicHandler{}, nil, nil, slog.New(slog.NewTextHandler(io.Discard, nil))),
		"/validate", readRequest(t, "deployment-create"))
	if resp.Allowed || resp.Result.Code != 500 || !strings.Contains(resp.Result.Message, "escaped") {
		t.Errorf("allowed=%v code=%d message=%q, want a 500 refusal", resp.Allowed, resp.Result.Code, resp.Result.Message)
	}
}

// deadlineProbe records the deadline its context carries.
type deadlineProbe struct{ left chan time.Duration }

func (p deadlineProbe) Handle(ctx context.Context, _ *Request) Response {
	dl, ok := ctx.Deadline()
	if !ok {
		p.left <- -1
	} else {
		p.left <- time.Until(dl)
	}
	return Allowed()
}

func TestDeadlineComesFromTheTimeoutParameter(t *testing.T) {
	t.Parallel()
	tests := map[string]struct {
		query    string
		min, max time.Duration
	}{
		"timeout=3s less the 500ms margin":           {query: "?timeout=3s", min: 2 * time.Second, max: 2500 * time.Millisecond},
		"no timeout: the 10s default less 500ms":     {query: "", min: 9 * time.Second, max: 9500 * time.Millisecond},
		"timeout=800ms: half, not less than nothing": {query: "?timeout=800ms", min: 300 * time.Millisecond, max: 400 * time.Millisecond},
		"an unreadable timeout: the default":         {query: "?timeout=soon", min: 9 * time.Second, max: 9500 * time.Millisecond},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			p := deadlineProbe{left: make(chan time.Duration, 1)}
			timing := func() (time.Duration, time.Duration) { return 10 * time.Second, 500 * time.Millisecond }
			postReview(t, Serve("validate", p, timing, nil, nil), "/validate"+tc.query, readRequest(t, "deployment-create"))
			left := <-p.left
			if left < tc.min || left > tc.max {
				t.Errorf("deadline %v away, want between %v and %v", left, tc.min, tc.max)
			}
		})
	}
}

func TestMutateAllowsWithoutPatchAndIsIdempotent(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	h := Serve("mutate", NewMutator(func() *config.GatewayConfig { return cfg }, WithIDs(sequence())), nil, nil, nil)
	for _, name := range []string{"deployment-create-latest", "pod-create-inherited", "pod-ephemeral-latest"} {
		body := readRequest(t, name)
		first := postReview(t, h, "/mutate", body)
		second := postReview(t, h, "/mutate", body)
		if !first.Allowed || first.Patch != nil || first.PatchType != nil {
			t.Errorf("%s: mutate answered allowed=%v patch=%q; it must never deny and has nothing to pin yet", name, first.Allowed, first.Patch)
		}
		if !bytes.Equal(first.Patch, second.Patch) || first.Allowed != second.Allowed {
			t.Errorf("%s: a second call answered differently", name)
		}
	}
}

func TestMetricsCountDecisions(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	h := Serve("validate", newTestValidator(t), nil, m, slog.New(slog.NewTextHandler(io.Discard, nil)))
	postReview(t, h, "/validate", readRequest(t, "deployment-create"))
	postReview(t, h, "/validate", readRequest(t, "deployment-create-latest"))
	postReview(t, h, "/validate", readRequest(t, "deployment-create-latest"))
	postReview(t, h, "/validate", readRequest(t, "deployment-create-latest-warn"))
	postReview(t, h, "/validate", readRequest(t, "crd-named-deployment"))
	tests := map[string]struct {
		kind, decision string
		want           float64
	}{
		"one admitted Deployment": {"Deployment", "allowed", 1},
		"two denied":              {"Deployment", "denied", 2},
		"one warned":              {"Deployment", "warned", 1},
		"a CRD counts as other":   {"other", "allowed", 1},
	}
	for name, tc := range tests {
		got := testutil.ToFloat64(m.requests.WithLabelValues("validate", tc.kind, tc.decision))
		if got != tc.want {
			t.Errorf("%s: shipgate_admission_requests_total{kind=%q,decision=%q} = %v, want %v", name, tc.kind, tc.decision, got, tc.want)
		}
	}
	if n := testutil.CollectAndCount(m.duration); n != 1 {
		t.Errorf("duration histogram has %d series, want 1", n)
	}
}
