package signer

import (
	"fmt"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/shipgate/shipgate/workload"
)

// parsedRef is a reference parsed once: references repeat across
// admissions, and parsing one takes regular expressions.
type parsedRef struct {
	img  workload.Image
	repo name.Repository
	err  error
}

// parse parses ref, or returns it parsed before. A reference with a
// digest is parsed as the name before its '@' (kept once for every digest
// written beside it) and the digest, so the parsed references held grow
// with a cluster's repositories and tags, not with its history of digests.
func (v *Verifier) parse(ref string) parsedRef {
	if base, digest, ok := strings.Cut(ref, "@"); ok && plainDigest(digest) {
		if p := v.parseName(base); p.err == nil {
			p.img.Ref, p.img.Digest = ref, digest
			return p
		}
	}
	return v.parseName(ref)
}

// parseName parses ref through the cache of parsed references.
func (v *Verifier) parseName(ref string) parsedRef {
	if p, ok := v.parsed.Get(ref); ok {
		return p.(parsedRef)
	}
	ref = strings.Clone(ref) // kept: not a window on an admission's body
	var p parsedRef
	p.img, p.err = workload.ParseImage(ref)
	if p.err == nil {
		var err error
		if p.repo, err = name.NewRepository(p.img.Name(), name.WeakValidation); err != nil {
			p.err = fmt.Errorf("parsing %s: %w", p.img.Name(), err)
		}
	}
	v.parsed.Add(ref, p)
	return p
}

// plainDigest reports whether d is "sha256:" and 64 lower-case hex digits,
// the digest form whose validity needs no parser. Any other form is parsed
// with the whole reference.
func plainDigest(d string) bool {
	if len(d) != len("sha256:")+64 || d[:len("sha256:")] != "sha256:" {
		return false
	}
	for i := len("sha256:"); i < len(d); i++ {
		if unhex(d[i]) < 0 {
			return false
		}
	}
	return true
}

// maxParsed bounds the parsed references kept: names before any digest,
// so a few thousand cover a large cluster's distinct images; beyond it a
// reference costs a parse (tens of microseconds) again.
const maxParsed = 8192
