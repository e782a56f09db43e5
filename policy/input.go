package policy

import (
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Input is what a policy sees as input: the AdmissionReview exactly as the
// API server sent it, with one key added, "shipgate", holding the facts
// shipgate established in Go (docs/policy-input.md documents both, with a JSON Schema).
type Input struct {
	// Review is the AdmissionReview body as received.
	Review json.RawMessage
	// Shipgate is input.shipgate.
	Shipgate Facts
}

// Facts are what shipgate knows about a request before policy runs. Every
// field is plain data: policy decides, it does not look anything up.
type Facts struct {
	Namespace NamespaceFacts `json:"namespace"`
	Workload  WorkloadFacts  `json:"workload"`
	Images    []ImageFacts   `json:"images"`
	Approval  ApprovalFacts  `json:"approval"`
}

// NamespaceFacts is the namespace of the object.
type NamespaceFacts struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

// WorkloadFacts identifies the rollout.
type WorkloadFacts struct {
	Kind string `json:"kind"`
	Name string `json:"name"`
	// Class is "rollout", "inherited" or "ignore".
	Class string `json:"class"`
	// TemplateHash is the SHA-256 of the canonical pod template.
	TemplateHash string `json:"templateHash"`
	// Fingerprint is what approvals bind to (DESIGN.md, "Words").
	Fingerprint string `json:"fingerprint"`
	// ImagesChanged is true when the object runs an image its old object
	// did not (always true on CREATE).
	ImagesChanged bool `json:"imagesChanged"`
}

// ImageFacts is one distinct image reference of the object, with what the
// signer found out about it.
type ImageFacts struct {
	// Ref is the reference exactly as written in the spec.
	Ref string `json:"ref"`
	// Normalized is the fully qualified reference (docker.io/library/…).
	Normalized string `json:"normalized"`
	Tag        string `json:"tag,omitempty"`
	// Digest is the resolved digest, "sha256:…".
	Digest string `json:"digest,omitempty"`
	// Containers are the names of the containers (of every type) that run
	// this image.
	Containers []string `json:"containers"`
	// TrustPolicy is the name of the trust policy that matched the image.
	TrustPolicy string `json:"trustPolicy,omitempty"`
	// Verified is true when the signatures met the trust policy's
	// threshold and every required attestation verified.
	Verified bool `json:"verified"`
	// SignedDigest is the image index whose signature covered Digest, when
	// the signature was not on Digest itself.
	SignedDigest string `json:"signedDigest,omitempty"`
	// Stale is set when the image was admitted on its last-known-good
	// verification because its registry could not be reached.
	Stale bool `json:"stale,omitempty"`
	// Authorities are the names of the signature authorities that
	// verified; Signers says who each one is.
	Authorities  []string           `json:"authorities"`
	Signers      []SignerFacts      `json:"signers,omitempty"`
	Attestations []AttestationFacts `json:"attestations"`
	Errors       []string           `json:"errors"`
}

// SignerFacts is one authority that verified: a key id, or a keyless
// certificate's subject and issuer.
type SignerFacts struct {
	Name    string `json:"name"`
	KeyID   string `json:"keyId,omitempty"`
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
}

// AttestationFacts is one verified attestation.
type AttestationFacts struct {
	PredicateType string `json:"predicateType"`
	// Authority is the attestation authority that signed it.
	Authority string `json:"authority"`
	// Predicate is the in-toto predicate as signed.
	Predicate json.RawMessage `json:"predicate,omitempty"`
	// SignedAt is RFC 3339 trusted time (Rekor or RFC 3161), "" without.
	SignedAt string `json:"signedAt,omitempty"`
}

// ApprovalFacts is the state of approval for this fingerprint when policy
// runs.
type ApprovalFacts struct {
	// State is "none", "pending", "approved" or "breakGlass".
	State     string   `json:"state"`
	RequestID string   `json:"requestId,omitempty"`
	Approvers []string `json:"approvers"`
}

// shipgateKey is the key of the facts in input.
var shipgateKey = ast.StringTerm("shipgate")

// Value parses the review once and returns the input as an OPA value, ready
// for rego.EvalParsedInput: evaluating several policy sets reuses it. The
// review must be a JSON object; its own "shipgate" key, if it had one, is
// replaced. The value is read-only: parts of it (member names, attestation
// predicates) are shared with other inputs, as OPA's interned terms are.
func (in *Input) Value() (ast.Value, error) {
	return in.value(false)
}

// value is Value, without request.oldObject when withoutOld.
func (in *Input) value(withoutOld bool) (ast.Value, error) {
	var omit []string
	if withoutOld {
		omit = oldObjectPath
	}
	review, err := parseWithout(in.Review, omit)
	if err != nil {
		return nil, fmt.Errorf("parsing admission review for policy input: %w", err)
	}
	obj, ok := review.(ast.Object)
	if !ok {
		return nil, fmt.Errorf("parsing admission review for policy input: %s is not an object", ast.ValueName(review))
	}
	facts, err := in.Shipgate.value()
	if err != nil {
		return nil, fmt.Errorf("converting shipgate facts for policy input: %w", err)
	}
	obj.Insert(shipgateKey, ast.NewTerm(facts))
	return obj, nil
}

// inputValue turns what Evaluate was given into an OPA value; an Input's
// review without request.oldObject when withoutOld.
func inputValue(x any, withoutOld bool) (ast.Value, error) {
	switch x := x.(type) {
	case ast.Value:
		return x, nil
	case *Input:
		return x.value(withoutOld)
	case Input:
		return x.value(withoutOld)
	case json.RawMessage:
		return parseJSON(x)
	case []byte:
		return parseJSON(x)
	}
	v, err := ast.InterfaceToValue(x)
	if err != nil {
		return nil, fmt.Errorf("converting policy input: %w", err)
	}
	return v, nil
}
