package audit

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

// InclusionProof proves that record seq is in the tree of size records:
// verify it with proof.VerifyInclusion(rfc6962.DefaultHasher, seq, size,
// leaf, proof, root) against a checkpoint's root. It reads the first size
// leaves, so it costs O(size).
func (l *Log) InclusionProof(ctx context.Context, seq, size uint64) ([][]byte, error) {
	if seq >= size {
		return nil, fmt.Errorf("proving record %d in a tree of size %d: %w", seq, size, ErrOutOfRange)
	}
	nodes, err := proof.Inclusion(seq, size)
	if err != nil {
		return nil, fmt.Errorf("proving record %d in a tree of size %d: %w", seq, size, err)
	}
	leaves, err := l.leaves(ctx, size)
	if err != nil {
		return nil, fmt.Errorf("proving record %d in a tree of size %d: %w", seq, size, err)
	}
	return proofHashes(nodes, leaves)
}

// ConsistencyProof proves that the tree of size2 records extends the tree of
// size1: verify it with proof.VerifyConsistency(rfc6962.DefaultHasher,
// size1, size2, proof, root1, root2). It reads the first size2 leaves.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("proving size %d consistent with size %d: %w", size1, size2, ErrOutOfRange)
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("proving size %d consistent with size %d: %w", size1, size2, err)
	}
	leaves, err := l.leaves(ctx, size2)
	if err != nil {
		return nil, fmt.Errorf("proving size %d consistent with size %d: %w", size1, size2, err)
	}
	return proofHashes(nodes, leaves)
}

// leaves reads the stored leaf hashes of records [0, size), flat, refusing a
// size beyond the tree's.
func (l *Log) leaves(ctx context.Context, size uint64) ([]byte, error) {
	cur, err := l.Size(ctx)
	if err != nil {
		return nil, err
	}
	if size > cur {
		return nil, fmt.Errorf("the log holds %d records: %w", cur, ErrOutOfRange)
	}
	rows, err := l.db.SQL().QueryContext(ctx, l.db.Rebind("SELECT seq, leaf FROM audit_log WHERE seq < ? ORDER BY seq"), int64(size))
	if err != nil {
		return nil, fmt.Errorf("reading leaves: %w", err)
	}
	defer rows.Close()
	out := make([]byte, 0, size*hashSize)
	var next uint64
	for rows.Next() {
		var seq int64
		var leaf []byte
		if err := rows.Scan(&seq, &leaf); err != nil {
			return nil, fmt.Errorf("reading leaves: %w", err)
		}
		if uint64(seq) != next || len(leaf) != hashSize {
			return nil, fmt.Errorf("reading leaves: record %d missing or malformed", next)
		}
		out = append(out, leaf...)
		next++
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reading leaves: %w", err)
	}
	if next != size {
		return nil, fmt.Errorf("reading leaves: record %d missing", next)
	}
	return out, nil
}

// proofHashes fills a proof's nodes from the leaves and folds its ephemeral
// node.
func proofHashes(nodes proof.Nodes, leaves []byte) ([][]byte, error) {
	hashes := make([][]byte, len(nodes.IDs))
	for i, id := range nodes.IDs {
		begin, end := id.Coverage()
		if end*hashSize > uint64(len(leaves)) {
			return nil, fmt.Errorf("computing a proof: node %v beyond the tree: %w", id, ErrOutOfRange)
		}
		h, err := subtreeRoot(leaves[begin*hashSize : end*hashSize])
		if err != nil {
			return nil, fmt.Errorf("computing a proof: %w", err)
		}
		hashes[i] = h
	}
	out, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, fmt.Errorf("computing a proof: %w", err)
	}
	return out, nil
}
