package signer

import (
	"bytes"
	"crypto/sha256"
	"sync"
	"time"
	"unique"
)

// cache holds verification verdicts by digest, trust policy and that
// policy's revision, bounded in size (least recently used goes first) and
// in time (each entry carries its own expiry: long for a verdict, short for
// a failure).
//
// An entry is compact, because a cluster's history of digests is long
// (issue 8: 100,000 digests within 150 MiB of RSS): about 340 bytes of
// heap for a verified image with one signature and one small attestation
// (map slot included), against some 860 for a whole Result. It keeps only
// what a Result is rebuilt from: the digest as 32 bytes (the caller knows
// its text), the policy and a covering tag as interned handles, times as
// integers, authorities and predicate types interned (a cluster has a
// handful of each), and each attestation's predicate as its raw JSON,
// once, exactly sized.
type cache struct {
	mu      sync.Mutex
	max     int
	entries map[cacheKey]*cacheEntry
	// ring is the sentinel of the recency list: ring.next is the most
	// recently used entry, ring.prev the next to go.
	ring cacheEntry
}

// cacheKey is what a verdict is cached by: the digest, the trust policy's
// name and revision, and, for a platform digest verified through its
// image index (index.go), the tag that names the index.
type cacheKey struct {
	digest [32]byte
	policy unique.Handle[string] // name and revision: trustPolicy.id
	tag    unique.Handle[string] // zero, or the normalised covering tag
}

type cacheEntry struct {
	key        cacheKey
	prev, next *cacheEntry
	expires    int64 // Unix nanoseconds
	verifiedAt int64 // Unix nanoseconds; 0 for none
	verified   bool
	// signer and att are the first authority and attestation (zero when
	// none), held inline: most policies ask for one of each.
	signer unique.Handle[Signer]
	att    cachedAttestation
	// odd holds what a plain verdict lacks: further authorities and
	// attestations, errors, a signed digest other than its own.
	odd *oddFacts
}

type cachedAttestation struct {
	predicateType unique.Handle[string] // zero in an entry with no attestation
	signer        unique.Handle[Signer]
	trustedTime   int64  // Unix nanoseconds; 0 for none
	predicate     []byte // shared by every Result built from the entry
}

type oddFacts struct {
	signers      []unique.Handle[Signer]
	atts         []cachedAttestation
	signedDigest string
	errors       []string
}

func newCache(size int) *cache {
	c := &cache{max: size, entries: make(map[cacheKey]*cacheEntry)}
	c.ring.next, c.ring.prev = &c.ring, &c.ring
	return c
}

// keyOf is the cache key of digest under p, through the index tag names
// when tag is not "".
func keyOf(digest string, p *trustPolicy, tag string) cacheKey {
	k := cacheKey{digest: digestBytes(digest), policy: p.id}
	if tag != "" {
		k.tag = unique.Make(tag)
	}
	return k
}

// digestBytes is a sha256 digest's 32 bytes; any other digest string
// (another algorithm, upper-case hex) is hashed, with a prefix no hex
// digest's bytes can be made to match.
func digestBytes(d string) [32]byte {
	var out [32]byte
	if len(d) == len("sha256:")+64 && d[:len("sha256:")] == "sha256:" {
		ok := true
		for i := range 32 {
			hi, lo := unhex(d[7+2*i]), unhex(d[8+2*i])
			if hi < 0 || lo < 0 {
				ok = false
				break
			}
			out[i] = byte(hi<<4 | lo)
		}
		if ok {
			return out
		}
	}
	return sha256.Sum256([]byte("shipgate digest\x00" + d))
}

// unhex is a lower-case hex digit's value, or -1.
func unhex(c byte) int {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0')
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10
	}
	return -1
}

// get returns the live entry for key as a Result of its own (Cached set),
// for digest under p.
func (c *cache) get(key cacheKey, digest string, p *trustPolicy, now time.Time) (*Result, bool) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok && now.UnixNano() > e.expires {
		c.remove(e)
		ok = false
	}
	if !ok {
		c.mu.Unlock()
		return nil, false
	}
	c.unlink(e)
	c.pushFront(e)
	c.mu.Unlock()
	return e.result(digest, p), true
}

// put keeps res under key until expires, in compact form.
func (c *cache) put(key cacheKey, res *Result, expires time.Time) {
	e := compact(res)
	e.key, e.expires = key, expires.UnixNano()
	c.mu.Lock()
	defer c.mu.Unlock()
	if old, ok := c.entries[key]; ok {
		c.remove(old)
	}
	c.entries[key] = e
	c.pushFront(e)
	for len(c.entries) > c.max {
		c.remove(c.ring.prev)
	}
}

// len is how many entries are held, live or expired.
func (c *cache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

func (c *cache) remove(e *cacheEntry) {
	c.unlink(e)
	delete(c.entries, e.key)
}

func (c *cache) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (c *cache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.ring, c.ring.next
	c.ring.next.prev = e
	c.ring.next = e
}

// compact is res as a cache entry. Stale and Unavailable results are never
// cached; Ref, Normalized and Tag belong to a reference, not to a digest.
func compact(res *Result) *cacheEntry {
	e := &cacheEntry{verified: res.Verified}
	if !res.VerifiedAt.IsZero() {
		e.verifiedAt = res.VerifiedAt.UnixNano()
	}
	var odd oddFacts
	for i, a := range res.Authorities {
		if i == 0 {
			e.signer = unique.Make(a)
		} else {
			odd.signers = append(odd.signers, unique.Make(a))
		}
	}
	for i, a := range res.Attestations {
		ca := cachedAttestation{
			predicateType: unique.Make(a.PredicateType),
			signer:        unique.Make(a.Signer),
			predicate:     bytes.Clone(a.Predicate),
		}
		if a.TrustedTime != nil {
			ca.trustedTime = a.TrustedTime.UnixNano()
		}
		if i == 0 {
			e.att = ca
		} else {
			odd.atts = append(odd.atts, ca)
		}
	}
	if len(res.Errors) > 0 || res.SignedDigest != "" || odd.signers != nil || odd.atts != nil {
		odd.signedDigest, odd.errors = res.SignedDigest, append([]string(nil), res.Errors...)
		e.odd = &odd
	}
	return e
}

// result rebuilds the Result e was made from, for digest under p: its
// slices are its own; predicates are shared and must not be written to.
func (e *cacheEntry) result(digest string, p *trustPolicy) *Result {
	r := &Result{
		Digest:       digest,
		TrustPolicy:  p.name,
		Verified:     e.verified,
		Authorities:  []Signer{},
		Attestations: []Attestation{},
		Errors:       []string{},
		Cached:       true,
	}
	if e.verifiedAt != 0 {
		r.VerifiedAt = time.Unix(0, e.verifiedAt)
	}
	if e.signer != (unique.Handle[Signer]{}) {
		r.Authorities = append(r.Authorities, e.signer.Value())
	}
	if e.att.predicateType != (unique.Handle[string]{}) {
		r.Attestations = append(r.Attestations, e.att.attestation())
	}
	if e.odd != nil {
		for _, s := range e.odd.signers {
			r.Authorities = append(r.Authorities, s.Value())
		}
		for _, a := range e.odd.atts {
			r.Attestations = append(r.Attestations, a.attestation())
		}
		r.SignedDigest = e.odd.signedDigest
		r.Errors = append(r.Errors, e.odd.errors...)
	}
	return r
}

func (a *cachedAttestation) attestation() Attestation {
	out := Attestation{PredicateType: a.predicateType.Value(), Signer: a.signer.Value(), Predicate: a.predicate}
	if a.trustedTime != 0 {
		t := time.Unix(0, a.trustedTime).UTC()
		out.TrustedTime = &t
	}
	return out
}
