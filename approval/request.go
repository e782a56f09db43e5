package approval

import (
	"errors"
	"slices"
	"time"

	"github.com/shipgate/shipgate/auth"
)

// State is where a request stands.
type State string

// The states of a request (see the package documentation).
const (
	Pending  State = "pending"
	Approved State = "approved"
	Used     State = "used"
	Rejected State = "rejected"
	Expired  State = "expired"
)

// ParseState reads a state name; "" is no state.
func ParseState(s string) (State, error) {
	switch st := State(s); st {
	case "", Pending, Approved, Used, Rejected, Expired:
		return st, nil
	}
	return "", invalid("state %q: want pending, approved, used, rejected or expired", s)
}

// The verdicts of a vote.
const (
	VerdictApprove = "approve"
	VerdictReject  = "reject"
)

// User is a person or service account as authenticated: by the API
// server for an admission, by the approval API's guard for a vote.
type User = auth.User

// Image is one container's image in the rollout: the reference as written
// and, when it was resolved, its digest.
type Image struct {
	Container string `json:"container,omitempty"`
	Ref       string `json:"ref"`
	Digest    string `json:"digest,omitempty"`
}

// Vote is one person's approval or rejection. Groups are the voter's groups
// when they voted: they decide which requirements the vote counts for.
type Vote struct {
	User       auth.User `json:"user"`
	Verdict    string    `json:"verdict"`
	BreakGlass bool      `json:"breakGlass,omitempty"`
	Comment    string    `json:"comment,omitempty"`
	Time       time.Time `json:"time"`
}

// Request is an approval request for one rollout.
type Request struct {
	ID          string  `json:"id"`
	Namespace   string  `json:"namespace"`
	Kind        string  `json:"kind"`
	Name        string  `json:"name"`
	Fingerprint string  `json:"fingerprint"`
	Images      []Image `json:"images"`
	// Requester asked for the approval: the AdmissionRequest's user, or the
	// API caller who requested ahead of time. They may not approve it.
	Requester auth.User `json:"requester"`
	// Requirements are the rules in force when the request was made; each
	// must be met on its own, and one person may meet several.
	Requirements []Requirement `json:"requirements"`
	State        State         `json:"state"`
	Votes        []Vote        `json:"votes"`
	// BreakGlass marks a request approved by one break-glass approval;
	// BreakGlassReason is the reason they gave.
	BreakGlass       bool   `json:"breakGlass,omitempty"`
	BreakGlassReason string `json:"breakGlassReason,omitempty"`
	// DecisionID is the admission decision that asked for the request, ""
	// for a request made ahead of time.
	DecisionID string `json:"decisionId,omitempty"`
	// Times are the store's clock. ExpiresAt is when a pending request
	// lapses or, once approved, when the approval does.
	CreatedAt time.Time `json:"createdAt"`
	ExpiresAt time.Time `json:"expiresAt"`
	DecidedAt time.Time `json:"decidedAt,omitzero"`
	UsedAt    time.Time `json:"usedAt,omitzero"`
	Uses      int       `json:"uses,omitempty"`
}

// Object is "Deployment prod/api".
func (r *Request) Object() string { return r.Kind + " " + r.Namespace + "/" + r.Name }

// Approvers are the distinct people who approved, in vote order.
func (r *Request) Approvers() []string {
	var out []string
	for _, v := range r.Votes {
		if v.Verdict == VerdictApprove && !slices.Contains(out, v.User.Name) {
			out = append(out, v.User.Name)
		}
	}
	return out
}

// Progress says how far the request is, "1 of 2 approvals from
// release-managers; …", judged by its own requirements.
func (r *Request) Progress() string {
	return progressOf(r.Requirements, r.Votes, r.Requester.Name)
}

// Errors callers test for with errors.Is; approval/api maps them to HTTP
// status codes. Each is wrapped with a message that says what happened.
var (
	// ErrNotFound: no request has that id.
	ErrNotFound = errors.New("no such approval request")
	// ErrInvalid: the input cannot be used (a manifest that cannot be read,
	// a break-glass approval without a reason, an unknown state).
	ErrInvalid = errors.New("invalid approval input")
	// ErrSelfApproval: the requester tried to approve or reject their own
	// request.
	ErrSelfApproval = errors.New("the requester cannot approve their own request")
	// ErrNotEligible: the caller is in none of the groups that may approve.
	ErrNotEligible = errors.New("not an eligible approver")
	// ErrAlreadyVoted: the caller already approved (or rejected) this
	// request; the same person counts once.
	ErrAlreadyVoted = errors.New("already voted")
	// ErrRejected: the request was rejected, which ended it.
	ErrRejected = errors.New("approval request was rejected")
	// ErrExpired: the request or its approval expired.
	ErrExpired = errors.New("approval request expired")
	// ErrDecided: the request is approved already; it takes no more votes.
	ErrDecided = errors.New("approval request already approved")
	// ErrNoRule: the namespace asks for no approval, so there is nothing to
	// request ahead of time.
	ErrNoRule = errors.New("no approval rule")
)

// invalid wraps ErrInvalid with a message.
func invalid(format string, args ...any) error {
	return refusal(ErrInvalid, format, args...)
}
