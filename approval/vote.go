package approval

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate/auth"
)

// DefaultBreakGlassExpiry bounds a break-glass approval whose rules name no
// break-glass expiry (configuration validation requires one, so only a
// request stored under other rules needs it).
const DefaultBreakGlassExpiry = time.Hour

// VoteInput is what an approver says with their vote.
type VoteInput struct {
	Comment string
	// BreakGlass asks for a break-glass approval: one is enough, it needs a
	// reason (the comment), expires quickly and is flagged in the audit log.
	BreakGlass bool
}

// Approve records by's approval of request id. It refuses, with an error
// wrapping the sentinel that says why: an unknown id (ErrNotFound); a
// rejected (ErrRejected), expired (ErrExpired) or already approved
// (ErrDecided) request; the requester (ErrSelfApproval); someone in none of
// the approver groups, or not in a break-glass group for a break-glass
// approval (ErrNotEligible); a second approval by the same person
// (ErrAlreadyVoted); a break-glass approval without a reason (ErrInvalid).
// When the approvals meet every requirement, the request is approved.
func (s *Service) Approve(ctx context.Context, id string, by auth.User, in VoteInput) (*Request, error) {
	return s.vote(ctx, id, by, VerdictApprove, in)
}

// Reject records by's rejection of request id, which ends it. The same
// refusals as Approve apply (any eligible approver may reject).
func (s *Service) Reject(ctx context.Context, id string, by auth.User, comment string) (*Request, error) {
	return s.vote(ctx, id, by, VerdictReject, VoteInput{Comment: comment})
}

func (s *Service) vote(ctx context.Context, id string, by auth.User, verdict string, in VoteInput) (*Request, error) {
	if by.Name == "" {
		return nil, invalid("voting on approval request %s: no user", id)
	}
	var out *Request
	err := s.inTx(ctx, func(t *txn) error {
		r, err := t.s.repo.get(t.ctx, t.q, id, true)
		if err != nil {
			return err
		}
		now, err := t.now()
		if err != nil {
			return err
		}
		out = r
		if err := t.open(r, now); err != nil {
			return t.refuse(err)
		}
		if err := check(r, &by, verdict, in); err != nil {
			return t.refuse(err)
		}
		v := Vote{User: by, Verdict: verdict, BreakGlass: in.BreakGlass, Comment: in.Comment, Time: now}
		if err := t.s.repo.vote(t.ctx, t.q, r.ID, v); err != nil {
			return err
		}
		r.Votes = append(r.Votes, v)
		return t.decide(r, v, now)
	})
	if err != nil {
		return nil, wrap(err, "voting on approval request %s", id)
	}
	return out, nil
}

// open refuses a vote on a request that is no longer pending, expiring it
// first when its time has passed.
func (t *txn) open(r *Request, now time.Time) error {
	if (r.State == Pending || r.State == Approved || r.State == Used) && !now.Before(r.ExpiresAt) {
		if err := t.expire(r, now); err != nil {
			return err
		}
	}
	switch r.State {
	case Pending:
		return nil
	case Rejected:
		by, comment := "", ""
		for _, v := range r.Votes {
			if v.Verdict == VerdictReject {
				by, comment = v.User.Name, v.Comment
			}
		}
		msg := "approval request " + r.ID + " for " + r.Object() + " was rejected by " + by + " at " + r.DecidedAt.Format(time.RFC3339)
		if comment != "" {
			msg += " (" + comment + ")"
		}
		return refusal(ErrRejected, "%s; a rejection ends a request: fix the rollout and apply it again to request a new approval", msg)
	case Expired:
		return refusal(ErrExpired, "approval request %s for %s expired at %s; apply the rollout again to request a new approval",
			r.ID, r.Object(), r.ExpiresAt.Format(time.RFC3339))
	default:
		return refusal(ErrDecided, "approval request %s for %s is already approved (by %s) until %s; it takes no more votes",
			r.ID, r.Object(), strings.Join(r.Approvers(), ", "), r.ExpiresAt.Format(time.RFC3339))
	}
}

// check applies the rules about who may vote and how.
func check(r *Request, by *auth.User, verdict string, in VoteInput) error {
	if by.Name == r.Requester.Name {
		return refusal(ErrSelfApproval, "%s requested approval %s for %s and cannot %s it: approvals must come from someone other than the requester",
			by.Name, r.ID, r.Object(), verdict)
	}
	if in.BreakGlass {
		glass := breakGlassGroups(r.Requirements)
		if len(glass) == 0 {
			return refusal(ErrNotEligible, "approval request %s for %s allows no break-glass approval: its rules name no breakGlassGroups", r.ID, r.Object())
		}
		if !slices.ContainsFunc(glass, by.InGroup) {
			return refusal(ErrNotEligible, "%s is not in %s, the break-glass groups of approval request %s", by.Name, strings.Join(glass, ", "), r.ID)
		}
		if strings.TrimSpace(in.Comment) == "" {
			return refusal(ErrInvalid, "a break-glass approval needs a reason: say why the usual approvals cannot wait")
		}
	} else {
		ok := eligible(r.Requirements, by)
		if verdict == VerdictApprove {
			ok = slices.ContainsFunc(r.Requirements, func(q Requirement) bool { return q.admits(by) })
		}
		groups := approverGroups(r.Requirements)
		if verdict == VerdictReject {
			groups = append(groups, breakGlassGroups(r.Requirements)...)
		}
		switch {
		case ok:
		case len(groups) == 0:
			return refusal(ErrNotEligible, "approval request %s for %s takes only break-glass approvals, with a reason", r.ID, r.Object())
		default:
			return refusal(ErrNotEligible, "%s is not in %s, the groups that may %s approval request %s", by.Name, strings.Join(groups, ", "), verdict, r.ID)
		}
	}
	for _, v := range r.Votes {
		if v.User.Name == by.Name && v.Verdict == verdict {
			return refusal(ErrAlreadyVoted, "%s already %sd approval request %s at %s; the same person counts once", by.Name, verdict, r.ID, v.Time.Format(time.RFC3339))
		}
	}
	return nil
}

// decide moves the request on after vote v: a rejection ends it, a
// break-glass approval approves it at once with the short expiry, and
// ordinary approvals approve it when they meet every requirement.
func (t *txn) decide(r *Request, v Vote, now time.Time) error {
	action := ActionApproved
	switch {
	case v.Verdict == VerdictReject:
		r.State, r.DecidedAt, action = Rejected, now, ActionRejected
	case v.BreakGlass:
		wait := expiryOf(r.Requirements, breakGlassExpiry)
		if wait == 0 {
			wait = DefaultBreakGlassExpiry
		}
		r.State, r.DecidedAt, r.ExpiresAt = Approved, now, now.Add(wait)
		r.BreakGlass, r.BreakGlassReason, action = true, v.Comment, ActionBreakGlass
	default:
		if ok, _, _ := met(r.Requirements, r.Votes, r.Requester.Name); ok {
			wait := expiryOf(r.Requirements, approvedExpiry)
			if wait == 0 {
				wait = DefaultApprovedExpiry
			}
			r.State, r.DecidedAt, r.ExpiresAt = Approved, now, now.Add(wait)
		}
	}
	if r.State != Pending {
		moved, err := t.s.repo.transition(t.ctx, t.q, r, Pending)
		if err != nil {
			return err
		}
		if !moved {
			return refusal(ErrDecided, "approval request %s changed while voting; try again", r.ID)
		}
	}
	return t.record(r, action, v.User, now, "", Details{
		Progress: r.Progress(), Approvers: r.Approvers(), Comment: v.Comment, BreakGlass: v.BreakGlass,
	})
}
