package signer

import (
	"encoding/binary"
	"encoding/hex"
	"strings"
	"time"
)

// memPin is a Pin as the store's in-memory fallback keeps it: one string,
// one allocation, holding
//
//	pinnedAt (8 bytes, UnixNano, 0 for a zero time)
//	the fingerprint (a field, below)
//	for each reference: the reference (length-prefixed), then its digest (a field)
//
// where a field is a byte 0 followed by 32 bytes for a lower-case hex
// SHA-256 ("sha256:<64 hex>" as a digest, <64 hex> as a fingerprint), or
// a byte 1 followed by the text, length-prefixed (uvarint). References
// are copied in, so a pin does not keep the decoded review's strings
// alive, and are not interned: a release usually brings a tag never seen.
// A five-image pin is some 420 bytes instead of the 850 a struct with a
// slice of references and strings took.
type memPin string

const (
	fieldSHA256 = 0
	fieldText   = 1
)

func compactPin(p Pin) memPin {
	n := 8 + 1 + 33 + len(p.Fingerprint)
	for ref, digest := range p.Digests {
		n += 2*binary.MaxVarintLen64 + len(ref) + 1 + 32 + len(digest)
	}
	b := make([]byte, 8, n)
	if !p.PinnedAt.IsZero() {
		binary.LittleEndian.PutUint64(b, uint64(p.PinnedAt.UnixNano()))
	}
	b = appendField(b, p.Fingerprint, "")
	for ref, digest := range p.Digests {
		b = binary.AppendUvarint(b, uint64(len(ref)))
		b = append(b, ref...)
		b = appendField(b, digest, "sha256:")
	}
	return memPin(b)
}

// appendField appends s: as its 32 bytes when it is prefix followed by 64
// lower-case hex digits, else as text.
func appendField(b []byte, s, prefix string) []byte {
	if h, ok := strings.CutPrefix(s, prefix); ok && len(h) == 64 && strings.ToLower(h) == h {
		var sum [32]byte
		if _, err := hex.Decode(sum[:], []byte(h)); err == nil {
			return append(append(b, fieldSHA256), sum[:]...)
		}
	}
	b = append(b, fieldText)
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// field reads a field at the start of m and returns it with what follows.
func (m memPin) field(prefix string) (string, memPin) {
	if len(m) == 0 {
		return "", ""
	}
	if m[0] == fieldSHA256 {
		return prefix + hex.EncodeToString([]byte(m[1:33])), m[33:]
	}
	return m[1:].text()
}

// text reads a length-prefixed string.
func (m memPin) text() (string, memPin) {
	n, k := binary.Uvarint([]byte(m[:min(len(m), binary.MaxVarintLen64)]))
	return string(m[k : k+int(n)]), m[k+int(n):]
}

func (m memPin) fingerprint() string {
	fp, _ := m[8:].field("")
	return fp
}

func (m memPin) pin() Pin {
	p := Pin{Digests: map[string]string{}}
	if at := int64(binary.LittleEndian.Uint64([]byte(m[:8]))); at != 0 {
		p.PinnedAt = time.Unix(0, at).UTC()
	}
	var rest memPin
	p.Fingerprint, rest = m[8:].field("")
	for len(rest) > 0 {
		var ref, digest string
		ref, rest = rest.text()
		digest, rest = rest.field("sha256:")
		p.Digests[ref] = digest
	}
	return p
}
