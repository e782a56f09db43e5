package webhook

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// Reason is one ground for refusing a rollout.
type Reason struct {
	// Code is a stable machine-readable name ("latest-tag").
	Code string `json:"code"`
	// Message says what is wrong and what to do, naming the container.
	Message string `json:"message"`
}

// Decision is the outcome of /validate for one request, with the facts
// that led to it. It is what is logged, printed by `shipgate check` and,
// later, recorded in the audit log.
type Decision struct {
	ID          string      `json:"id"`
	UID         string      `json:"uid,omitempty"`
	Operation   string      `json:"operation"`
	Kind        string      `json:"kind"`
	Namespace   string      `json:"namespace"`
	Name        string      `json:"name"`
	User        string      `json:"user,omitempty"`
	DryRun      bool        `json:"dryRun,omitempty"`
	Mode        config.Mode `json:"mode"`
	Binding     int         `json:"binding"`
	Excluded    bool        `json:"excluded,omitempty"`
	Class       string      `json:"class"`
	ClassReason string      `json:"classReason,omitempty"`
	Images      []string    `json:"images,omitempty"`
	// Containers are the judged containers with their images (and, once
	// resolved, digests), in spec order.
	Containers []ContainerImage `json:"containers,omitempty"`
	// ConfigRevision is the configuration the decision was made under.
	ConfigRevision string `json:"configRevision,omitempty"`
	// PolicyRevision is the policy revision evaluated, when any was.
	PolicyRevision string   `json:"policyRevision,omitempty"`
	Fingerprint    string   `json:"fingerprint,omitempty"`
	Reasons        []Reason `json:"reasons,omitempty"`
	Warnings       []string `json:"warnings,omitempty"`
	// Notes are facts for the audit log that are neither reasons nor
	// warnings: an image admitted on last-known-good, say.
	Notes []string `json:"notes,omitempty"`
	// Code is the status code a refusal carries: 403 for reasons, 400 for
	// an object shipgate cannot read, 500 for its own failure.
	Code int32 `json:"code,omitempty"`
	// Allowed is the answer given to the API server.
	Allowed bool `json:"allowed"`
	// Approvals are the approval requests whose approvals admitted the
	// rollout, Approvers the people whose approvals counted, BreakGlass
	// whether it was a break-glass approval.
	Approvals  []string `json:"approvals,omitempty"`
	Approvers  []string `json:"approvers,omitempty"`
	BreakGlass bool     `json:"breakGlass,omitempty"`
	// ApprovalRequest is the pending approval request a refusal names.
	ApprovalRequest string `json:"approvalRequest,omitempty"`

	// digests are the verified digests by reference, for the rollout record.
	digests map[string]string
	// templateHash is the canonical template's hash, set with the
	// fingerprint.
	templateHash string
	// obj is the rollout's object, once decoded; old is its old object's
	// pod template on UPDATE, nil when absent or unreadable.
	obj, old *workload.Object
	// rollout is the admitted rollout's record, written with its audit
	// record; remember keeps its pin in memory once it is admitted.
	rollout  audit.Write
	remember func()
	// asked are the approvals policy asked for, judged by the approval step.
	asked []approval.Requirement
}

// ContainerImage is one container's image in a decision.
type ContainerImage struct {
	Name   string `json:"name"`
	Type   string `json:"type"`
	Image  string `json:"image"`
	Digest string `json:"digest,omitempty"`
}

// Verdict names the decision for people: admitted, denied, warned or
// audited (allowed with reasons recorded only).
func (d *Decision) Verdict() string {
	switch {
	case !d.Allowed:
		return "denied"
	case len(d.Reasons) == 0:
		return "admitted"
	case d.Mode == config.ModeWarn:
		return "warned"
	default:
		return "audited"
	}
}

// object is "Deployment prod/api".
func (d *Decision) object() string {
	name := d.Name
	if name == "" {
		name = "(unnamed)"
	}
	return d.Kind + " " + d.Namespace + "/" + name
}

// refuse adds a reason with a status code other than 403.
func (d *Decision) refuse(code int32, reasonCode, format string, args ...any) {
	d.Reasons = append(d.Reasons, Reason{Code: reasonCode, Message: fmt.Sprintf(format, args...)})
	if d.Code == 0 || d.Code == http.StatusForbidden {
		d.Code = code
	}
}

// maxListedReasons bounds the reasons a message or annotation spells out:
// a pod of ten thousand containers must not make a megabyte of error text.
// The rest are counted; the log holds them all.
const maxListedReasons = 10

// listReasons joins at most maxListedReasons reason messages with "; ".
func listReasons(rs []Reason) string {
	var b strings.Builder
	for i, r := range rs {
		if i == maxListedReasons {
			fmt.Fprintf(&b, "; and %d more", len(rs)-i)
			break
		}
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(r.Message)
	}
	return b.String()
}

// Message is the text kubectl prints on a denial:
// "shipgate: Deployment prod/api: <reason>; <reason> (decision <id>)".
func (d *Decision) Message() string {
	var b strings.Builder
	b.WriteString("shipgate: ")
	b.WriteString(d.object())
	b.WriteString(": ")
	b.WriteString(listReasons(d.Reasons))
	b.WriteString(" (decision ")
	b.WriteString(d.ID)
	b.WriteString(")")
	return b.String()
}

// settle sets Allowed from the reasons and the mode: reasons deny only in
// enforce mode.
func (d *Decision) settle() {
	d.Allowed = len(d.Reasons) == 0 || d.Mode != config.ModeEnforce
	if len(d.Reasons) > 0 && d.Code == 0 {
		d.Code = http.StatusForbidden
	}
}

// Response turns the decision into the AdmissionResponse: enforce denies
// with the message and status code; warn allows with each reason as a
// warning; audit allows with the reasons only in the audit annotation.
func (d *Decision) Response() Response {
	var r Response
	switch {
	case d.Allowed:
		r = Allowed()
	case d.Code == http.StatusForbidden:
		r = Denied(d.Message())
	default:
		r = Errored(d.Code, d.Message())
	}
	r = r.WithAnnotation("decision-id", d.ID)
	if len(d.Reasons) > 0 {
		r = r.WithAnnotation("reasons", listReasons(d.Reasons))
		if d.Allowed && d.Mode == config.ModeWarn {
			for i, reason := range d.Reasons {
				if i == maxListedReasons {
					r = r.WithWarnings(fmt.Sprintf("shipgate: %s: and %d more (decision %s)", d.object(), len(d.Reasons)-i, d.ID))
					break
				}
				r = r.WithWarnings(fmt.Sprintf("shipgate: %s: %s (decision %s)", d.object(), reason.Message, d.ID))
			}
		}
	}
	if d.Fingerprint != "" {
		r = r.WithAnnotation("fingerprint", d.Fingerprint)
	}
	return r.WithWarnings(d.Warnings...)
}

// containerLabel is "container web", "init container migrate" or
// "ephemeral container debugger".
func containerLabel(c workload.Container) string {
	switch c.Type {
	case workload.Init:
		return fmt.Sprintf("init container %q", c.Name)
	case workload.Ephemeral:
		return fmt.Sprintf("ephemeral container %q", c.Name)
	default:
		return fmt.Sprintf("container %q", c.Name)
	}
}
