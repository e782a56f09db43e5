package audit

import (
	"fmt"
	"hash"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

// hashSize is SHA-256's: every leaf, node and root is 32 bytes.
const hashSize = 32

// hasher is the RFC 6962 SHA-256 hasher of the tree.
var hasher = rfc6962.DefaultHasher

// leafHash is hasher.HashLeaf(data), computed with h, a SHA-256 its
// caller reuses: the writer hashes a batch's leaves with one.
func leafHash(h hash.Hash, data []byte) []byte {
	h.Reset()
	h.Write(leafPrefix)
	h.Write(data)
	return h.Sum(make([]byte, 0, hashSize))
}

var leafPrefix = []byte{rfc6962.RFC6962LeafHashPrefix}

// rangeFactory builds compact ranges with the tree's node hash.
var rangeFactory = &compact.RangeFactory{Hash: hasher.HashChildren}

// encodeRange serialises a compact range [0, size) as its hashes, left to
// right, concatenated.
func encodeRange(r *compact.Range) []byte {
	out := make([]byte, 0, hashSize*len(r.Hashes()))
	for _, h := range r.Hashes() {
		out = append(out, h...)
	}
	return out
}

// decodeRange reads back what encodeRange wrote for a tree of size leaves.
func decodeRange(size uint64, raw []byte) (*compact.Range, error) {
	if len(raw)%hashSize != 0 {
		return nil, fmt.Errorf("decoding the audit tree's compact range: %d bytes", len(raw))
	}
	hashes := make([][]byte, 0, len(raw)/hashSize)
	for i := 0; i < len(raw); i += hashSize {
		hashes = append(hashes, raw[i:i+hashSize:i+hashSize])
	}
	r, err := rangeFactory.NewRange(0, size, hashes)
	if err != nil {
		return nil, fmt.Errorf("decoding the audit tree's compact range: %w", err)
	}
	return r, nil
}

// rootOf is the tree root of a compact range starting at 0; the empty tree's
// root is SHA-256 of nothing (RFC 6962).
func rootOf(r *compact.Range) ([]byte, error) {
	if r.End() == 0 {
		return hasher.EmptyRoot(), nil
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return nil, fmt.Errorf("computing the audit tree's root: %w", err)
	}
	return root, nil
}

// subtreeRoot is the root of the tree over leaves (flat, hashSize bytes
// each).
func subtreeRoot(leaves []byte) ([]byte, error) {
	r := rangeFactory.NewEmptyRange(0)
	for i := 0; i < len(leaves); i += hashSize {
		if err := r.Append(leaves[i:i+hashSize], nil); err != nil {
			return nil, err
		}
	}
	return rootOf(r)
}
