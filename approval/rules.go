package approval

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/shipgate/shipgate/auth"
	"github.com/shipgate/shipgate/config"
)

// Expiries of a policy's require_approval when the namespace binding has no
// approval rule to take them from: a request waits three days for its
// approvers, an approval lasts a working day (the values DESIGN.md shows).
const (
	DefaultPendingExpiry  = 72 * time.Hour
	DefaultApprovedExpiry = 24 * time.Hour
)

// Requirement is one rule a rollout's approvals must meet: Approvers
// distinct people, never the requester, each in one of Groups (anyone when
// empty). A single approval by a member of BreakGlassGroups, with a reason,
// meets every requirement of the request at once.
type Requirement struct {
	// Source names who asks: "the namespace binding", "policy release".
	Source           string                `json:"source"`
	Approvers        int                   `json:"approvers"`
	Groups           []string              `json:"groups,omitempty"`
	BreakGlassGroups []string              `json:"breakGlassGroups,omitempty"`
	Reason           string                `json:"reason,omitempty"`
	Expiry           config.ApprovalExpiry `json:"expiry"`
}

// FromRule is the requirement of a namespace binding's approval rule.
func FromRule(r *config.ApprovalRule) Requirement {
	return Requirement{
		Source:           "the namespace binding",
		Approvers:        r.Approvers,
		Groups:           slices.Clone(r.Groups),
		BreakGlassGroups: slices.Clone(r.BreakGlassGroups),
		Expiry:           r.Expiry,
	}
}

// FromPolicy is the requirement of a policy set's require_approval. Rego
// says how many and from which groups; expiry and break-glass groups come
// from the namespace binding's rule when it has one (binding may be nil),
// else DefaultPendingExpiry and DefaultApprovedExpiry and no break-glass.
func FromPolicy(set string, approvers int, groups []string, reason string, binding *config.ApprovalRule) Requirement {
	r := Requirement{
		Source:    "policy " + set,
		Approvers: approvers,
		Groups:    slices.Clone(groups),
		Reason:    reason,
		Expiry: config.ApprovalExpiry{
			Pending:  config.Duration{Duration: DefaultPendingExpiry},
			Approved: config.Duration{Duration: DefaultApprovedExpiry},
		},
	}
	if binding != nil {
		r.BreakGlassGroups = slices.Clone(binding.BreakGlassGroups)
		r.Expiry = binding.Expiry
		if r.Expiry.Pending.Duration <= 0 {
			r.Expiry.Pending.Duration = DefaultPendingExpiry
		}
		if r.Expiry.Approved.Duration <= 0 {
			r.Expiry.Approved.Duration = DefaultApprovedExpiry
		}
	}
	return r
}

// String is "the namespace binding requires approval by 2 distinct people
// from release-managers (reason)".
func (r Requirement) String() string {
	msg := fmt.Sprintf("%s requires approval by %d distinct %s", r.Source, r.Approvers, plural(r.Approvers, "person", "people"))
	if r.Approvers == 0 {
		msg = fmt.Sprintf("%s requires a break-glass approval", r.Source)
	}
	if len(r.Groups) > 0 && r.Approvers > 0 {
		msg += " from " + strings.Join(r.Groups, ", ")
	}
	if r.Reason != "" {
		msg += " (" + r.Reason + ")"
	}
	return msg
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// admits tells whether u may cast an ordinary approval that counts for r.
func (r Requirement) admits(u *auth.User) bool {
	return r.Approvers > 0 && (len(r.Groups) == 0 || slices.ContainsFunc(r.Groups, u.InGroup))
}

// breakGlassGroups is the union of the requirements' break-glass groups.
func breakGlassGroups(reqs []Requirement) []string {
	var out []string
	for _, r := range reqs {
		for _, g := range r.BreakGlassGroups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

// approverGroups is the union of the groups of requirements that take
// ordinary approvals, or nil when one of them takes anyone.
func approverGroups(reqs []Requirement) []string {
	var out []string
	for _, r := range reqs {
		if r.Approvers == 0 {
			continue
		}
		if len(r.Groups) == 0 {
			return nil
		}
		for _, g := range r.Groups {
			if !slices.Contains(out, g) {
				out = append(out, g)
			}
		}
	}
	return out
}

// eligible tells whether u may approve (ordinarily) or reject: u counts for
// at least one requirement, or is a break-glass approver.
func eligible(reqs []Requirement, u *auth.User) bool {
	return slices.ContainsFunc(reqs, func(r Requirement) bool { return r.admits(u) }) ||
		slices.ContainsFunc(breakGlassGroups(reqs), u.InGroup)
}

// met judges votes against requirements, leaving out the votes of the
// excluded users (the requester; at admission, the deployer too). It
// returns whether every requirement is met, the people whose approvals
// count, and whether a break-glass approval met them.
func met(reqs []Requirement, votes []Vote, exclude ...string) (ok bool, approvers []string, breakGlass bool) {
	counted := func(v Vote) bool {
		return v.Verdict == VerdictApprove && !slices.Contains(exclude, v.User.Name)
	}
	glass := breakGlassGroups(reqs)
	for _, v := range votes {
		if counted(v) && v.BreakGlass && slices.ContainsFunc(glass, v.User.InGroup) {
			return true, []string{v.User.Name}, true
		}
	}
	ok = len(reqs) > 0
	for _, r := range reqs {
		var who []string
		for _, v := range votes {
			if counted(v) && !v.BreakGlass && r.admits(&v.User) && !slices.Contains(who, v.User.Name) {
				who = append(who, v.User.Name)
			}
		}
		if len(who) < r.Approvers || r.Approvers == 0 {
			ok = false
		}
		for _, w := range who {
			if !slices.Contains(approvers, w) {
				approvers = append(approvers, w)
			}
		}
	}
	return ok, approvers, false
}

// progressOf is "1 of 2 approvals from release-managers; 0 of 1 approvals
// (policy release)".
func progressOf(reqs []Requirement, votes []Vote, exclude ...string) string {
	parts := make([]string, 0, len(reqs))
	for _, r := range reqs {
		if r.Approvers == 0 {
			parts = append(parts, "a break-glass approval is needed")
			continue
		}
		n := 0
		seen := map[string]bool{}
		for _, v := range votes {
			if v.Verdict == VerdictApprove && !v.BreakGlass && !slices.Contains(exclude, v.User.Name) && r.admits(&v.User) && !seen[v.User.Name] {
				seen[v.User.Name] = true
				n++
			}
		}
		s := fmt.Sprintf("%d of %d %s", min(n, r.Approvers), r.Approvers, plural(r.Approvers, "approval", "approvals"))
		if len(r.Groups) > 0 {
			s += " from " + strings.Join(r.Groups, ", ")
		}
		s += " (" + r.Source + ")"
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// expiryOf is the shortest of the requirements' durations picked by f:
// several rules in force, the strictest holds.
func expiryOf(reqs []Requirement, f func(config.ApprovalExpiry) time.Duration) time.Duration {
	var d time.Duration
	for _, r := range reqs {
		if v := f(r.Expiry); v > 0 && (d == 0 || v < d) {
			d = v
		}
	}
	return d
}

func pendingExpiry(e config.ApprovalExpiry) time.Duration    { return e.Pending.Duration }
func approvedExpiry(e config.ApprovalExpiry) time.Duration   { return e.Approved.Duration }
func breakGlassExpiry(e config.ApprovalExpiry) time.Duration { return e.BreakGlass.Duration }
