package audit

import (
	"bytes"
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/shipgate/shipgate/store"
	"golang.org/x/mod/sumdb/note"
)

// Mismatch is what Verify found wrong, naming the first place it found it:
// a record's seq, or a checkpoint's size.
type Mismatch struct {
	Seq    uint64
	Reason string // the whole message: "record 41: leaf does not match its content"
}

func (m *Mismatch) Error() string { return m.Reason }

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	// StateFile, when set, remembers the last verified checkpoint (size and
	// root); a later run fails if the log is now smaller or its tree at that
	// size differs.
	StateFile string
}

// Report is what Verify checked.
type Report struct {
	Size        uint64 // records in the log
	Root        []byte // the recomputed tree root
	Redacted    int    // redacted records, each named by a later redaction record
	Checkpoints int    // checkpoints whose signature and root verified
	// Signed is the size of the largest checkpoint that verified: records
	// from Signed on are in the tree but no signature covers them yet.
	Signed   uint64
	Problems []*Mismatch
}

// maxProblems caps the problems a report lists.
const maxProblems = 100

// Verify reads the whole log in seq order and checks: seqs run from 0
// without gaps; each record's stored bytes hash to its stored leaf, are
// canonical, name its seq and agree with the query columns, and are in the
// lookups by object, image, repository and user under each of their keys
// and under no other (or not due there yet, index.go); a redacted
// record is named, with its leaf, by a later redaction record; the tree
// over the stored leaves has, at every checkpoint's size, the root the
// checkpoint signs, and every checkpoint is signed by one of verifiers;
// audit_head holds the tree's size and compact range; and, with a state
// file, the log still extends the checkpoint an earlier run verified.
// The error is the first *Mismatch by seq; Report lists up to 100.
func Verify(ctx context.Context, db *store.DB, verifiers note.Verifiers, opts VerifyOptions) (*Report, error) {
	v := &verifier{rep: &Report{}, named: map[uint64]string{}, redacted: map[uint64][]byte{}}
	lists, err := readLists(ctx, db)
	if err != nil {
		return v.rep, err
	}
	v.lists = lists
	cps, err := readCheckpoints(ctx, db, verifiers, v)
	if err != nil {
		return v.rep, err
	}
	prior, err := readState(opts.StateFile)
	if err != nil {
		return v.rep, err
	}
	leaves, err := v.scan(ctx, db)
	if err != nil {
		return v.rep, err
	}
	rng, err := v.tree(leaves, cps, prior)
	if err != nil {
		return v.rep, err
	}
	v.redactions()
	if err := v.head(ctx, db, rng); err != nil {
		return v.rep, err
	}
	v.rep.Root, _ = rootOf(rng)
	if len(v.rep.Problems) > 0 {
		slices.SortStableFunc(v.rep.Problems, func(a, b *Mismatch) int { return cmp.Compare(a.Seq, b.Seq) })
		return v.rep, v.rep.Problems[0]
	}
	if opts.StateFile != "" {
		if err := writeState(opts.StateFile, v.latest(cps, rng)); err != nil {
			return v.rep, err
		}
	}
	return v.rep, nil
}

// verifier carries one Verify run's findings.
type verifier struct {
	rep      *Report
	named    map[uint64]string // seq → leaf (hex) named by a redaction record
	redacted map[uint64][]byte // redacted seq → its stored leaf
	lists    *listCheck        // checks the lookups (verifylists.go)
}

func (v *verifier) fail(seq uint64, format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, &Mismatch{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
}

// scan reads every record, checks it, and returns the stored leaves, flat,
// in seq order (without the missing ones).
func (v *verifier) scan(ctx context.Context, db *store.DB) ([]byte, error) {
	images := "images" // SQLite's; PostgreSQL's records are in the lookups from their append on
	if db.Dialect() == store.Postgres {
		images = "NULL"
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT seq, leaf, record, request_uid, event, decision, namespace, kind, name, username, `+images+`, redacted
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
	}
	defer rows.Close()
	var leaves []byte
	var next uint64
	for rows.Next() {
		var c columns
		if err := rows.Scan(&c.seq, &c.leaf, &c.record, &c.uid, &c.event, &c.decision, &c.namespace, &c.kind, &c.name, &c.username, &c.images, &c.redacted); err != nil {
			return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
		}
		seq := uint64(c.seq)
		if seq > next {
			v.fail(next, "record %d missing", next)
		}
		next = seq + 1
		if len(c.leaf) != hashSize {
			v.fail(seq, "record %d: leaf is %d bytes, not %d", seq, len(c.leaf), hashSize)
			c.leaf = make([]byte, hashSize)
		}
		leaves = append(leaves, c.leaf...)
		v.record(c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
	}
	if err := v.lists.diagnose(ctx, db, v); err != nil {
		return nil, err
	}
	v.rep.Size = next
	return leaves, nil
}

// columns is one audit_log row as Verify reads it.
type columns struct {
	seq                                              int64
	leaf                                             []byte
	record                                           string
	uid                                              *string
	event, decision, namespace, kind, name, username string
	images                                           *string // SQLite's imagesColumn
	redacted                                         int
}

// record checks one row against itself.
func (v *verifier) record(c columns) {
	seq := uint64(c.seq)
	raw := []byte(c.record)
	if c.redacted == 0 && !bytes.Equal(hasher.HashLeaf(raw), c.leaf) {
		v.fail(seq, "record %d: leaf does not match its content", seq)
		return
	}
	r, ok := v.content(seq, raw)
	if !ok {
		return
	}
	uid := ""
	if c.uid != nil {
		uid = *c.uid
	}
	if uid != r.RequestUID || c.event != r.Event || c.decision != r.Decision || c.namespace != r.Namespace ||
		c.kind != r.Kind || c.name != r.Name || c.username != r.User.Username {
		v.fail(seq, "record %d: query columns do not match its content", seq)
		return
	}
	images := imageRows(r.Images)
	// A record not in the lookups yet (SQLite, index.go) is found by its
	// images column, which a record in them may keep NULL (migration 12).
	if c.images != nil && !sameImages(*c.images, images) || c.images == nil && seq >= v.lists.indexed && v.lists.sqlite {
		v.fail(seq, "record %d: query columns do not match its content", seq)
		return
	}
	v.redaction(seq, r, c.redacted != 0, c.leaf)
	if seq < v.lists.indexed {
		v.lists.record(listed{seq, r.Namespace, r.Kind, r.Name, r.User.Username, images})
	}
}

// content checks that a record's bytes are its canonical form and name
// its seq, and returns the record.
func (v *verifier) content(seq uint64, raw []byte) (Record, bool) {
	r, err := parseRecord(raw)
	if err != nil {
		v.fail(seq, "record %d: %v", seq, err)
		return r, false
	}
	if canon, err := Canonical(r); err != nil || !bytes.Equal(canon, raw) {
		v.fail(seq, "record %d: content is not in canonical form", seq)
		return r, false
	}
	if r.Seq != seq {
		v.fail(seq, "record %d: holds record %d", seq, r.Seq)
		return r, false
	}
	return r, true
}

// redaction notes a redacted record and its leaf, or the record a
// redaction record names, for redactions to match up at the end.
func (v *verifier) redaction(seq uint64, r Record, redacted bool, leaf []byte) {
	if redacted {
		v.rep.Redacted++
		v.redacted[seq] = leaf
		return
	}
	if r.Event == EventRedaction {
		var d Redaction
		if err := json.Unmarshal(r.Details, &d); err != nil || d.Seq >= seq {
			v.fail(seq, "record %d: redaction record names no earlier record", seq)
			return
		}
		v.named[d.Seq] = d.Leaf
	}
}

// redactions checks that every redacted record is named, with its leaf, by
// a redaction record.
func (v *verifier) redactions() {
	for seq, leaf := range v.redacted {
		named, ok := v.named[seq]
		switch {
		case !ok:
			v.fail(seq, "record %d: redacted without a redaction record", seq)
		case named != hex.EncodeToString(leaf):
			v.fail(seq, "record %d: leaf differs from the one its redaction record names", seq)
		}
	}
}
