package webhook

import (
	"context"
	"fmt"
	"net/http"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Recorder writes a decision to the audit log and returns once it is
// durable.
type Recorder interface {
	Record(ctx context.Context, d *Decision, req *Request) error
}

// WithRecorder sets where decisions are recorded. Without one nothing is
// recorded (the offline `shipgate check`).
func WithRecorder(r Recorder) Option {
	return func(o *options) { o.recorder = r }
}

// mustRecord says whether a decision goes to the audit log: every rollout
// (admitted or not) and every decision that had reasons. Inherited objects
// are counted on their rollout's record; ignored requests leave no trace;
// a dry run writes nothing.
func mustRecord(d *Decision) bool {
	if d.DryRun || d.Excluded {
		return false
	}
	return d.Class == workload.Rollout.String() || len(d.Reasons) > 0
}

// record writes d before it is answered. An allowed rollout is never
// answered unrecorded: if the audit log cannot take it, an enforced
// namespace refuses it (503, "audit store unavailable") and a warn or audit
// namespace lets it through with a warning. A refusal that cannot be
// recorded stays a refusal; the failure is logged.
func (v *Validator) record(ctx context.Context, d *Decision, req *Request) {
	if v.opts.recorder == nil || !mustRecord(d) {
		return
	}
	err := v.opts.recorder.Record(ctx, d, req)
	if d.remember != nil && d.Allowed && (err == nil || d.Mode != config.ModeEnforce) {
		// Admitted: its Pods are pinned from memory even when the store
		// could not take the record (a warn namespace).
		d.remember()
	}
	if err == nil {
		return
	}
	v.opts.log.Error("recording the decision failed", "decision", d.ID, "uid", d.UID, "error", err.Error())
	if !d.Allowed {
		return
	}
	if d.Mode == config.ModeEnforce {
		d.refuse(http.StatusServiceUnavailable, "audit-unavailable",
			"audit store unavailable, so the rollout cannot be recorded: %v", err)
		d.Allowed = false
		return
	}
	d.Warnings = append(d.Warnings, fmt.Sprintf("shipgate: %s was admitted but not recorded in the audit log: %v (decision %s)", d.object(), err, d.ID))
	v.opts.metrics.countUnrecorded(d.Mode)
}
