package webhook

import (
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Approvals decides whether a rollout that needs approval has it: an
// approval for its exact fingerprint, or the pending request it waits on.
type Approvals interface {
	Require(ctx context.Context, q approval.Query) (approval.Outcome, error)
}

var _ Approvals = (*approval.Service)(nil)

// WithApprovals sets where approvals are kept. Without it (no store: the
// offline `shipgate check`) a rollout that needs approval is refused, as
// nothing could ever approve it.
func WithApprovals(a Approvals) Option {
	return func(o *options) { o.approvals = a }
}

// requireApproval is the approval step: the namespace binding's rule and
// each policy's require_approval (collected in d.asked), each to be met on
// its own. A valid approval for the fingerprint admits the rollout and the
// decision names it; otherwise the pending request (created now, except on
// a dry run) is a reason that says how to approve it. Inherited objects
// never get here: their rollout was approved.
func (v *Validator) requireApproval(ctx context.Context, d *Decision, req *Request, obj *workload.Object, rule *config.ApprovalRule) {
	asked := d.asked
	if rule != nil {
		asked = append(asked, approval.FromRule(rule))
	}
	if len(asked) == 0 {
		return
	}
	if v.opts.approvals == nil {
		for _, a := range asked {
			d.Reasons = append(d.Reasons, approvalReason(a.Approvers, a.Groups, a.Reason, a.Source))
		}
		return
	}
	if d.Fingerprint == "" {
		// The approval binds to the fingerprint over the template and the
		// digests the signer verified (d.digests, set by verifyImages via
		// v.fingerprint). Without a signer there are no digests, and the
		// fingerprint binds the references as written; POST /v1/approvals
		// must resolve digests the same way (approval.WithResolver).
		v.fingerprint(d, obj, d.digests)
	}
	if d.Fingerprint == "" {
		d.refuse(http.StatusInternalServerError, "approval-error", "computing the rollout's fingerprint for its approval failed")
		return
	}
	images := make([]approval.Image, len(d.Containers))
	for i, c := range d.Containers {
		images[i] = approval.Image{Container: c.Name, Ref: c.Image, Digest: c.Digest}
	}
	out, err := v.opts.approvals.Require(ctx, approval.Query{
		Namespace:    d.Namespace,
		Kind:         d.Kind,
		Name:         d.Name,
		Fingerprint:  d.Fingerprint,
		Images:       images,
		Requester:    approval.User{Name: req.UserInfo.Username, UID: req.UserInfo.UID, Groups: req.UserInfo.Groups},
		Requirements: asked,
		DecisionID:   d.ID,
		DryRun:       d.DryRun,
		// A rollout refused for other reasons does not use its approval.
		Use: len(d.Reasons) == 0 || d.Mode != config.ModeEnforce,
	})
	if err != nil {
		d.refuse(http.StatusServiceUnavailable, "approval-unavailable", "approvals could not be checked: %v", err)
		return
	}
	if out.Satisfied {
		d.Approvals, d.Approvers, d.BreakGlass = out.Approvals, out.Approvers, out.BreakGlass
		return
	}
	d.ApprovalRequest = out.RequestID
	d.Reasons = append(d.Reasons, Reason{Code: "approval-required", Message: pendingMessage(asked, out)})
}

// pendingMessage says what approval is needed and how to give it:
// "the namespace binding requires approval by 2 distinct people from
// release-managers; approval request 7k… is pending (1 of 2 approvals …):
// approve it with `shipgate approvals approve 7k…` or POST
// /v1/approvals/7k…/approve".
func pendingMessage(asked []approval.Requirement, out approval.Outcome) string {
	rules := make([]string, len(asked))
	for i, a := range asked {
		rules[i] = a.String()
	}
	msg := strings.Join(rules, "; ")
	if out.RequestID == "" {
		return msg + "; no approval request exists for this exact rollout and a dry run creates none: apply it without --dry-run, or run `shipgate approvals request -f FILE`, to request approval"
	}
	return fmt.Sprintf("%s; approval request %s is pending (%s): approve it with `%s` or POST %s",
		msg, out.RequestID, out.Progress, approval.ApproveCommand(out.RequestID), approval.ApprovePath(out.RequestID))
}
