package signer

import (
	"encoding/hex"
	"strings"
	"time"
)

// memPin is a Pin as the store's in-memory fallback keeps it: its
// references and digests in a slice instead of a map, and a sha256 digest
// as its 32 bytes instead of 71 characters (a digest of another form keeps
// its text). References are not interned: a release usually brings a tag
// never seen, and interning a string used once costs more than the string.
type memPin struct {
	fingerprint string
	pinnedAt    int64 // UnixNano; 0 for a zero time
	refs        []memRef
}

type memRef struct {
	ref    string
	sha256 [32]byte
	other  string // the digest when it is not sha256:<64 hex digits>
}

func compactPin(p Pin) memPin {
	m := memPin{fingerprint: p.Fingerprint, refs: make([]memRef, 0, len(p.Digests))}
	if !p.PinnedAt.IsZero() {
		m.pinnedAt = p.PinnedAt.UnixNano()
	}
	for ref, digest := range p.Digests {
		r := memRef{ref: ref}
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
			p.Digests[r.ref] = r.other
		} else {
			p.Digests[r.ref] = "sha256:" + hex.EncodeToString(r.sha256[:])
		}
	}
	return p
}
