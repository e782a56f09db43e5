package webhook

import (
	"context"

	"github.com/shipgate/shipgate/audit"
)

// AuditRecorder records decisions in the audit log.
type AuditRecorder struct {
	log *audit.Log
}

var _ Recorder = (*AuditRecorder)(nil)

// NewAuditRecorder returns a Recorder appending to log.
func NewAuditRecorder(log *audit.Log) *AuditRecorder { return &AuditRecorder{log: log} }

// Record appends the decision and returns once it is committed. A retried
// AdmissionRequest (same uid) makes no second record.
func (r *AuditRecorder) Record(ctx context.Context, d *Decision, req *Request) error {
	_, err := r.log.Append(ctx, AuditRecord(d, req))
	return err
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
		RequestUID:     d.UID,
		DecisionID:     d.ID,
	}
}

// revisions names what the decision was made under: the configuration's
// revision, and the policy's when policy was evaluated.
func revisions(d *Decision) string {
	if d.PolicyRevision == "" {
		return "config " + d.ConfigRevision
	}
	return "config " + d.ConfigRevision + ", policy " + d.PolicyRevision
}
