package audit

import (
	"context"
	"fmt"

	"github.com/shipgate/shipgate/store"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// tree rebuilds the tree over the stored leaves and checks it against
// every checkpoint and the state file's prior checkpoint.
func (v *verifier) tree(leaves []byte, cps []checkpointRow, prior *state) (*compact.Range, error) {
	n := uint64(len(leaves) / hashSize)
	sizes := make([]uint64, 0, len(cps)+1)
	for _, cp := range cps {
		sizes = append(sizes, cp.size)
	}
	if prior != nil {
		sizes = append(sizes, prior.Size)
	}
	b := newTreeBuilder(sizes...)
	for i := uint64(0); i < n; i++ {
		if err := b.add(leaves[i*hashSize : (i+1)*hashSize]); err != nil {
			return nil, err
		}
	}
	for _, cp := range cps {
		switch root := b.roots[cp.size]; {
		case cp.size > n:
			v.fail(n, "record %d missing: the checkpoint at size %d covers it", n, cp.size)
		case !sameRoot(root, cp.root):
			v.fail(cp.size, "checkpoint at size %d: root differs", cp.size)
		case cp.ok:
			v.rep.Checkpoints++
			v.rep.Signed = max(v.rep.Signed, cp.size)
		}
	}
	if prior != nil {
		v.checkPrior(prior, leaves, b.roots[prior.Size])
	}
	return b.rng, nil
}

// treeBuilder rebuilds a tree a leaf at a time, keeping its root at the
// sizes it was asked for (those a checkpoint or a state file names), so a
// verifier needs neither every leaf in memory nor a second pass.
type treeBuilder struct {
	rng   *compact.Range
	roots map[uint64][]byte // size → root once the tree reached it, nil before
}

func newTreeBuilder(sizes ...uint64) *treeBuilder {
	b := &treeBuilder{rng: rangeFactory.NewEmptyRange(0), roots: make(map[uint64][]byte, len(sizes))}
	for _, s := range sizes {
		b.roots[s] = nil
	}
	if _, ok := b.roots[0]; ok {
		b.roots[0] = hasher.EmptyRoot()
	}
	return b
}

// add appends the next leaf.
func (b *treeBuilder) add(leaf []byte) error {
	if err := b.rng.Append(leaf, nil); err != nil {
		return fmt.Errorf("verifying the audit log: rebuilding the tree: %w", err)
	}
	if _, ok := b.roots[b.rng.End()]; ok {
		root, err := rootOf(b.rng)
		if err != nil {
			return fmt.Errorf("verifying the audit log: rebuilding the tree: %w", err)
		}
		b.roots[b.rng.End()] = root
	}
	return nil
}

// checkpointRow is one stored checkpoint: its size and root as the signed
// note states them, and whether the signature verified.
type checkpointRow struct {
	size uint64
	root []byte
	note string
	ok   bool
}

// readCheckpoints reads the checkpoints in size order and checks each
// signature and that the note agrees with its row.
func readCheckpoints(ctx context.Context, db *store.DB, verifiers note.Verifiers, v *verifier) ([]checkpointRow, error) {
	rows, err := db.SQL().QueryContext(ctx, "SELECT size, root, note FROM audit_checkpoints ORDER BY size")
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading checkpoints: %w", err)
	}
	defer rows.Close()
	var out []checkpointRow
	for rows.Next() {
		var size int64
		var root []byte
		var text string
		if err := rows.Scan(&size, &root, &text); err != nil {
			return nil, fmt.Errorf("verifying the audit log: reading checkpoints: %w", err)
		}
		row := checkpointRow{size: uint64(size), root: root, note: text}
		cp, err := OpenCheckpoint([]byte(text), verifiers)
		switch {
		case err != nil:
			v.fail(row.size, "checkpoint at size %d: signature does not verify", row.size)
		case cp.Size != row.size || !sameRoot(cp.Hash, root):
			v.fail(row.size, "checkpoint at size %d: signed note differs from its row", row.size)
		default:
			row.ok = true
		}
		out = append(out, row)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading checkpoints: %w", err)
	}
	return out, nil
}

// head checks audit_head against the rebuilt tree.
func (v *verifier) head(ctx context.Context, db *store.DB, rng *compact.Range) error {
	var size int64
	var raw []byte
	if err := db.SQL().QueryRowContext(ctx, `SELECT size, "range" FROM audit_head WHERE id = 1`).Scan(&size, &raw); err != nil {
		return fmt.Errorf("verifying the audit log: reading the head: %w", err)
	}
	n := rng.End()
	switch {
	case uint64(size) != n:
		v.fail(min(uint64(size), n), "audit head: size %d but the log holds %d records", size, n)
	case string(raw) != string(encodeRange(rng)):
		v.fail(n, "audit head: compact range differs from the log's tree")
	}
	return nil
}
