package signer_test

import (
	"testing"

	"github.com/shipgate/shipgate/signer"
)

// TestIndexCoversPlatforms verifies a multi-arch image that cosign signed
// and attested as a whole (the index digest, as `cosign sign` of its tag
// does), referenced by one of its platform manifests.
func TestIndexCoversPlatforms(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	repo := f.reg.Host + "/team/multi"
	_, index, platforms := f.reg.PushIndex(t, "team/multi", "1.0", 2)
	f.sign(t, f.release, repo+"@"+index)
	f.attestTests(t, f.ci, repo+"@"+index, signer.TestsPassed)
	// Another index in the repository, under another tag, unsigned.
	_, _, others := f.reg.PushIndex(t, "team/multi", "2.0", 2)
	// An index signed and attested in cosign v3's layout.
	_, bundled, bundledPlatforms := f.reg.PushIndex(t, "team/multi", "3.0", 2)
	f.signBundle(t, f.release, repo+"@"+bundled)
	f.attestTestsBundle(t, f.ci, repo+"@"+bundled, signer.TestsPassed)

	covers := signer.New(verification(nil), compile(t, f.trustConfig(t)))
	strict := f.trustConfig(t)
	strict.Trust[0].IndexCoversPlatforms = new(bool)
	doesNot := signer.New(verification(nil), compile(t, strict))

	cases := map[string]struct {
		v            *signer.Verifier
		ref          string
		signedDigest string
		want         string // "" for verified
	}{
		"a platform digest beside the tag of a signed index": {
			v: covers, ref: repo + ":1.0@" + platforms[1], signedDigest: index,
		},
		"a platform digest of an index signed in bundles": {
			v: covers, ref: repo + ":3.0@" + bundledPlatforms[0], signedDigest: bundled,
		},
		"the index digest": {v: covers, ref: repo + "@" + index},
		"the tag alone":    {v: covers, ref: repo + ":1.0"},
		"a platform digest without a tag": {
			v: covers, ref: repo + "@" + platforms[0],
			want: "not signed: no cosign signature found for " + platforms[0],
		},
		"a platform digest the tag's index does not list": {
			v: covers, ref: repo + ":1.0@" + others[0],
			want: "tag 1.0 names image index " + index + ", which does not list " + others[0],
		},
		"a platform digest of an unsigned index": {
			v: covers, ref: repo + ":2.0@" + others[0],
			want: "(tag 2.0) is not verified either: not signed: no cosign signature found",
		},
		"indexCoversPlatforms false": {
			v: doesNot, ref: repo + ":1.0@" + platforms[0],
			want: platforms[0] + " is signed only through its image index " + index + " (tag 1.0), and trust policy company does not let an index's signature cover its platforms",
		},
		"indexCoversPlatforms false, the index digest": {v: doesNot, ref: repo + "@" + index},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := verifyOne(t, c.v, c.ref)
			if c.want != "" {
				wantError(t, r, c.want)
				return
			}
			if !r.Verified || len(r.Errors) != 0 {
				t.Fatalf("not verified: %q", r.Errors)
			}
			if r.SignedDigest != c.signedDigest {
				t.Errorf("signed digest %q, want %q", r.SignedDigest, c.signedDigest)
			}
			if r.SignedDigest != "" && r.Digest == r.SignedDigest {
				t.Errorf("digest %s is the index's, want the platform's", r.Digest)
			}
			if len(r.Authorities) != 1 || r.Authorities[0].Name != "release" || len(r.Attestations) != 1 || r.Attestations[0].Signer.Name != "ci" {
				t.Errorf("authorities %+v, attestations %+v: want release and the ci test result", r.Authorities, r.Attestations)
			}
		})
	}
}

// TestIndexCoverageCache checks what is cached for a platform digest
// verified through its index: a warm admission of the same reference asks
// the registry nothing, a reference without the tag is still refused, and
// a reload that turns coverage off voids the result.
func TestIndexCoverageCache(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	repo := f.reg.Host + "/team/multi"
	_, index, platforms := f.reg.PushIndex(t, "team/multi", "1.0", 2)
	f.sign(t, f.release, repo+"@"+index)
	f.attestTests(t, f.ci, repo+"@"+index, signer.TestsPassed)
	cfg := f.trustConfig(t)
	v := signer.New(verification(nil), compile(t, cfg))
	pinned := repo + ":1.0@" + platforms[0]

	if r := verifyOne(t, v, pinned); !r.Verified || r.SignedDigest != index {
		t.Fatalf("cold: verified %v, signed digest %q, errors %q", r.Verified, r.SignedDigest, r.Errors)
	}
	f.reg.ResetCount()
	r := verifyOne(t, v, pinned)
	if !r.Verified || !r.Cached || r.SignedDigest != index || r.Digest != platforms[0] {
		t.Fatalf("warm: %+v", r)
	}
	if n := f.reg.Requests(); n != 0 {
		t.Errorf("a warm admission of %s made %d registry requests, want 0: %q", pinned, n, f.reg.RequestLog())
	}

	wantError(t, verifyOne(t, v, repo+"@"+platforms[0]), "not signed: no cosign signature found for "+platforms[0])
	if r := verifyOne(t, v, pinned); !r.Verified {
		t.Errorf("after the reference without a tag was refused, %s is refused: %q", pinned, r.Errors)
	}

	off := f.trustConfig(t)
	off.Trust[0].IndexCoversPlatforms = new(bool)
	v.SetTrust(compile(t, off))
	r = verifyOne(t, v, pinned)
	if r.Cached {
		t.Error("the result of coverage was reused after a reload turned it off")
	}
	wantError(t, r, "is signed only through its image index "+index)
}
