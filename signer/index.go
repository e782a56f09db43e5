package signer

import (
	"bytes"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/workload"
)

// `cosign sign` of a tag that names an image index signs the index, not
// the platform manifests it lists; yet a Pod the kubelet pinned, or a
// reference written as repo:tag@sha256:<platform>, names a platform
// manifest. lookupRef lets the index's verification stand for such a
// digest when the trust policy allows it (indexCoversPlatforms, on by
// default): the digest has no trusted signature of its own, and the tag
// written beside it names an index that lists it. The facts say so:
// Digest is the platform manifest, SignedDigest the index.

// lookupRef is lookup for the digest d that img names, with index
// coverage. A reference with no tag has no index to go by, and one with no
// digest resolved its tag to whatever the tag names (an index is then
// verified as itself).
func (v *Verifier) lookupRef(acc access, req Request, img workload.Image, d name.Digest, p *trustPolicy) *Result {
	if img.Digest == "" || img.Tag == "" {
		return v.lookup(acc, req, d, p)
	}
	tag := d.Context().Tag(img.Tag)
	key := keyOf(d.DigestStr(), p, tag.Name())
	if r, ok := v.cache.get(key, d.DigestStr(), p, v.opts.now()); ok {
		v.lookups[FromMemory].Add(1)
		return r
	}
	own := v.lookup(acc, req, d, p)
	if own.Verified || len(own.Authorities) > 0 || own.refused {
		return own
	}
	if own.Unavailable {
		// A verification through the index kept earlier may still do.
		return v.lastKnownGood(acc.ctx, coveredKey(d, tag, p), own)
	}
	now := v.opts.now()
	res := v.throughIndex(acc, req, own, d, tag, p)
	if res.Unavailable {
		return v.lastKnownGood(acc.ctx, coveredKey(d, tag, p), res)
	}
	if !req.DryRun && !res.refused {
		ttl := v.cfg.FailureTTL.Duration
		if res.Verified {
			ttl = v.cfg.CacheTTL.Duration
		}
		v.cache.put(key, res, now.Add(cmp(ttl, config.DefaultFailureTTL)))
		if res.Verified {
			v.remember(coveredKey(d, tag, p), res)
		}
	}
	return res
}

// coveredKey is the last-known-good key of d verified through the index
// tag names: d's own key (digest, policy, revision) and the tag, since a
// reference without the tag, or with another, has no such index to go by.
func coveredKey(d name.Digest, tag name.Tag, p *trustPolicy) string {
	return storeKey(d.DigestStr(), p) + "|" + tag.Name()
}

// throughIndex verifies, in place of d, the image index tag names, and
// returns what stands for d: the index's verification when the index
// lists d, verifies and may cover it; else d's own refusal (own), with
// the reason the index did not help.
func (v *Verifier) throughIndex(acc access, req Request, own *Result, d name.Digest, tag name.Tag, p *trustPolicy) *Result {
	idx, listed, err := v.indexOf(acc, tag, d)
	switch {
	case err != nil:
		own.Errors = append(own.Errors, err.Error())
		own.Unavailable = errors.Is(err, ErrRegistry)
		own.refused = isRefused(err)
		return own
	case idx == "":
		return own // the tag names a single manifest: d itself, or another
	case !listed:
		own.Errors = append(own.Errors, fmt.Sprintf("tag %s names image index %s, which does not list %s", tag.TagStr(), idx, d.DigestStr()))
		return own
	}
	ir := v.lookup(acc, req, d.Context().Digest(idx), p)
	switch {
	case !ir.Verified:
		own.Errors = append(own.Errors, fmt.Sprintf("its image index %s (tag %s) is not verified either: %s", idx, tag.TagStr(), strings.Join(ir.Errors, "; ")))
		own.Unavailable, own.refused = ir.Unavailable, ir.refused
		return own
	case !p.coverIndex:
		own.Errors = []string{fmt.Sprintf("%s is signed only through its image index %s (tag %s), and trust policy %s does not let an index's signature cover its platforms (indexCoversPlatforms: false)",
			d.DigestStr(), idx, tag.TagStr(), p.name)}
		return own
	}
	res := ir.clone()
	res.Digest, res.SignedDigest = d.DigestStr(), idx
	res.Cached = false // the tag was just read
	return res
}

// indexOf asks the registry what tag names (one GET, shared by concurrent
// admissions): idx is its digest when it is an image index, "" when it is
// a single manifest; listed says whether the index lists d.
func (v *Verifier) indexOf(acc access, tag name.Tag, d name.Digest) (idx string, listed bool, err error) {
	got, err, _ := v.flight.Do(acc.flightKey("index|"+tag.Name()), func() (any, error) { return acc.puller.Get(acc.ctx, tag) })
	if err != nil {
		err = registryError(tag.RegistryStr(), err)
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return "", false, fmt.Errorf("looking for the image index of %s: tag %s not found in %s", d.DigestStr(), tag.TagStr(), tag.RepositoryStr())
		}
		return "", false, fmt.Errorf("looking for the image index of %s that tag %s names: %w", d.DigestStr(), tag.TagStr(), err)
	}
	desc := got.(*remote.Descriptor)
	if !desc.MediaType.IsIndex() {
		return "", false, nil
	}
	im, err := v1.ParseIndexManifest(bytes.NewReader(desc.Manifest))
	if err != nil {
		return "", false, fmt.Errorf("reading image index %s that tag %s names: %w", desc.Digest, tag.TagStr(), err)
	}
	for _, m := range im.Manifests {
		if m.Digest.String() == d.DigestStr() {
			return desc.Digest.String(), true, nil
		}
	}
	return desc.Digest.String(), false, nil
}
