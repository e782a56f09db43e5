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
	roots := map[uint64][]byte{}
	for _, cp := range cps {
		roots[cp.size] = nil
	}
	if prior != nil {
		roots[prior.Size] = nil
	}
	rng := rangeFactory.NewEmptyRange(0)
	if _, ok := roots[0]; ok {
		roots[0] = hasher.EmptyRoot()
	}
	for i := uint64(0); i < n; i++ {
		if err := rng.Append(leaves[i*hashSize:(i+1)*hashSize], nil); err != nil {
			return nil, fmt.Errorf("verifying the audit log: rebuilding the tree: %w", err)
		}
		if _, ok := roots[i+1]; ok {
			roots[i+1], _ = rootOf(rng)
		}
	}
	for _, cp := range cps {
		switch root := roots[cp.size]; {
		case cp.size > n:
			v.fail(n, "record %d missing: the checkpoint at size %d covers it", n, cp.size)
		case !sameRoot(root, cp.root):
			v.fail(cp.size, "checkpoint at size %d: root differs", cp.size)
		case cp.ok:
			v.rep.Checkpoints++
		}
	}
	if prior != nil {
		v.checkPrior(prior, leaves, roots[prior.Size])
	}
	return rng, nil
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
