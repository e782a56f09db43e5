package policy

import (
	"fmt"
	"sync"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// The facts become part of every input. Marshalling them to JSON and
// parsing that back cost about a fifth of building the input, so value
// builds the OPA value directly. It gives exactly the value the JSON round
// trip gives (TestFactsValueIsTheJSONRoundTrip holds the two together):
// the same members, omitempty members left out when empty, a nil slice or
// map as null, and a string that is not valid UTF-8 with each bad byte
// replaced by U+FFFD, as encoding/json writes it.

// value is f as OPA reads input.shipgate.
func (f *Facts) value() (ast.Value, error) {
	labels, err := labelsTerm(f.Namespace.Labels)
	if err != nil {
		return nil, err
	}
	images := make([]*ast.Term, len(f.Images))
	for i := range f.Images {
		t, err := f.Images[i].term()
		if err != nil {
			return nil, err
		}
		images[i] = t
	}
	return ast.NewObject(
		member("namespace", ast.ObjectTerm(
			member("name", str(f.Namespace.Name)),
			member("labels", labels),
		)),
		member("workload", ast.ObjectTerm(
			member("kind", str(f.Workload.Kind)),
			member("name", str(f.Workload.Name)),
			member("class", str(f.Workload.Class)),
			member("templateHash", str(f.Workload.TemplateHash)),
			member("fingerprint", str(f.Workload.Fingerprint)),
			member("imagesChanged", ast.InternedTerm(f.Workload.ImagesChanged)),
		)),
		member("images", arrayOrNull(f.Images == nil, images)),
		member("approval", ast.ObjectTerm(omitEmpty(
			member("state", str(f.Approval.State)),
			optional("requestId", f.Approval.RequestID),
			member("approvers", stringsTerm(f.Approval.Approvers)),
		)...)),
	), nil
}

func (im *ImageFacts) term() (*ast.Term, error) {
	atts := make([]*ast.Term, len(im.Attestations))
	for i, a := range im.Attestations {
		pair := [2]*ast.Term{}
		if len(a.Predicate) > 0 {
			p, err := predicates.value(a.Predicate)
			if err != nil {
				return nil, fmt.Errorf("predicate %s of image %s: %w", a.PredicateType, im.Ref, err)
			}
			pair = member("predicate", p)
		}
		atts[i] = ast.ObjectTerm(omitEmpty(
			member("predicateType", str(a.PredicateType)),
			member("authority", str(a.Authority)),
			pair,
			optional("signedAt", a.SignedAt),
		)...)
	}
	var signers []*ast.Term
	for _, s := range im.Signers {
		signers = append(signers, ast.ObjectTerm(omitEmpty(
			member("name", str(s.Name)),
			optional("keyId", s.KeyID),
			optional("subject", s.Subject),
			optional("issuer", s.Issuer),
		)...))
	}
	pairs := omitEmpty(
		member("ref", str(im.Ref)),
		member("normalized", str(im.Normalized)),
		optional("tag", im.Tag),
		optional("digest", im.Digest),
		member("containers", stringsTerm(im.Containers)),
		optional("trustPolicy", im.TrustPolicy),
		member("verified", ast.InternedTerm(im.Verified)),
		optional("signedDigest", im.SignedDigest),
		member("authorities", stringsTerm(im.Authorities)),
		member("attestations", arrayOrNull(im.Attestations == nil, atts)),
		member("errors", stringsTerm(im.Errors)),
	)
	if im.Stale {
		pairs = append(pairs, member("stale", ast.InternedTerm(true)))
	}
	if len(signers) > 0 {
		pairs = append(pairs, member("signers", ast.ArrayTerm(signers...)))
	}
	return ast.ObjectTerm(pairs...), nil
}

// member is one member of an object.
func member(name string, v *ast.Term) [2]*ast.Term {
	k := factNames[name]
	if k == nil {
		k = ast.StringTerm(name)
	}
	return [2]*ast.Term{k, v}
}

// factNames are the member names of the facts, made once: evaluation
// never modifies a term, so every input can share them.
var factNames = func() map[string]*ast.Term {
	m := map[string]*ast.Term{}
	for _, n := range []string{"namespace", "name", "labels", "workload", "kind", "class", "templateHash",
		"fingerprint", "imagesChanged", "images", "approval", "state", "requestId", "approvers",
		"predicateType", "authority", "predicate", "signedAt", "keyId", "subject", "issuer", "ref",
		"normalized", "tag", "digest", "containers", "trustPolicy", "verified", "signedDigest",
		"authorities", "attestations", "errors", "stale", "signers"} {
		m[n] = ast.StringTerm(n)
	}
	return m
}()

// predicates keeps the value of each attestation predicate seen lately: a
// verified image's predicate is the same bytes at every admission that
// runs it, and parsing it was a third of building the facts. Shared
// values are safe for the same reason as factNames.
var predicates = &predicateCache{m: map[string]*ast.Term{}}

// maxPredicateBytes bounds the JSON the cache holds the values of; a full
// cache starts over. An OPA value takes up to some 25 times its JSON (an
// array of empty objects), so 64 KiB of predicates is at most a few MiB,
// and some hundreds of test-result predicates.
const maxPredicateBytes = 64 << 10

// maxCachedPredicate is the largest predicate kept, in bytes: a larger
// one is parsed each time rather than held.
const maxCachedPredicate = 4 << 10

type predicateCache struct {
	mu    sync.RWMutex
	m     map[string]*ast.Term
	bytes int // the length of the keys of m
}

func (c *predicateCache) value(raw []byte) (*ast.Term, error) {
	c.mu.RLock()
	t := c.m[string(raw)]
	c.mu.RUnlock()
	if t != nil {
		return t, nil
	}
	v, err := parseJSON(raw)
	if err != nil {
		return nil, err
	}
	t = ast.NewTerm(v)
	if len(raw) <= maxCachedPredicate {
		c.mu.Lock()
		if c.bytes+len(raw) > maxPredicateBytes {
			clear(c.m)
			c.bytes = 0
		}
		if _, ok := c.m[string(raw)]; !ok {
			c.m[string(raw)] = t
			c.bytes += len(raw)
		}
		c.mu.Unlock()
	}
	return t, nil
}

// optional is the member of an omitempty string: none (a zero pair, which
// omitEmpty drops) when s is "".
func optional(name, s string) [2]*ast.Term {
	if s == "" {
		return [2]*ast.Term{}
	}
	return member(name, str(s))
}

// omitEmpty drops the zero pairs optional left.
func omitEmpty(pairs ...[2]*ast.Term) [][2]*ast.Term {
	out := pairs[:0]
	for _, p := range pairs {
		if p[0] != nil {
			out = append(out, p)
		}
	}
	return out
}

// str is s as encoding/json writes it: valid UTF-8, each invalid byte
// replaced by U+FFFD.
func str(s string) *ast.Term {
	if !utf8.ValidString(s) {
		b := make([]byte, 0, len(s)+8)
		for i := 0; i < len(s); {
			r, n := utf8.DecodeRuneInString(s[i:])
			b = utf8.AppendRune(b, r) // RuneError for an invalid byte
			i += n
		}
		s = string(b)
	}
	return ast.InternedTerm(s)
}

// stringsTerm is a []string as JSON has it: null when nil.
func stringsTerm(ss []string) *ast.Term {
	if ss == nil {
		return ast.NullTerm()
	}
	ts := make([]*ast.Term, len(ss))
	for i, s := range ss {
		ts[i] = str(s)
	}
	return ast.ArrayTerm(ts...)
}

// arrayOrNull is ts as an array, or null for a nil slice.
func arrayOrNull(isNil bool, ts []*ast.Term) *ast.Term {
	if isNil {
		return ast.NullTerm()
	}
	return ast.ArrayTerm(ts...)
}

// labelsTerm is a map[string]string as JSON has it: null when nil. Two
// keys that differ only in invalid bytes are one key once those are
// replaced; JSON would hold it twice, which the parser refuses, and so
// does labelsTerm (an OPA object must not hold a key twice).
func labelsTerm(m map[string]string) (*ast.Term, error) {
	if m == nil {
		return ast.NullTerm(), nil
	}
	pairs := make([][2]*ast.Term, 0, len(m))
	var fixed map[string]bool
	for k, v := range m {
		if !utf8.ValidString(k) && fixed == nil {
			fixed = make(map[string]bool, len(m))
			for k := range m {
				fixed[string(str(k).Value.(ast.String))] = true
			}
			if len(fixed) < len(m) {
				return nil, fmt.Errorf("namespace label %q is another label's name once its invalid UTF-8 is replaced", str(k).Value)
			}
		}
		pairs = append(pairs, [2]*ast.Term{str(k), str(v)})
	}
	return ast.ObjectTerm(pairs...), nil
}
