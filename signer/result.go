package signer

import (
	"encoding/json"
	"slices"
	"time"
)

// Result is what the signer established about one image reference: plain
// facts, JSON-serialisable, for the floor rules, for policy and for the
// audit log. Verified is the verdict; Errors say why not.
type Result struct {
	// Ref is the reference as written.
	Ref string `json:"ref"`
	// Normalized is the fully qualified reference.
	Normalized string `json:"normalized"`
	Tag        string `json:"tag,omitempty"`
	// Digest is the digest the reference names or resolved to.
	Digest string `json:"digest,omitempty"`
	// SignedDigest is the digest the signatures were on when it differs
	// from Digest: an image index that lists Digest as a platform.
	SignedDigest string `json:"signedDigest,omitempty"`
	// TrustPolicy is the trust policy that matched, "" when none did.
	TrustPolicy string `json:"trustPolicy,omitempty"`
	// Verified is true when the signatures met the policy's threshold and
	// every required attestation verified.
	Verified     bool          `json:"verified"`
	Authorities  []Signer      `json:"authorities"`
	Attestations []Attestation `json:"attestations"`
	Errors       []string      `json:"errors"`
	// VerifiedAt is when the registry was last asked (store clock not
	// involved: the replica's own).
	VerifiedAt time.Time `json:"verifiedAt,omitzero"`
	// Stale is set when the registry could not be reached and the result
	// is the last-known-good record from VerifiedAt.
	Stale bool `json:"stale,omitempty"`
	// Unavailable is set when the registry could not be asked: the errors
	// say which registry and why. Such a result is never cached.
	Unavailable bool `json:"unavailable,omitempty"`
	// Cached is set when the result came from the cache (not serialised:
	// it is a property of this lookup, not of the image).
	Cached bool `json:"-"`
	// refused is set when the registry refused the credentials sent (401
	// or 403): like Unavailable, a fact about this lookup, never cached.
	refused bool
}

// Signer is one authority that verified a signature or an attestation.
type Signer struct {
	// Name is the authority's name in the trust policy.
	Name string `json:"name"`
	// KeyID is "sha256:…" of a key authority's public key.
	KeyID string `json:"keyId,omitempty"`
	// Subject and Issuer are a keyless certificate's identity.
	Subject string `json:"subject,omitempty"`
	Issuer  string `json:"issuer,omitempty"`
}

// Attestation is one verified in-toto attestation.
type Attestation struct {
	PredicateType string `json:"predicateType"`
	Signer        Signer `json:"signer"`
	// TrustedTime is the Rekor integrated time or the RFC 3161 time; nil
	// when the attestation carries neither.
	TrustedTime *time.Time      `json:"trustedTime,omitempty"`
	Predicate   json.RawMessage `json:"predicate,omitempty"`
}

// clone returns a copy whose slices the caller may change; cached results
// are shared between admissions.
func (r *Result) clone() *Result {
	c := *r
	c.Authorities = slices.Clone(r.Authorities)
	c.Attestations = slices.Clone(r.Attestations)
	c.Errors = slices.Clone(r.Errors)
	return &c
}

// AuthorityNames lists the names of the authorities that verified.
func (r *Result) AuthorityNames() []string {
	out := make([]string, len(r.Authorities))
	for i, a := range r.Authorities {
		out[i] = a.Name
	}
	return out
}
