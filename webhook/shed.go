package webhook

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Gate bounds the admissions in flight: both webhooks' adapters share one,
// and a request that finds it full is shed — answered at once, without
// being judged, rather than queued into the API server's timeout. The
// answer is still HTTP 200 with an AdmissionResponse: any other status
// makes the API server apply failurePolicy and retry, which turns shedding
// into more load.
type Gate struct {
	limit    func() int
	inFlight atomic.Int64
	shed     *prometheus.CounterVec
	gauge    prometheus.Gauge
}

// NewGate returns a gate that lets limit() admissions in at once (limit is
// read on every request, so a configuration reload applies at once; a
// limit of zero or less lets everything in). With reg it registers
// shipgate_admissions_shed_total{webhook,mode} and
// shipgate_admissions_in_flight.
func NewGate(limit func() int, reg prometheus.Registerer) *Gate {
	g := &Gate{
		limit: limit,
		shed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipgate_admissions_shed_total",
			Help: "Admission requests answered without being judged because webhook.maxInFlight admissions were in flight, by webhook and the namespace's mode.",
		}, []string{"webhook", "mode"}),
		gauge: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "shipgate_admissions_in_flight",
			Help: "Admission requests being judged now (webhook.maxInFlight bounds it).",
		}),
	}
	if reg != nil {
		reg.MustRegister(g.shed, g.gauge)
	}
	return g
}

// InFlight is the number of admissions being judged now.
func (g *Gate) InFlight() int { return int(g.inFlight.Load()) }

// enter takes a place, or reports that there is none. A nil gate lets
// everything in.
func (g *Gate) enter() bool {
	if g == nil {
		return true
	}
	n := g.inFlight.Add(1)
	if limit := g.limit(); limit > 0 && n > int64(limit) {
		g.inFlight.Add(-1)
		return false
	}
	g.gauge.Inc()
	return true
}

// leave gives a place back.
func (g *Gate) leave() {
	if g == nil {
		return
	}
	g.inFlight.Add(-1)
	g.gauge.Dec()
}

// ServeOption configures the adapter Serve returns.
type ServeOption func(*adapter)

// WithGate makes the adapter shed requests that find g full. Give both
// webhooks the same gate: the bound is the replica's, not each endpoint's.
func WithGate(g *Gate) ServeOption {
	return func(a *adapter) { a.gate = g }
}

// Shedder is a Handler that can answer, cheaply and without waiting on
// anything, a request it has no room to judge. The mode it returns is the
// namespace's, for the metric; "" means the request is not one shipgate
// judges at all (an excluded namespace, a scale, a DELETE), so its answer
// is the one the pipeline would give and it is not counted as shed.
type Shedder interface {
	Shed(ctx context.Context, req *Request) (Response, config.Mode)
}

// shedMessage is the end of every shed answer.
const shedMessage = "too many admissions in flight on this replica (webhook.maxInFlight)"

// Shed answers a request the gate had no room for from its namespace's
// binding (labels come from the informer cache, and judged asks no owner,
// so nothing here waits on the network): an enforced namespace refuses it
// with 429, a warn or audit namespace admits it with a warning that it
// was not judged. A shed admission is not in the audit log; it is logged
// and counted in shipgate_admissions_shed_total.
func (v *Validator) Shed(ctx context.Context, req *Request) (Response, config.Mode) {
	cfg := v.config()
	if !judged(ctx, cfg, req, true) {
		return Allowed(), ""
	}
	mode := shedMode(ctx, cfg, v.opts.namespaces, req)
	id := v.opts.ids()
	object := (&Decision{Kind: req.Kind.Kind, Namespace: req.Namespace, Name: req.Name}).object()
	var resp Response
	if mode == config.ModeEnforce {
		resp = Errored(http.StatusTooManyRequests, fmt.Sprintf("shipgate: %s: not judged: %s; retry shortly (decision %s)", object, shedMessage, id))
	} else {
		resp = Allowed().WithWarnings(fmt.Sprintf("shipgate: %s: admitted without being judged: %s (decision %s)", object, shedMessage, id))
	}
	v.opts.log.Warn("admission shed",
		"webhook", "validate",
		"decision", id,
		"uid", string(req.UID),
		"namespace", req.Namespace,
		"name", req.Name,
		"kind", req.Kind.Kind,
		"operation", string(req.Operation),
		"user", req.UserInfo.Username,
		"mode", string(mode),
		"allowed", resp.Allowed,
	)
	return resp.WithAnnotation("decision-id", id).WithAnnotation("shed", "webhook.maxInFlight"), mode
}

// Shed answers allowed with no patch: /mutate never denies. Where it
// would have pinned images, a warning says they were not.
func (m *Mutator) Shed(ctx context.Context, req *Request) (Response, config.Mode) {
	cfg := m.config()
	if !judged(ctx, cfg, req, false) || (workloadKind(req) != "Pod" && !cfg.Verification.PinTemplates) {
		return Allowed(), ""
	}
	id := m.opts.ids()
	return Allowed().WithWarnings("shipgate: images were not pinned: "+shedMessage).
		WithAnnotation("decision-id", id).WithAnnotation("shed", "webhook.maxInFlight"), shedMode(ctx, cfg, m.opts.namespaces, req)
}

// judged tells whether the pipeline would judge req, from what can be
// learnt without waiting on anything: the early exits of Validator.decide
// (validate) and Mutator.pin (mutate: CREATE and UPDATE only), then the
// object's class with no owner lookup, so that an UPDATE leaving the pod
// template alone (a controller's annotation, a label) is answered as
// ever. An object that might inherit counts as judged: telling needs its
// owner, and that may mean the network.
func judged(ctx context.Context, cfg *config.GatewayConfig, req *Request, validate bool) bool {
	kind := workloadKind(req)
	switch {
	case slices.Contains(cfg.ExcludedNamespaces, req.Namespace), kind == "",
		req.Operation == "DELETE", req.Operation == "CONNECT":
		return false
	case req.SubResource != "" && req.SubResource != "ephemeralcontainers",
		!validate && req.Operation != "CREATE" && req.Operation != "UPDATE":
		return false
	}
	obj, err := workload.Decode(kind, req.Object.Raw, workload.Prevalidated())
	if err != nil {
		return true
	}
	var old *workload.Object
	if req.Operation == "UPDATE" && len(req.OldObject.Raw) > 0 {
		old, _ = workload.DecodeTemplate(kind, req.OldObject.Raw, workload.Prevalidated())
	}
	cls, err := workload.Classify(ctx, workload.Request{
		Operation: string(req.Operation), SubResource: req.SubResource, Username: req.UserInfo.Username,
	}, obj, old, nil, controllers(cfg))
	return err != nil || cls.Class != workload.Ignore
}

// shedMode is the mode of req's namespace; enforce when its labels cannot
// be read (fail closed).
func shedMode(ctx context.Context, cfg *config.GatewayConfig, ns config.NamespaceLabels, req *Request) config.Mode {
	labels, err := ns.Labels(ctx, req.Namespace)
	if err != nil {
		return config.ModeEnforce
	}
	return cfg.Resolve(req.Namespace, labels).Binding.Mode
}

// shed answers a request the gate had no room for. A handler that is not
// a Shedder, or one that panics, refuses it (fail closed).
func (a *adapter) shed(ctx context.Context, req *Request) (resp Response, mode string) {
	defer func() {
		if v := recover(); v != nil {
			a.log.Error("shedding panicked", "webhook", a.name, "uid", req.UID, "panic", fmt.Sprint(v))
			resp, mode = Errored(http.StatusTooManyRequests, "shipgate: not judged: "+shedMessage+"; retry shortly"), "unknown"
		}
	}()
	s, ok := a.h.(Shedder)
	if !ok {
		return Errored(http.StatusTooManyRequests, "shipgate: not judged: "+shedMessage+"; retry shortly"), "unknown"
	}
	r, m := s.Shed(ctx, req)
	return r, string(m)
}
