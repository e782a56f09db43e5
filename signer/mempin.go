package signer

import (
	"encoding/hex"
	"strings"
	"time"
	"unique"
)

// memPin is a Pin as the store's in-memory fallback keeps it: some 300
// bytes for a five-image rollout instead of 1.4 KB. References repeat
// across rollouts (every release of an application names the same
// repositories and tags), so each is interned; a sha256 digest is kept as
// its 32 bytes. A digest of another form keeps its text.
type memPin struct {
	fingerprint string
	pinnedAt    int64 // UnixNano; 0 for a zero time
	refs        []memRef
}

type memRef struct {
	ref    unique.Handle[string]
	sha256 [32]byte
	other  string // the digest when it is not sha256:<64 hex digits>
}

func compactPin(p Pin) memPin {
	m := memPin{fingerprint: p.Fingerprint, refs: make([]memRef, 0, len(p.Digests))}
	if !p.PinnedAt.IsZero() {
		m.pinnedAt = p.PinnedAt.UnixNano()
	}
	for ref, digest := range p.Digests {
		r := memRef{ref: unique.Make(ref)}
		if hexDigits, ok := strings.CutPrefix(digest, "sha256:"); ok && len(hexDigits) == 64 && strings.ToLower(hexDigits) == hexDigits {
			if _, err := hex.Decode(r.sha256[:], []byte(hexDigits)); err != nil {
				r.other = digest
			}
		} else {
			r.other = digest
		}
		m.refs = append(m.refs, r)
	}
	return m
}

func (m memPin) pin() Pin {
	p := Pin{Fingerprint: m.fingerprint, Digests: make(map[string]string, len(m.refs))}
	if m.pinnedAt != 0 {
		p.PinnedAt = time.Unix(0, m.pinnedAt).UTC()
	}
	for _, r := range m.refs {
		if r.other != "" {
			p.Digests[r.ref.Value()] = r.other
		} else {
			p.Digests[r.ref.Value()] = "sha256:" + hex.EncodeToString(r.sha256[:])
		}
	}
	return p
}
