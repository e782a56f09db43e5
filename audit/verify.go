package audit

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

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
	return verify(ctx, db, verifiers, opts, imageChecks)
}

// verify is Verify, asking about the image rows of records not yet in the
// lookups checks at a time.
func verify(ctx context.Context, db *store.DB, verifiers note.Verifiers, opts VerifyOptions, checks int) (*Report, error) {
	v := &verifier{rep: &Report{}, named: map[uint64]string{}, redacted: map[uint64][]byte{}, checks: checks}
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
	images   []imageKey        // image rows still to look for (checkImages)
	checks   int               // how many checkImages asks about at once
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
	rows, err := db.SQL().QueryContext(ctx, `SELECT seq, leaf, record, request_uid, event, decision, namespace, kind, name, username, redacted
		FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
	}
	defer rows.Close()
	var leaves []byte
	var next uint64
	for rows.Next() {
		var c columns
		if err := rows.Scan(&c.seq, &c.leaf, &c.record, &c.uid, &c.event, &c.decision, &c.namespace, &c.kind, &c.name, &c.username, &c.redacted); err != nil {
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
		if len(v.images) >= v.checks {
			if err := v.checkImages(ctx, db); err != nil {
				return nil, err
			}
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
	}
	if err := v.checkImages(ctx, db); err != nil {
		return nil, err
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
	v.redaction(seq, r, c.redacted != 0, c.leaf)
	images := imageRows(r.Images)
	if seq < v.lists.indexed {
		v.lists.record(listed{seq, r.Namespace, r.Kind, r.Name, r.User.Username, images})
		return
	}
	// Not in the lookups yet (SQLite, index.go): found by its columns,
	// and its images in audit_images_recent.
	for _, im := range images {
		v.images = append(v.images, imageKey{im.digest, seq, im.container, im.repository})
	}
}

// imageChecks is how many image rows checkImages asks about at once: it
// looks each up by key.
const imageChecks = 256

// checkImages checks that the image rows of the records read since the
// last call, records not yet in the lookups (SQLite, index.go), are in
// audit_images_recent, where queries by digest and repository find them
// until a step lists them: a deleted or altered row would hide its record
// from those queries.
func (v *verifier) checkImages(ctx context.Context, db *store.DB) error {
	if len(v.images) == 0 {
		return nil
	}
	found, err := foundIn(ctx, db, "image", []string{"digest", "seq", "container", "repository"}, v.images,
		func(k imageKey) []any { return []any{k.digest, int64(k.seq), k.container, k.repository} },
		func(rows *sql.Rows) (imageKey, error) {
			var k imageKey
			var seq int64
			err := rows.Scan(&k.digest, &seq, &k.container, &k.repository)
			k.seq = uint64(seq)
			return k, err
		})
	if err != nil {
		return err
	}
	for _, im := range v.images {
		if ok, err := v.listed(ctx, db, found[im], lookupImage, im.seq, im.digest); err != nil {
			return err
		} else if !ok {
			v.fail(im.seq, "record %d: image %s of container %s missing from the lookup by image", im.seq, im.digest, im.container)
		}
	}
	var repos []valueKey
	seen := make(map[valueKey]bool, len(v.images))
	for _, im := range v.images {
		if k := (valueKey{im.repository, im.seq}); !seen[k] {
			seen[k] = true
			repos = append(repos, k)
		}
	}
	foundRepo, err := foundIn(ctx, db, "repository", []string{"repository", "seq"}, repos,
		func(k valueKey) []any { return []any{k.value, int64(k.seq)} },
		func(rows *sql.Rows) (valueKey, error) {
			var k valueKey
			var seq int64
			err := rows.Scan(&k.value, &seq)
			k.seq = uint64(seq)
			return k, err
		})
	if err != nil {
		return err
	}
	for _, k := range repos {
		if ok, err := v.listed(ctx, db, foundRepo[k], lookupRepository, k.seq, k.value); err != nil {
			return err
		} else if !ok {
			v.fail(k.seq, "record %d: repository %s missing from the lookup by repository", k.seq, k.value)
		}
	}
	v.images = v.images[:0]
	return nil
}

// listed says whether a record not in the lookups when Verify began,
// whose image row found says was not in audit_images_recent, has since
// been added to lookup i under key: a step that finishes meanwhile lists
// the record, and the batches after it clear its rows from
// audit_images_recent.
func (v *verifier) listed(ctx context.Context, db *store.DB, found bool, i int, seq uint64, key string) (bool, error) {
	if found {
		return true, nil
	}
	return inList(ctx, db, i, seq, []string{key})
}

// foundIn says which of keys are rows of audit_images_recent, comparing
// the columns cols (seq a number, the rest text); args gives a key's
// values in that order, scan reads a row back.
func foundIn[K comparable](ctx context.Context, db *store.DB, lookup string, cols []string, keys []K,
	args func(K) []any, scan func(*sql.Rows) (K, error)) (map[K]bool, error) {
	casts := make([]string, len(cols))
	for i, c := range cols {
		casts[i] = "CAST(? AS TEXT)"
		if c == "seq" {
			casts[i] = "CAST(? AS BIGINT)"
		}
	}
	tuple := "(" + strings.Join(casts, ", ") + ")"
	list := tuple + strings.Repeat(", "+tuple, len(keys)-1)
	var values []any
	for _, k := range keys {
		values = append(values, args(k)...)
	}
	c := strings.Join(cols, ", ")
	rows, err := db.SQL().QueryContext(ctx, db.Rebind(
		"SELECT "+c+" FROM audit_images_recent WHERE ("+c+") IN (VALUES "+list+")"), values...)
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lookup, err)
	}
	defer rows.Close()
	found := make(map[K]bool, len(keys))
	for rows.Next() {
		k, err := scan(rows)
		if err != nil {
			return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lookup, err)
		}
		found[k] = true
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lookup, err)
	}
	return found, nil
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
