package signer

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	"github.com/sigstore/cosign/v2/pkg/oci"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
)

// maxSignatureLayer bounds one signature or attestation layer: a real one
// is a few kilobytes; a huge one is refused before it is downloaded.
const maxSignatureLayer = 4 << 20

// maxSignatures bounds how many signatures or attestations are read for
// one digest.
const maxSignatures = 64

// verifyDigest checks one digest against one trust policy: every network
// call for it is made here, once, and every authority is checked against
// what was fetched. The result carries no Ref or Tag: it is cached by
// digest and shared by every reference that resolves to it.
func verifyDigest(acc access, d name.Digest, p *trustPolicy, now time.Time) *Result {
	res := &Result{
		Digest:       d.DigestStr(),
		TrustPolicy:  p.name,
		Authorities:  []Signer{},
		Attestations: []Attestation{},
		Errors:       []string{},
		VerifiedAt:   now,
	}
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		res.Errors = append(res.Errors, fmt.Sprintf("invalid digest %s: %v", d.DigestStr(), err))
		return res
	}
	host := d.RegistryStr()
	fail := func(what string, err error) *Result {
		err = registryError(host, err)
		res.Unavailable = errors.Is(err, ErrRegistry)
		res.refused = isRefused(err)
		res.Errors = append(res.Errors, fmt.Sprintf("%s: %v", what, err))
		return res
	}
	// cosign v3's bundles (bundle.go), read only for what the .sig and
	// .att tags leave unsatisfied.
	bundles := newReferrers(acc, d)
	// The signatures and the attestations are independent: the
	// attestations are fetched and checked beside the signatures, so a new
	// digest waits for two round trips in series, not four.
	var atts attestationsChecked
	var wg sync.WaitGroup
	attCtx, stop := context.WithCancel(acc.ctx)
	defer stop()
	if len(p.atts) > 0 {
		wg.Go(func() {
			atts = checkAttestations(access{ctx: attCtx, puller: acc.puller, key: acc.key}, d, p, bundles, h, now)
		})
	}
	if len(p.sigs) > 0 {
		sigs, err := fetchAttached(acc, d, ociremote.SignatureTag)
		if err != nil {
			stop() // the verdict is settled: no attestation can change it
			wg.Wait()
			return fail("fetching signatures", err)
		}
		checkSignatures(res, acc, p, sigs, bundles, h)
	}
	wg.Wait()
	if atts.err != nil {
		return fail("fetching attestations", atts.err)
	}
	res.Attestations = append(res.Attestations, atts.accepted...)
	res.Errors = append(res.Errors, atts.errors...)
	if bundles.err != nil {
		// What was judged without the bundles does not stand.
		res.Authorities, res.Attestations, res.Errors = []Signer{}, []Attestation{}, []string{}
		return fail("fetching Sigstore bundles", bundles.err)
	}
	res.Verified = len(res.Errors) == 0
	return res
}

// attestationsChecked is what checkAttestations found: the attestations
// each rule accepted, the reasons for each it did not, or the failure to
// fetch them.
type attestationsChecked struct {
	accepted []Attestation
	errors   []string
	err      error
}

// checkAttestations fetches the attestations cosign attached to d and
// applies each of p's attestation rules to them.
func checkAttestations(acc access, d name.Digest, p *trustPolicy, bundles *referrers, h v1.Hash, now time.Time) attestationsChecked {
	var out attestationsChecked
	atts, err := fetchAttached(acc, d, ociremote.AttestationTag)
	if err != nil {
		out.err = err
		return out
	}
	for _, rule := range p.atts {
		att, err := rule.verify(acc, atts, bundles, h, now)
		if err != nil {
			out.errors = append(out.errors, err.Error())
			continue
		}
		out.accepted = append(out.accepted, att)
	}
	return out
}

// checkSignatures counts the distinct authorities with a signature that
// verifies, and explains a shortfall.
func checkSignatures(res *Result, acc access, p *trustPolicy, sigs []oci.Signature, bundles *referrers, h v1.Hash) {
	var why []string
	for _, a := range p.sigs {
		var last error
		ok := false
		for _, sig := range sigs {
			c, err := a.check(acc.ctx, sig, h, verifySignature, cosign.SimpleClaimVerifier)
			if err == nil {
				res.Authorities = append(res.Authorities, c.signer)
				ok = true
				break
			}
			last = err
		}
		// cosign v3 signature bundles, read only when no .sig verified.
		if !ok {
			for _, b := range bundles.matching(signPredicateType) {
				c, err := a.checkBundle(b, h)
				if err == nil {
					res.Authorities = append(res.Authorities, c.signer)
					ok = true
					break
				}
				last = err
			}
		}
		if !ok && last != nil {
			why = append(why, a.name+": "+plainError(last))
		}
	}
	if len(res.Authorities) >= p.threshold {
		return
	}
	names := make([]string, len(p.sigs))
	for i, a := range p.sigs {
		names[i] = a.name
	}
	msg := fmt.Sprintf("not signed by a trusted authority: %d of %d required signatures (authorities: %s)",
		len(res.Authorities), p.threshold, strings.Join(names, ", "))
	if len(sigs) == 0 && len(bundles.matching(signPredicateType)) == 0 {
		msg = fmt.Sprintf("not signed: no cosign signature found for %s (trust policy %s needs %d of: %s)",
			res.Digest, p.name, p.threshold, strings.Join(names, ", "))
	} else if len(why) > 0 {
		msg += "; " + strings.Join(why, "; ")
	}
	res.Errors = append(res.Errors, msg)
}

// fetchAttached reads the signatures or attestations cosign attached to d
// under its tag scheme (sha256-<hex>.sig / .att), each copied into memory
// once so every authority is checked without another fetch. Oversized
// layers are refused before they are downloaded.
func fetchAttached(acc access, d name.Digest, tagFor func(name.Reference, ...ociremote.Option) (name.Tag, error)) ([]oci.Signature, error) {
	tag, err := tagFor(d, acc.oci()...)
	if err != nil {
		return nil, err
	}
	sigs, err := ociremote.Signatures(tag, acc.oci()...)
	if err != nil {
		return nil, err
	}
	list, err := sigs.Get()
	if err != nil {
		return nil, err
	}
	if len(list) > maxSignatures {
		return nil, fmt.Errorf("%s lists %d signature layers, more than the %d shipgate reads", tag, len(list), maxSignatures)
	}
	for _, s := range list {
		size, err := s.Size()
		if err != nil {
			return nil, err
		}
		if size > maxSignatureLayer {
			return nil, fmt.Errorf("%s has a signature layer of %d bytes, more than the %d allowed", tag, size, maxSignatureLayer)
		}
	}
	// Each layer is its own request: several (a rerun CI's attestations
	// pile up) are read at once.
	out := make([]oci.Signature, len(list))
	errs := make([]error, len(list))
	var wg sync.WaitGroup
	for i, s := range list {
		if i == len(list)-1 {
			out[i], errs[i] = static.Copy(s)
			break
		}
		wg.Go(func() { out[i], errs[i] = static.Copy(s) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// statement is the part of an in-toto statement shipgate reads.
type statement struct {
	PredicateType string          `json:"predicateType"`
	Predicate     json.RawMessage `json:"predicate"`
}

// decodeStatement reads the in-toto statement inside a DSSE envelope
// without checking its signature: only to know its predicate type.
func decodeStatement(att oci.Signature) (*statement, error) {
	payload, err := att.Payload()
	if err != nil {
		return nil, err
	}
	var env struct {
		Payload string `json:"payload"`
	}
	if err := json.Unmarshal(payload, &env); err != nil {
		return nil, fmt.Errorf("reading the DSSE envelope: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(env.Payload)
	if err != nil {
		return nil, fmt.Errorf("decoding the DSSE payload: %w", err)
	}
	var st statement
	if err := json.Unmarshal(raw, &st); err != nil {
		return nil, fmt.Errorf("reading the in-toto statement: %w", err)
	}
	return &st, nil
}

// verify finds an attestation of the rule's predicate type, bound to h and
// signed by one of the rule's authorities, whose content passes: trusted
// time within maxAge, and for test results, PASSED.
func (r *attestationRule) verify(acc access, atts []oci.Signature, bundles *referrers, h v1.Hash, now time.Time) (Attestation, error) {
	var problems []string
	var signed []Attestation // attestations whose signature verified
	found := false
	for _, att := range atts {
		st, err := decodeStatement(att)
		if err != nil || st.PredicateType != r.predicateType {
			continue
		}
		found = true
		for _, a := range r.authorities {
			c, err := a.check(acc.ctx, att, h, verifyAttestation, cosign.IntotoSubjectClaimVerifier)
			if err != nil {
				problems = append(problems, a.name+": "+plainError(err))
				continue
			}
			signed = append(signed, Attestation{PredicateType: st.PredicateType, Signer: c.signer, TrustedTime: c.trustedTime, Predicate: st.Predicate})
			break
		}
	}
	if out, decided, err := r.choose(signed, now); decided {
		return out, err
	}
	for _, out := range signed {
		err := r.judge(out, now)
		if err == nil {
			return out, nil
		}
		problems = append(problems, err.Error())
	}
	// cosign v3 attestation bundles, read only when no .att was accepted.
	for _, b := range bundles.matching(r.predicateType) {
		found = true
		att, ok, more := r.verifyBundle(b, h, now)
		if ok {
			return att, nil
		}
		problems = append(problems, more...)
	}
	if !found {
		return Attestation{}, fmt.Errorf("no %s attestation found for %s", r.predicateType, h)
	}
	return Attestation{}, fmt.Errorf("%s attestation not accepted: %s", r.predicateType, strings.Join(slices.Compact(problems), "; "))
}

// choose settles several signed test results for one digest, which pile
// up as CI reruns (each attest adds one). With trusted time on all of
// them, the newest decides. Without, a failing one among them refuses the
// image: nothing says which came last, and a pass must not mask a
// failure. decided is false when there is nothing to settle.
func (r *attestationRule) choose(signed []Attestation, now time.Time) (Attestation, bool, error) {
	if r.predicateType != TestResultPredicateType || len(signed) < 2 {
		return Attestation{}, false, nil
	}
	timed := true
	for _, a := range signed {
		timed = timed && a.TrustedTime != nil
	}
	if timed {
		newest := slices.MaxFunc(signed, func(a, b Attestation) int { return a.TrustedTime.Compare(*b.TrustedTime) })
		if err := r.judge(newest, now); err != nil {
			return Attestation{}, true, fmt.Errorf("%s attestation not accepted: the newest signed test result: %w", r.predicateType, err)
		}
		return newest, true, nil
	}
	for _, a := range signed {
		if tr, err := ParseTestResult(a.Predicate); err != nil || tr.Result != TestsPassed {
			why := "unreadable"
			if err == nil {
				why = tr.Result + failedList(tr.FailedTests)
			}
			return Attestation{}, true, fmt.Errorf("%s attestation not accepted: %d signed test results for this digest disagree (one by %s says %s) and without trusted time none can be taken as the latest", r.predicateType, len(signed), a.Signer.Name, why)
		}
	}
	return Attestation{}, false, nil
}

// judge applies maxAge and the test-result rule to a verified attestation.
func (r *attestationRule) judge(a Attestation, now time.Time) error {
	if max := r.maxAge.Duration; max > 0 {
		if a.TrustedTime == nil {
			return fmt.Errorf("signed by %s but carries no trusted time (a transparency log entry or an RFC 3161 timestamp), which maxAge %s needs", a.Signer.Name, max)
		}
		if age := now.Sub(*a.TrustedTime); age > max {
			return fmt.Errorf("signed by %s at %s, %s ago, older than maxAge %s", a.Signer.Name, a.TrustedTime.Format(time.RFC3339), age.Round(time.Second), max)
		}
	}
	if r.predicateType == TestResultPredicateType {
		tr, err := ParseTestResult(a.Predicate)
		if err != nil {
			return fmt.Errorf("reading the test result signed by %s: %w", a.Signer.Name, err)
		}
		if tr.Result != "PASSED" {
			return fmt.Errorf("tests did not pass: result %s%s", tr.Result, failedList(tr.FailedTests))
		}
	}
	return nil
}

// failedList names up to five failed tests.
func failedList(failed []string) string {
	if len(failed) == 0 {
		return ""
	}
	shown := failed[:min(5, len(failed))]
	s := "; failed: " + strings.Join(shown, ", ")
	if more := len(failed) - len(shown); more > 0 {
		s += fmt.Sprintf(" and %d more", more)
	}
	return s
}
