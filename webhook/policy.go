package webhook

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/shipgate/shipgate/approval"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/policy"
	"github.com/shipgate/shipgate/signer"
	"github.com/shipgate/shipgate/workload"
)

// WithPolicy sets the Rego policy engine /validate evaluates after the
// floor rules.
func WithPolicy(e *policy.Engine) Option {
	return func(o *options) { o.policy = e }
}

// evaluatePolicy runs the policy sets bound to the namespace, and the
// namespace's own policy, over the AdmissionReview as received and the facts
// established so far. Its denials join the floor's reasons; its warnings are
// warnings in every mode; the approvals it requires are judged by the
// approval step (requireApproval), after it. An error or a timeout is itself
// a reason, so an enforced namespace fails closed.
func (v *Validator) evaluatePolicy(ctx context.Context, d *Decision, req *Request, obj *workload.Object, images parsedImages, vs verified, b config.Binding, labels map[string]string) {
	e := v.opts.policy
	if e == nil || !e.Applies(req.Namespace, b.Policies) {
		return
	}
	if d.Fingerprint == "" {
		v.fingerprint(d, obj, vs.digests())
	}
	in := buildInput(req, d, obj, images, vs, labels)
	res, err := e.Evaluate(ctx, req.Namespace, b.Policies, in)
	if err != nil {
		code := int32(http.StatusInternalServerError)
		if errors.Is(err, context.DeadlineExceeded) || ctx.Err() != nil {
			code = http.StatusGatewayTimeout
		}
		d.refuse(code, "policy-error", "evaluating policy: %v", err)
		return
	}
	d.PolicyRevision = res.Revision
	for _, m := range res.Deny {
		code := "policy:" + m.Set
		if m.Code != "" {
			code += ":" + m.Code
		}
		d.Reasons = append(d.Reasons, Reason{Code: code, Message: m.Msg})
	}
	for _, m := range res.Warn {
		d.Warnings = append(d.Warnings, fmt.Sprintf("shipgate: %s: %s (policy %s)", d.object(), m.Msg, m.Set))
	}
	for _, a := range res.RequireApproval {
		d.asked = append(d.asked, approval.FromPolicy(a.Set, a.Approvers, a.Groups, a.Reason, b.Approval))
	}
}

// PolicyInput is the input /validate gives policy for obj: the
// AdmissionReview as received and the facts. d names the object and says
// its class and fingerprint; results are the signer's, nil when images
// were not verified. `shipgate policy eval` builds its input with it.
func PolicyInput(req *Request, d *Decision, obj *workload.Object, labels map[string]string, results []*signer.Result) *policy.Input {
	vs := make(verified, len(results))
	for _, r := range results {
		vs[r.Ref] = r
	}
	return buildInput(req, d, obj, make(parsedImages, len(obj.Containers)), vs, labels)
}

func buildInput(req *Request, d *Decision, obj *workload.Object, images parsedImages, vs verified, labels map[string]string) *policy.Input {
	hash := d.templateHash // set with the fingerprint: not canonicalised twice
	if hash == "" {
		if canonical, err := workload.CanonicalTemplate(obj); err == nil {
			hash = templateHash(canonical)
		}
	}
	return &policy.Input{Review: req.Raw, Shipgate: policy.Facts{
		Namespace: policy.NamespaceFacts{Name: req.Namespace, Labels: labels},
		Workload: policy.WorkloadFacts{
			Kind: d.Kind, Name: d.Name, Class: d.Class,
			TemplateHash:  hash,
			Fingerprint:   d.Fingerprint,
			ImagesChanged: imagesChanged(req, obj, d.old),
		},
		Images:   imageFacts(obj, images, vs),
		Approval: policy.ApprovalFacts{State: "none", Approvers: []string{}},
	}}
}

// imagesChanged reports whether obj runs an image its old object did not:
// always on CREATE, and when the old object cannot be read. old is the old
// object as /validate read it, nil when it has not (policy eval).
func imagesChanged(req *Request, obj *workload.Object, old *workload.Object) bool {
	if req.Operation != "UPDATE" || len(req.OldObject.Raw) == 0 {
		return true
	}
	if old == nil {
		var err error
		if old, err = workload.DecodeTemplate(obj.Kind, req.OldObject.Raw, workload.Prevalidated()); err != nil {
			return true
		}
	}
	images, err := old.TemplateImages()
	if err != nil {
		return true
	}
	was := make(map[string]bool, len(images))
	for _, image := range images {
		was[image] = true
	}
	for _, c := range obj.Containers {
		if !was[c.Image] {
			return true
		}
	}
	return false
}

// approvalReason is the refusal for an approval that is asked for when the
// validator has no approval store (WithApprovals): no request can carry an
// approval, so such a rollout is refused (fail closed) with a message that
// says so.
func approvalReason(approvers int, groups []string, why, who string) Reason {
	msg := fmt.Sprintf("%s requires approval by %d distinct people", who, approvers)
	if len(groups) > 0 {
		msg += " from " + strings.Join(groups, ", ")
	}
	if why != "" {
		msg += " (" + why + ")"
	}
	return Reason{Code: "approval-required", Message: msg + "; this gateway has no approval API yet, so the rollout cannot be approved"}
}

// imageFacts are the distinct images of obj with the containers running
// each, as policy sees them before any signature is checked. References
// the floor rules parsed already are not parsed again.
func imageFacts(obj *workload.Object, images parsedImages, vs verified) []policy.ImageFacts {
	var out []policy.ImageFacts
	index := map[string]int{}
	for _, c := range obj.Containers {
		i, ok := index[c.Image]
		if !ok {
			f := policy.ImageFacts{Ref: c.Image, Authorities: []string{}, Attestations: []policy.AttestationFacts{}, Errors: []string{}}
			if p := images.get(c.Image); p.err == nil {
				f.Normalized, f.Tag, f.Digest = p.img.Normalized(), p.img.Tag, p.img.Digest
			} else {
				f.Errors = append(f.Errors, p.err.Error())
			}
			if r := vs[c.Image]; r != nil {
				signerFacts(&f, r)
			}
			out = append(out, f)
			i = len(out) - 1
			index[c.Image] = i
		}
		out[i].Containers = append(out[i].Containers, c.Name)
	}
	return out
}

// signerFacts copies what the signer established into an image's facts.
func signerFacts(f *policy.ImageFacts, r *signer.Result) {
	if r.Digest != "" {
		f.Digest = r.Digest
	}
	f.SignedDigest, f.TrustPolicy, f.Verified, f.Stale = r.SignedDigest, r.TrustPolicy, r.Verified, r.Stale
	f.Authorities = r.AuthorityNames()
	for _, a := range r.Authorities {
		f.Signers = append(f.Signers, policy.SignerFacts{Name: a.Name, KeyID: a.KeyID, Subject: a.Subject, Issuer: a.Issuer})
	}
	for _, a := range r.Attestations {
		af := policy.AttestationFacts{PredicateType: a.PredicateType, Authority: a.Signer.Name, Predicate: a.Predicate}
		if a.TrustedTime != nil {
			af.SignedAt = a.TrustedTime.UTC().Format(time.RFC3339)
		}
		f.Attestations = append(f.Attestations, af)
	}
	f.Errors = append(f.Errors, r.Errors...)
}

// fingerprint sets the decision's fingerprint over the canonical template
// and the resolved digests.
func (v *Validator) fingerprint(d *Decision, obj *workload.Object, digests map[string]string) {
	if canonical, err := workload.CanonicalTemplate(obj); err == nil {
		d.Fingerprint = workload.Fingerprint(obj, canonical, digests)
		d.digests = digests
		d.templateHash = templateHash(canonical)
	}
}

// templateHash is "sha256:" and the hex SHA-256 of a canonical template.
func templateHash(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return "sha256:" + hex.EncodeToString(sum[:])
}
