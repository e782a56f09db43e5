package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Handler decides one admission request. It never writes HTTP itself; the
// adapter returned by Serve does.
type Handler interface {
	Handle(ctx context.Context, req *Request) Response
}

// Timing gives the deadline rules in force: the timeout to assume when the
// API server sends no ?timeout=, and the margin kept back from it.
type Timing func() (defaultTimeout, margin time.Duration)

// Serve adapts h to HTTP: it caps and decodes the body, derives the
// deadline from ?timeout=, sheds the request when a gate (WithGate) is
// full, recovers panics, writes the AdmissionReview answer and records
// metrics. name is "mutate" or "validate".
func Serve(name string, h Handler, timing Timing, metrics *Metrics, log *slog.Logger, opts ...ServeOption) http.Handler {
	if log == nil {
		log = slog.Default()
	}
	a := &adapter{name: name, h: h, timing: timing, metrics: metrics, log: log}
	for _, opt := range opts {
		opt(a)
	}
	return a
}

type adapter struct {
	name    string
	h       Handler
	timing  Timing
	metrics *Metrics
	log     *slog.Logger
	gate    *Gate
}

func (a *adapter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		a.fail(w, http.StatusMethodNotAllowed, "method must be POST", start)
		return
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "application/json" {
			a.fail(w, http.StatusBadRequest, fmt.Sprintf("content type %q, want application/json", ct), start)
			return
		}
	}
	body, err := readBody(r.Body, r.ContentLength)
	if errors.Is(err, ErrBodyTooLarge) {
		a.fail(w, http.StatusRequestEntityTooLarge, err.Error(), start)
		return
	}
	if err != nil {
		a.fail(w, http.StatusBadRequest, err.Error(), start)
		return
	}
	req, err := DecodeReview(body)
	if err != nil {
		a.fail(w, http.StatusBadRequest, err.Error(), start)
		return
	}

	ctx, cancel := context.WithTimeout(r.Context(), a.budget(r))
	defer cancel()
	var resp Response
	outcome := ""
	if a.gate.enter() {
		resp = a.handle(ctx, req)
		a.gate.leave()
	} else {
		var mode string
		if resp, mode = a.shed(ctx, req); mode != "" {
			a.gate.shed.WithLabelValues(a.name, mode).Inc()
			outcome = "shed"
		}
	}
	resp.UID = req.UID
	if outcome == "" {
		outcome = resp.outcome()
	}

	out, err := json.Marshal(admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	})
	if err != nil {
		// An AdmissionResponse built from strings always encodes; this is
		// only reachable through a bug, and must still not allow.
		a.fail(w, http.StatusInternalServerError, "encoding response: "+err.Error(), start)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(out)
	a.metrics.observe(a.name, workloadKind(req), outcome, time.Since(start))
}

// handle runs the handler, turning a panic that escaped it into a refusal.
// Handlers recover their own panics where they know the namespace's mode;
// this is the last line, and it fails closed.
func (a *adapter) handle(ctx context.Context, req *Request) (resp Response) {
	defer func() {
		if v := recover(); v != nil {
			a.log.Error("admission handler panicked", "webhook", a.name, "uid", req.UID, "panic", fmt.Sprint(v))
			resp = Errored(http.StatusInternalServerError, fmt.Sprintf("shipgate: internal error: %v", v))
		}
	}()
	return a.h.Handle(ctx, req)
}

// budget is the time a request may take: the API server's ?timeout= (or
// the default) minus the margin, and never less than half the timeout.
func (a *adapter) budget(r *http.Request) time.Duration {
	def, margin := 10*time.Second, 500*time.Millisecond
	if a.timing != nil {
		def, margin = a.timing()
	}
	timeout := def
	if s := r.URL.Query().Get("timeout"); s != "" {
		if d, err := time.ParseDuration(s); err == nil && d > 0 {
			timeout = d
		}
	}
	if margin >= timeout/2 {
		return timeout / 2
	}
	return timeout - margin
}

// fail answers a request that could not be read as an AdmissionReview.
func (a *adapter) fail(w http.ResponseWriter, code int, msg string, start time.Time) {
	a.log.Warn("rejected admission request", "webhook", a.name, "status", code, "error", msg)
	http.Error(w, msg, code)
	a.metrics.observe(a.name, "", "invalid", time.Since(start))
}
