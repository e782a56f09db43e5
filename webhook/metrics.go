package webhook

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Metrics are the admission counters and latencies shipgate exports.
type Metrics struct {
	requests   *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	unrecorded *prometheus.CounterVec
}

// durationBuckets run from 0.5 ms to 10 s (the API server's longest
// default webhook timeout), 16 buckets spaced evenly on a log scale.
var durationBuckets = prometheus.ExponentialBucketsRange(0.0005, 10, 16)

// NewMetrics registers shipgate_admission_requests_total,
// shipgate_admission_duration_seconds and shipgate_audit_unrecorded_total
// with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipgate_admission_requests_total",
			Help: "Admission requests answered, by webhook, object kind and decision.",
		}, []string{"webhook", "kind", "decision"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "shipgate_admission_duration_seconds",
			Help:    "Time from reading an admission request to writing its answer.",
			Buckets: durationBuckets,
		}, []string{"webhook"}),
		unrecorded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "shipgate_audit_unrecorded_total",
			Help: "Admissions let through in a warn or audit namespace although the audit log could not record them (the decision is in the JSON log only), by mode.",
		}, []string{"mode"}),
	}
	reg.MustRegister(m.requests, m.duration, m.unrecorded)
	return m
}

// observe counts one answered request. kind is bounded to the workload
// kinds shipgate knows so a hostile caller cannot grow the label set.
func (m *Metrics) observe(webhook, kind, decision string, took time.Duration) {
	if m == nil {
		return
	}
	if !workload.Supported(kind) {
		kind = "other"
	}
	m.requests.WithLabelValues(webhook, kind, decision).Inc()
	m.duration.WithLabelValues(webhook).Observe(took.Seconds())
}

// WithMetrics makes the Validator count, in m, the decisions it lets
// through unrecorded (shipgate_audit_unrecorded_total). The HTTP counters
// and latencies are given to Serve.
func WithMetrics(m *Metrics) Option {
	return func(o *options) { o.metrics = m }
}

// countUnrecorded counts one admission of a warn or audit namespace let
// through although its audit record could not be written.
func (m *Metrics) countUnrecorded(mode config.Mode) {
	if m == nil {
		return
	}
	m.unrecorded.WithLabelValues(string(mode)).Inc()
}
