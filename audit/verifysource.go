package audit

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// Source is a log seen through the gateway's API rather than its database,
// as an auditor without database credentials sees it. *Log has the
// Checkpoint and ConsistencyProof methods; the API client adds Export.
type Source interface {
	// Checkpoint returns the latest signed checkpoint note, or an error
	// wrapping ErrNoCheckpoint when none was signed yet.
	Checkpoint(ctx context.Context) ([]byte, error)
	// Export streams the whole log as Export writes it with FormatJSONL
	// and no filter.
	Export(ctx context.Context) (io.ReadCloser, error)
	// ConsistencyProof proves that the tree of size2 records extends the
	// tree of size1.
	ConsistencyProof(ctx context.Context, size1, size2 uint64) ([][]byte, error)
}

// VerifySource checks a log through src as Verify checks it in the
// database, as far as the API shows it. It fetches the latest checkpoint
// and checks its signature against verifiers; reads the whole export,
// checking that seqs run from 0 without gaps, that each record is
// canonical, names its seq and hashes to the leaf the export gives for it
// (a redacted record is instead named, with that leaf, by a later
// redaction record); rebuilds the tree over those leaves and checks its
// root at the checkpoint's size. With a state file it checks the log still
// extends the checkpoint an earlier run verified: the new checkpoint is no
// older, the rebuilt tree has the remembered root at the remembered size,
// and the consistency proof src gives between the two verifies, so
// truncation or rollback is detected; then it remembers the new checkpoint.
//
// What the API cannot show is not checked: checkpoints older than the
// latest, the query columns and audit_head. The error is the first
// *Mismatch by seq; Report lists up to 100.
func VerifySource(ctx context.Context, src Source, verifiers note.Verifiers, opts VerifyOptions) (*Report, error) {
	v := &verifier{rep: &Report{}, named: map[uint64]string{}, redacted: map[uint64][]byte{}}
	prior, err := readState(opts.StateFile)
	if err != nil {
		return v.rep, err
	}
	cp, err := v.latestCheckpoint(ctx, src, verifiers)
	if err != nil {
		return v.rep, err
	}
	var sizes []uint64
	if cp != nil {
		sizes = append(sizes, cp.size)
	}
	if prior != nil {
		sizes = append(sizes, prior.Size)
	}
	b := newTreeBuilder(sizes...)
	rc, err := src.Export(ctx)
	if err != nil {
		return v.rep, fmt.Errorf("verifying the audit log: exporting it: %w", err)
	}
	err = v.stream(rc, b)
	rc.Close()
	if err != nil {
		return v.rep, err
	}
	n := b.rng.End()
	root, err := rootOf(b.rng)
	if err != nil {
		return v.rep, err
	}
	v.rep.Root = root
	if cp != nil {
		switch {
		case cp.size > n:
			v.fail(n, "record %d missing: the checkpoint at size %d covers it", n, cp.size)
		case !sameRoot(b.roots[cp.size], cp.root):
			v.fail(cp.size, "checkpoint at size %d: root differs", cp.size)
		case cp.ok:
			v.rep.Checkpoints++
			v.rep.Signed = max(v.rep.Signed, cp.size)
		}
	}
	v.redactions()
	latest := state{Size: n, Root: root}
	if cp != nil {
		latest = state{Size: cp.size, Root: cp.root, Note: cp.note}
	}
	if prior != nil {
		v.extends(ctx, src, prior, latest, b)
	}
	if len(v.rep.Problems) > 0 {
		slices.SortStableFunc(v.rep.Problems, func(a, b *Mismatch) int { return cmp.Compare(a.Seq, b.Seq) })
		return v.rep, v.rep.Problems[0]
	}
	if opts.StateFile != "" {
		if err := writeState(opts.StateFile, latest); err != nil {
			return v.rep, err
		}
	}
	return v.rep, nil
}

// latestCheckpoint fetches and opens the latest checkpoint: nil when none
// was signed yet; not ok, with the size and root it claims, when its
// signature does not verify.
func (v *verifier) latestCheckpoint(ctx context.Context, src Source, verifiers note.Verifiers) (*checkpointRow, error) {
	signed, err := src.Checkpoint(ctx)
	if errors.Is(err, ErrNoCheckpoint) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: fetching the latest checkpoint: %w", err)
	}
	if cp, err := OpenCheckpoint(signed, verifiers); err == nil {
		return &checkpointRow{size: cp.Size, root: cp.Hash, note: string(signed), ok: true}, nil
	}
	// Read what it claims, unverified, to name it.
	text, _, _ := bytes.Cut(signed, []byte("\n\n"))
	var cp log.Checkpoint
	if _, err := cp.Unmarshal(append(text, '\n')); err != nil {
		v.fail(0, "latest checkpoint: not a checkpoint note")
		return nil, nil
	}
	v.fail(cp.Size, "checkpoint at size %d: signature does not verify", cp.Size)
	return &checkpointRow{size: cp.Size, root: cp.Hash, note: string(signed)}, nil
}

// exportedLine is an ExportLine with the record's bytes as exported, to
// hash them as they are.
type exportedLine struct {
	Seq      uint64          `json:"seq"`
	Record   json.RawMessage `json:"record"`
	Redacted bool            `json:"redacted"`
	Leaf     string          `json:"leaf"`
}

// stream reads a JSON Lines export, checks each record and adds its leaf
// to the tree.
func (v *verifier) stream(r io.Reader, b *treeBuilder) error {
	br := bufio.NewReaderSize(r, 64<<10)
	var next uint64
	for {
		line, readErr := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			if line[0] == '#' { // the gateway's note that the export failed midway
				return fmt.Errorf("verifying the audit log: the export stopped after record %d: %s", next, bytes.TrimSpace(bytes.TrimPrefix(line, []byte("#"))))
			}
			var e exportedLine
			if err := json.Unmarshal(line, &e); err != nil {
				return fmt.Errorf("verifying the audit log: reading the export after record %d: %w", next, err)
			}
			switch {
			case e.Seq < next:
				v.fail(e.Seq, "record %d: exported again after record %d", e.Seq, next-1)
				continue
			case e.Seq > next:
				v.fail(next, "record %d missing", next)
			}
			next = e.Seq + 1
			if err := b.add(v.exported(e)); err != nil {
				return err
			}
		}
		if errors.Is(readErr, io.EOF) {
			break
		}
		if readErr != nil {
			return fmt.Errorf("verifying the audit log: reading the export after record %d: %w", next, readErr)
		}
	}
	v.rep.Size = next
	return nil
}

// exported checks one exported record and returns the leaf the tree
// holds for it: the one the export gives, or, from an export older than
// that field, the hash of the record's bytes.
func (v *verifier) exported(e exportedLine) []byte {
	seq, raw := e.Seq, []byte(e.Record)
	var leaf []byte
	if e.Leaf != "" {
		var err error
		if leaf, err = hex.DecodeString(e.Leaf); err != nil || len(leaf) != hashSize {
			v.fail(seq, "record %d: leaf %q is not a %d-byte hash", seq, e.Leaf, hashSize)
			return make([]byte, hashSize)
		}
	}
	switch {
	case leaf == nil && e.Redacted:
		v.fail(seq, "record %d: redacted, and the export gives no leaf for it (a gateway older than this verifier)", seq)
		return make([]byte, hashSize)
	case leaf == nil:
		leaf = hasher.HashLeaf(raw)
	case !e.Redacted && !bytes.Equal(hasher.HashLeaf(raw), leaf):
		v.fail(seq, "record %d: leaf does not match its content", seq)
		return leaf
	}
	if r, ok := v.content(seq, raw); ok {
		v.redaction(seq, r, e.Redacted, leaf)
	}
	return leaf
}

// extends checks the log still extends the checkpoint an earlier run
// verified (prior): the rebuilt tree has its root at its size, and latest
// is no older and consistent with it by the proof src gives.
func (v *verifier) extends(ctx context.Context, src Source, prior *state, latest state, b *treeBuilder) {
	n := b.rng.End()
	if prior.Size > n {
		v.fail(n, "record %d missing: an earlier verification saw %d records", n, prior.Size)
	} else if prior.Size > 0 && !sameRoot(b.roots[prior.Size], prior.Root) {
		v.fail(prior.Size, "checkpoint at size %d (earlier verification): root differs: the log was rewritten", prior.Size)
	}
	if latest.Size < prior.Size {
		v.fail(latest.Size, "checkpoint at size %d is older than the one an earlier verification saw at size %d: the log was truncated or rolled back", latest.Size, prior.Size)
		return
	}
	p, err := src.ConsistencyProof(ctx, prior.Size, latest.Size)
	if err != nil {
		v.fail(prior.Size, "checkpoint at size %d (earlier verification): no consistency proof to size %d: %v", prior.Size, latest.Size, err)
		return
	}
	if err := proof.VerifyConsistency(hasher, prior.Size, latest.Size, p, prior.Root, latest.Root); err != nil {
		v.fail(prior.Size, "checkpoint at size %d is not consistent with the one an earlier verification saw at size %d: the log was rewritten (%v)", latest.Size, prior.Size, err)
	}
}
