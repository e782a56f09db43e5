package config

import (
	"path"
	"regexp"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// trustPolicy checks one trust policy and records its name.
func (v *validator) trustPolicy(p string, t *TrustPolicy) {
	switch {
	case t.Name == "":
		v.add(p+".name", "must not be empty")
	case v.trust[t.Name]:
		v.add(p+".name", "duplicate trust policy name %q", t.Name)
	default:
		v.trust[t.Name] = true
	}
	if len(t.Images) == 0 {
		v.add(p+".images", "must list at least one image pattern, such as \"registry.example.com/**\"")
	}
	for i, pattern := range t.Images {
		q := index(p+".images", i)
		if pattern == "" {
			v.add(q, "must not be empty")
		} else if _, err := path.Match(pattern, ""); err != nil {
			v.add(q, "invalid glob %q: %v", pattern, err)
		}
	}
	s := t.Signatures
	v.authorities(p+".signatures.authorities", s.Authorities)
	switch {
	case s.Threshold < 0:
		v.add(p+".signatures.threshold", "must not be negative, got %d", s.Threshold)
	case s.Threshold > len(s.Authorities):
		v.add(p+".signatures.threshold", "must be at most %d, the number of signature authorities, got %d", len(s.Authorities), s.Threshold)
	}
	for i := range t.Attestations {
		v.attestation(index(p+".attestations", i), &t.Attestations[i])
	}
}

// attestation checks one attestation requirement.
//
// maxAge needs a time the signer could not have chosen: a transparency log
// entry's integrated time, checked offline against a rekorKey, or an RFC
// 3161 timestamp from one of timestampAuthorities. A bare key signature
// carries no time of its own.
func (v *validator) attestation(p string, a *AttestationRequirement) {
	if a.PredicateType == "" {
		v.add(p+".predicateType", "must not be empty, such as \"https://in-toto.io/attestation/test-result/v0.1\"")
	}
	if len(a.Authorities) == 0 {
		v.add(p+".authorities", "must list at least one authority")
	}
	v.authorities(p+".authorities", a.Authorities)
	if a.MaxAge.Duration > 0 && !hasTrustedTime(a.Authorities) {
		v.add(p+".maxAge", "maxAge needs trusted time: no authority here has a rekorKey or timestampAuthorities, and a bare key signature carries no time of its own")
	}
}

// hasTrustedTime reports whether any authority can give trusted time.
func hasTrustedTime(as []Authority) bool {
	for i := range as {
		if k, _ := as[i].TlogKey(); k != nil || as[i].TimestampAuthorities != nil {
			return true
		}
	}
	return false
}

// authorities checks a list of authorities; names are required and unique
// within the list, as verification results and audit records name them.
func (v *validator) authorities(p string, as []Authority) {
	seen := make(map[string]bool, len(as))
	for i := range as {
		q := index(p, i)
		a := &as[i]
		switch {
		case a.Name == "":
			v.add(q+".name", "must not be empty")
		case seen[a.Name]:
			v.add(q+".name", "duplicate authority name %q", a.Name)
		}
		seen[a.Name] = true
		switch {
		case a.Key != nil && a.Keyless != nil:
			v.add(q, "must set exactly one of key or keyless, got both")
		case a.Key == nil && a.Keyless == nil:
			v.add(q, "must set exactly one of key or keyless, got neither")
		case a.Key != nil:
			v.source(q+".key", a.Key)
		default:
			v.keyless(q+".keyless", a.Keyless)
			if a.RekorKey != nil || a.RequireTlog {
				v.add(q, "a keyless authority sets rekorKey and requireTlog inside keyless")
			}
		}
		if a.Key != nil {
			if a.RekorKey != nil {
				v.source(q+".rekorKey", a.RekorKey)
			} else if a.RequireTlog {
				v.add(q+".requireTlog", "needs rekorKey: transparency log entries are verified offline against it")
			}
		}
		if a.TimestampAuthorities != nil {
			v.source(q+".timestampAuthorities", a.TimestampAuthorities)
		}
	}
}

// keyless checks a keyless identity: explicit roots, an issuer, and exactly
// one of subject or subjectRegExp.
func (v *validator) keyless(p string, k *Keyless) {
	if k.Roots == nil {
		v.add(p+".roots", "required: keyless certificates are checked against explicit roots, never fetched ones")
	} else {
		v.source(p+".roots", k.Roots)
	}
	if k.Issuer == "" {
		v.add(p+".issuer", "must not be empty, such as \"https://token.actions.githubusercontent.com\"")
	}
	switch {
	case k.Subject != "" && k.SubjectRegExp != "":
		v.add(p, "must set exactly one of subject or subjectRegExp, got both")
	case k.Subject == "" && k.SubjectRegExp == "":
		v.add(p, "must set exactly one of subject or subjectRegExp, got neither")
	case k.SubjectRegExp != "":
		if _, err := regexp.Compile(k.SubjectRegExp); err != nil {
			v.add(p+".subjectRegExp", "invalid regular expression: %v", err)
		}
	}
	if k.RekorKey != nil {
		v.source(p+".rekorKey", k.RekorKey)
	} else if k.RequireTlog {
		v.add(p+".requireTlog", "needs rekorKey: transparency log entries are verified offline against it")
	}
}

// source checks that a key or bundle comes from exactly one place.
func (v *validator) source(p string, s *Source) {
	var set []string
	if s.Data != "" {
		set = append(set, "data")
	}
	if s.File != "" {
		set = append(set, "file")
	}
	if s.SecretRef != nil {
		set = append(set, "secretRef")
	}
	if len(set) != 1 {
		got := "none"
		if len(set) > 1 {
			got = strings.Join(set, " and ")
		}
		v.add(p, "must set exactly one of data, file or secretRef, got %s", got)
	}
	if r := s.SecretRef; r != nil {
		v.secretRef(p+".secretRef", r)
	}
}

// secretRef checks a Secret reference. An empty namespace means the
// namespace shipgate runs in; the server fills it.
func (v *validator) secretRef(p string, r *SecretRef) {
	if r.Namespace != "" {
		if msgs := validation.IsDNS1123Label(r.Namespace); len(msgs) > 0 {
			v.add(p+".namespace", "invalid namespace name %q: %s", r.Namespace, strings.Join(msgs, "; "))
		}
	}
	if r.Name == "" {
		v.add(p+".name", "must not be empty")
	} else if msgs := validation.IsDNS1123Subdomain(r.Name); len(msgs) > 0 {
		v.add(p+".name", "invalid Secret name %q: %s", r.Name, strings.Join(msgs, "; "))
	}
	if r.Key == "" {
		v.add(p+".key", "must not be empty")
	} else if msgs := validation.IsConfigMapKey(r.Key); len(msgs) > 0 {
		v.add(p+".key", "invalid Secret key %q: %s", r.Key, strings.Join(msgs, "; "))
	}
}
