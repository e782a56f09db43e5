package signer

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"reflect"
	"runtime"
	"testing"
	"time"
	"unique"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

func testPolicy(name string) *trustPolicy {
	p := &trustPolicy{name: name, revision: "0123456789abcdef"}
	p.id = unique.Make(p.name + "\x00" + p.revision)
	return p
}

func testDigest(i int) string {
	s := sha256.Sum256(fmt.Appendf(nil, "image %d", i))
	return "sha256:" + hex.EncodeToString(s[:])
}

// verdictLike is what verifyDigest returns for a signed, test-attested
// image, its decoded strings and predicate freshly allocated as decoding
// them leaves them.
func verdictLike(digest string, at time.Time) *Result {
	return &Result{
		Digest: digest, TrustPolicy: "company", Verified: true, VerifiedAt: at,
		Authorities: []Signer{{Name: "release-key", KeyID: "sha256:5d1b"}},
		Attestations: []Attestation{{
			PredicateType: string([]byte(TestResultPredicateType)),
			Signer:        Signer{Name: "ci-key", KeyID: "sha256:9a0c"},
			Predicate:     []byte(`{"result":"PASSED","configuration":[],"passedTests":["TestServes"]}`),
		}},
		Errors: []string{},
	}
}

// TestCacheBytesPerDigest bounds the heap a verified digest keeps once
// cached: what issue 8's 100,000 digests multiply. A whole Result came to
// about 860 bytes of heap, and its parsed reference, kept per digest, 470
// more; the bounds are counts of bytes and entries, never a time.
func TestCacheBytesPerDigest(t *testing.T) {
	const n = 20000
	v := New(config.Verification{CacheSize: n}, nil)
	p := testPolicy("company")
	now := time.Now()
	per := heapBytesPer(n, func() {
		for i := range n {
			d := testDigest(i)
			v.cache.put(keyOf(d, p, ""), verdictLike(d, now), now.Add(time.Hour))
		}
	})
	t.Logf("%.0f bytes of heap per cached digest (%d entries)", per, v.cache.len())
	if v.cache.len() != n {
		t.Fatalf("%d entries cached, want %d", v.cache.len(), n)
	}
	const bound = 360
	if per > bound {
		t.Errorf("a cached digest keeps %.0f bytes of heap, want at most %d", per, bound)
	}

	// References by digest keep one parsed name each, and no more than
	// maxParsed in all.
	for i := range n {
		ref := fmt.Sprintf("registry.example.com/team/app:build-%06d@%s", i%(2*maxParsed), testDigest(i))
		if got := v.parse(ref); got.err != nil {
			t.Fatal(got.err)
		}
	}
	if got := v.parsed.Len(); got != maxParsed {
		t.Errorf("%d parsed references kept, want %d", got, maxParsed)
	}
	runtime.KeepAlive(v)
}

// heapBytesPer runs fill and returns the heap it leaves in use after a
// collection, divided by n.
func heapBytesPer(n int, fill func()) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	fill()
	runtime.GC()
	runtime.ReadMemStats(&after)
	return float64(int64(after.HeapAlloc)-int64(before.HeapAlloc)) / float64(n)
}

// TestCacheGivesBackWhatWasPut: the compact entry rebuilds the Result it
// was made from, every field policy and the audit log read.
func TestCacheGivesBackWhatWasPut(t *testing.T) {
	p := testPolicy("company")
	now := time.Unix(1_800_000_000, 123) // local, as time.Now gives it
	signed := now.Add(-time.Hour).UTC()  // UTC, as check sets it
	tests := map[string]*Result{
		"a verified image": verdictLike(testDigest(1), now),
		"a refusal with its reasons": {
			Digest: testDigest(2), TrustPolicy: "company", VerifiedAt: now,
			Authorities: []Signer{}, Attestations: []Attestation{},
			Errors: []string{"not signed: no cosign signature found", "no attestation"},
		},
		"a platform verified through its index, keyless, with trusted time": {
			Digest: testDigest(3), SignedDigest: testDigest(4), TrustPolicy: "company", Verified: true, VerifiedAt: now,
			Authorities: []Signer{{Name: "a", KeyID: "k1"}, {Name: "b", Subject: "https://github.com/x/y/.github/workflows/release.yml@refs/tags/v1", Issuer: "https://token.actions.githubusercontent.com"}},
			Attestations: []Attestation{
				{PredicateType: TestResultPredicateType, Signer: Signer{Name: "ci"}, TrustedTime: &signed, Predicate: []byte(`{"result":"PASSED"}`)},
				{PredicateType: "https://slsa.dev/provenance/v1", Signer: Signer{Name: "ci"}, Predicate: []byte(`{}`)},
			},
			Errors: []string{},
		},
	}
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			c := newCache(4)
			key := keyOf(want.Digest, p, "")
			c.put(key, want, now.Add(time.Minute))
			got, ok := c.get(key, want.Digest, p, now)
			if !ok {
				t.Fatal("not found")
			}
			w := *want
			w.Cached = true
			if !reflect.DeepEqual(got, &w) {
				t.Errorf("got  %+v\nwant %+v", got, &w)
			}
			got.Authorities = append(got.Authorities, Signer{Name: "changed"})
			got.Errors = append(got.Errors, "changed")
			again, _ := c.get(key, want.Digest, p, now)
			if len(again.Authorities) != len(want.Authorities) || len(again.Errors) != len(want.Errors) {
				t.Error("a caller's change to its Result reached the cache")
			}
		})
	}
}

func TestCacheBounds(t *testing.T) {
	p, other := testPolicy("company"), testPolicy("vendor")
	now := time.Now()
	c := newCache(2)
	k := func(i int) cacheKey { return keyOf(testDigest(i), p, "") }
	c.put(k(1), verdictLike(testDigest(1), now), now.Add(time.Hour))
	c.put(k(2), verdictLike(testDigest(2), now), now.Add(time.Minute))
	if _, ok := c.get(k(1), testDigest(1), p, now); !ok { // 1 is now the most recent
		t.Fatal("entry 1 missing")
	}
	c.put(k(3), verdictLike(testDigest(3), now), now.Add(time.Hour))
	if _, ok := c.get(k(2), testDigest(2), p, now); ok {
		t.Error("the least recently used entry was kept beyond the size")
	}
	if _, ok := c.get(k(1), testDigest(1), p, now); !ok {
		t.Error("a recently used entry was evicted")
	}
	if _, ok := c.get(keyOf(testDigest(1), other, ""), testDigest(1), other, now); ok {
		t.Error("an entry of one trust policy answered for another")
	}
	if _, ok := c.get(keyOf(testDigest(1), p, "registry.example.com/app:1"), testDigest(1), p, now); ok {
		t.Error("a digest's own entry answered for it verified through an index")
	}
	if _, ok := c.get(k(3), testDigest(3), p, now.Add(2*time.Hour)); ok {
		t.Error("an expired entry was returned")
	}
	if c.len() != 1 {
		t.Errorf("%d entries after one expired, want 1", c.len())
	}
	if digestBytes("sha256:"+hex.EncodeToString(make([]byte, 32))) == digestBytes("sha512:00") {
		t.Error("two digests share a key")
	}
}

// TestParseByName: a reference with a digest parses as the whole
// reference does, though the name before the digest is what is kept.
func TestParseByName(t *testing.T) {
	v := New(config.Verification{}, nil)
	d := testDigest(7)
	for _, ref := range []string{
		"registry.example.com/team/app:1.2@" + d,
		"registry.example.com/team/app@" + d,
		"nginx:latest@" + d,
		"nginx@" + d,
		"localhost:5000/app:v1@" + d,
		"registry.example.com/team/app:1.2",
		"registry.example.com/team/app:1.2@sha256:ABC",
		"registry.example.com/team/app:1.2@" + d + "@" + d,
		"Registry.example.com/UPPER:1@" + d,
	} {
		t.Run(ref, func(t *testing.T) {
			want, wantErr := workload.ParseImage(ref)
			for range 2 { // parsed, then from the cache
				got := v.parse(ref)
				if (got.err == nil) != (wantErr == nil) {
					t.Fatalf("error %v, want %v", got.err, wantErr)
				}
				if got.err == nil && got.img != want {
					t.Errorf("parsed %+v, want %+v", got.img, want)
				}
			}
		})
	}
}
