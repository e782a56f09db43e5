package approval

import (
	"context"
	"time"

	"github.com/shipgate/shipgate/auth"
)

// Query is what /validate asks about one rollout that needs approval.
type Query struct {
	Namespace   string
	Kind        string
	Name        string
	Fingerprint string
	Images      []Image
	// Requester is the AdmissionRequest's user: a request created now names
	// them, and their own approvals never count for their rollout.
	Requester auth.User
	// Requirements are the rules in force: the namespace binding's and
	// each policy's require_approval, each to be met on its own.
	Requirements []Requirement
	// DecisionID is the admission decision asking.
	DecisionID string
	// DryRun decides without writing anything: no request is created, no
	// expiry or use recorded.
	DryRun bool
	// Use records that the approval admits the rollout (a "used" event).
	// False when the decision refuses the rollout for other reasons.
	Use bool
}

// Outcome is Require's answer: satisfied, with the approval used, or the
// request that waits for approvals.
type Outcome struct {
	Satisfied bool
	// Approvals are the ids of the approval requests that satisfied the
	// requirements; Approvers the people whose approvals counted.
	Approvals  []string
	Approvers  []string
	BreakGlass bool
	// RequestID is the pending request, "" on a dry run that found none.
	RequestID string
	// Created is true when this call created the request.
	Created bool
	// Progress is how far the pending request is: "1 of 2 approvals from
	// release-managers (the namespace binding)".
	Progress string
}

// maxCreateAttempts bounds retries when another replica creates the
// pending request for the same fingerprint at the same moment: the second
// attempt finds that one.
const maxCreateAttempts = 3

// Require decides whether the rollout q describes has valid approvals. An
// approved request for the same fingerprint, not expired, whose approvals
// (leaving out the requester's and q.Requester's) meet every requirement in
// force, satisfies it; its use is recorded. Otherwise the pending request
// for the fingerprint is returned, or one is created (not on a dry run).
// Lapsed requests found on the way are expired.
func (s *Service) Require(ctx context.Context, q Query) (Outcome, error) {
	if len(q.Requirements) == 0 || q.Fingerprint == "" || q.Namespace == "" {
		return Outcome{}, invalid("checking approvals: a namespace, a fingerprint and requirements are needed")
	}
	var out Outcome
	var err error
	for attempt := 1; ; attempt++ {
		err = s.inTx(ctx, func(t *txn) error {
			out = Outcome{}
			return t.require(q, &out)
		})
		if !isUniqueViolation(err) || attempt == maxCreateAttempts {
			break
		}
	}
	if err != nil {
		return Outcome{}, wrap(err, "checking the approvals of %s %s/%s", q.Kind, q.Namespace, q.Name)
	}
	return out, nil
}

func (t *txn) require(q Query, out *Outcome) error {
	now, err := t.now()
	if err != nil {
		return err
	}
	live, err := t.s.repo.live(t.ctx, t.q, q.Namespace, q.Fingerprint)
	if err != nil {
		return err
	}
	var pending *Request
	for _, r := range live {
		if !now.Before(r.ExpiresAt) {
			if !q.DryRun {
				if err := t.expire(r, now); err != nil {
					return err
				}
			}
			continue
		}
		if r.State == Pending {
			pending = r
			continue
		}
		ok, approvers, glass := met(q.Requirements, r.Votes, r.Requester.Name, q.Requester.Name)
		if !ok {
			continue // approved under other rules, or by the deployer: not for this admission
		}
		*out = Outcome{Satisfied: true, Approvals: []string{r.ID}, Approvers: approvers, BreakGlass: glass}
		if q.Use && !q.DryRun {
			return t.use(r, q, now, approvers, glass)
		}
		return nil
	}
	if pending != nil {
		*out = Outcome{RequestID: pending.ID, Progress: progressOf(q.Requirements, pending.Votes, pending.Requester.Name, q.Requester.Name)}
		return nil
	}
	if q.DryRun {
		*out = Outcome{Progress: progressOf(q.Requirements, nil)}
		return nil
	}
	r := &Request{
		ID: newID(), Namespace: q.Namespace, Kind: q.Kind, Name: q.Name, Fingerprint: q.Fingerprint,
		Images: q.Images, Requester: q.Requester, Requirements: q.Requirements, State: Pending,
		Votes: []Vote{}, DecisionID: q.DecisionID, CreatedAt: now,
	}
	if r.Images == nil {
		r.Images = []Image{}
	}
	wait := expiryOf(r.Requirements, pendingExpiry)
	if wait == 0 {
		wait = DefaultPendingExpiry // a break-glass-only rule sets no pending expiry
	}
	r.ExpiresAt = now.Add(wait)
	if err := t.s.repo.insert(t.ctx, t.q, r); err != nil {
		return err
	}
	reqs := make([]string, len(r.Requirements))
	for i, x := range r.Requirements {
		reqs[i] = x.String()
	}
	if err := t.record(r, ActionRequested, q.Requester, now, q.DecisionID, Details{Requirements: reqs, Progress: r.Progress()}); err != nil {
		return err
	}
	*out = Outcome{RequestID: r.ID, Created: true, Progress: progressOf(q.Requirements, nil)}
	return nil
}

// use records that r admitted q's rollout.
func (t *txn) use(r *Request, q Query, now time.Time, approvers []string, glass bool) error {
	if err := t.s.repo.use(t.ctx, t.q, r.ID, now); err != nil {
		return err
	}
	r.State = Used
	if r.UsedAt.IsZero() {
		r.UsedAt = now
	}
	r.Uses++
	return t.record(r, ActionUsed, q.Requester, now, q.DecisionID, Details{Approvers: approvers, BreakGlass: glass})
}

// expire ends a lapsed request, recording it once (whichever replica's
// transaction moves it).
func (t *txn) expire(r *Request, now time.Time) error {
	from := r.State
	r.State, r.DecidedAt = Expired, now
	moved, err := t.s.repo.transition(t.ctx, t.q, r, from)
	if err != nil || !moved {
		return err
	}
	return t.record(r, ActionExpired, auth.User{}, now, "", Details{Progress: r.Progress(), Approvers: r.Approvers(), BreakGlass: r.BreakGlass})
}

// Expire ends every request whose expiry has passed by the store's clock,
// and returns how many it ended. Run calls it periodically, so receivers
// hear of a lapsed request even when nobody asks about it.
func (s *Service) Expire(ctx context.Context) (int, error) {
	total := 0
	for {
		n := 0
		err := s.inTx(ctx, func(t *txn) error {
			n = 0
			now, err := t.now()
			if err != nil {
				return err
			}
			lapsed, err := t.s.repo.lapsed(t.ctx, t.q, now, 100)
			if err != nil {
				return err
			}
			for _, r := range lapsed {
				if err := t.expire(r, now); err != nil {
					return err
				}
			}
			n = len(lapsed)
			return nil
		})
		if err != nil {
			return total, err
		}
		total += n
		if n < 100 {
			return total, nil
		}
	}
}
