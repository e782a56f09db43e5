package webhook

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/shipgate/shipgate/audit"
)

// AuditRecorder records decisions in the audit log.
type AuditRecorder struct {
	log      *audit.Log
	coalesce *coalescer
	logger   *slog.Logger
}

var _ Recorder = (*AuditRecorder)(nil)

// AuditOption configures an AuditRecorder.
type AuditOption func(*AuditRecorder)

// NewAuditRecorder returns a Recorder appending to log.
func NewAuditRecorder(log *audit.Log, opts ...AuditOption) *AuditRecorder {
	r := &AuditRecorder{log: log, logger: slog.Default()}
	for _, o := range opts {
		o(r)
	}
	return r
}

// Record appends the decision and returns once it is committed. A retried
// AdmissionRequest (same uid) makes no second record. With a denial window,
// a refusal is counted in its window instead (a refusal needs no durable
// record before it is answered: nothing was admitted).
func (r *AuditRecorder) Record(ctx context.Context, d *Decision, req *Request) error {
	rec := AuditRecord(d, req)
	if r.coalesce != nil && !d.Allowed {
		r.coalesce.add(rec)
		return nil
	}
	if d.rollout == nil {
		_, err := r.log.Append(ctx, rec)
		return err
	}
	_, err := r.log.AppendWith(ctx, rec, d.rollout)
	return err
}

// WithAuditLogger sets where the recorder logs appends it will retry
// (slog.Default() without it).
func WithAuditLogger(l *slog.Logger) AuditOption {
	return func(r *AuditRecorder) { r.logger = l }
}

func (r *AuditRecorder) logErr(err error) {
	r.logger.Error("appending coalesced denials; they will be retried", "error", err.Error())
}

// AuditRecord is the audit log's record of a decision: who (userInfo),
// what (the object, its images, the decision and why), where (the
// AdmissionRequest uid and the decision id).
func AuditRecord(d *Decision, req *Request) audit.Record {
	images := make([]audit.Image, 0, len(d.Containers))
	for _, c := range d.Containers {
		images = append(images, audit.Image{Container: c.Name, Ref: c.Image, Digest: c.Digest})
	}
	return audit.Record{
		Event: audit.EventAdmission,
		User: audit.User{
			Username: req.UserInfo.Username,
			UID:      req.UserInfo.UID,
			Groups:   req.UserInfo.Groups,
		},
		Operation:      d.Operation,
		Kind:           d.Kind,
		Namespace:      d.Namespace,
		Name:           d.Name,
		Images:         images,
		PolicyRevision: revisions(d),
		Decision:       d.Verdict(),
		Reasons:        reasonMessages(d.Reasons),
		Approvals:      d.Approvals,
		RequestUID:     d.UID,
		DecisionID:     d.ID,
		Details:        details(d),
	}
}

// details holds what an admission record says beyond its fields: who
// approved the rollout and whether it was break-glass, and notes such as
// an image admitted on its last-known-good verification. nil when there
// is nothing to say.
func details(d *Decision) json.RawMessage {
	if len(d.Approvals) == 0 && len(d.Notes) == 0 {
		return nil
	}
	b, _ := json.Marshal(struct {
		Approvers  []string `json:"approvers,omitempty"`
		BreakGlass bool     `json:"breakGlass,omitempty"`
		Notes      []string `json:"notes,omitempty"`
	}{d.Approvers, d.BreakGlass, d.Notes})
	return b
}

// revisions names what the decision was made under: the configuration's
// revision, and the policy's when policy was evaluated.
func revisions(d *Decision) string {
	if d.PolicyRevision == "" {
		return "config " + d.ConfigRevision
	}
	return "config " + d.ConfigRevision + ", policy " + d.PolicyRevision
}
