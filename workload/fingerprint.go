package workload

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"slices"
)

// fingerprintDomain opens every fingerprint's input, so a fingerprint can
// never equal a SHA-256 computed for another purpose over the same fields,
// and a future format can change the version.
const fingerprintDomain = "shipgate.dev/fingerprint/v1"

// Fingerprint identifies a rollout; approvals bind to it. It is
// "sha256:<hex>" over, in order: the namespace, the kind, the name, the
// canonical template (CanonicalTemplate's bytes) and the resolved digests
// (image reference as written → "sha256:…") sorted by reference. Every field
// is length-prefixed, so no two different inputs hash the same bytes.
//
// The name is GenerateName followed by "*" whenever generateName is set:
// the API server generates the name before /validate sees the object, and a
// manifest requested ahead of time only has the generateName. The caller
// fills Namespace from the request when a manifest leaves it out.
func Fingerprint(o *Object, canonical []byte, digests map[string]string) string {
	h := sha256.New()
	writeField(h, fingerprintDomain)
	writeField(h, o.Namespace)
	writeField(h, o.Kind)
	writeField(h, fingerprintName(o))
	writeField(h, canonical)
	refs := make([]string, 0, len(digests))
	for ref := range digests {
		refs = append(refs, ref)
	}
	slices.Sort(refs)
	writeLength(h, len(refs))
	for _, ref := range refs {
		writeField(h, ref)
		writeField(h, digests[ref])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}

// fingerprintName is the name a fingerprint binds to. "*" cannot occur in an
// object name, so a generateName never collides with a name.
func fingerprintName(o *Object) string {
	if o.GenerateName != "" {
		return o.GenerateName + "*"
	}
	return o.Name
}

// writeField writes len(b) as 8 bytes big-endian, then b.
func writeField[T string | []byte](h hash.Hash, b T) {
	writeLength(h, len(b))
	h.Write([]byte(b))
}

// writeLength writes n as 8 bytes big-endian.
func writeLength(h hash.Hash, n int) {
	var buf [8]byte
	binary.BigEndian.PutUint64(buf[:], uint64(n))
	h.Write(buf[:])
}
