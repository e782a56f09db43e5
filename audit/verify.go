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
// lookups by object and image (or not due there yet, index.go); a redacted
// record is named, with its leaf, by a later redaction record; the tree
// over the stored leaves has, at every checkpoint's size, the root the
// checkpoint signs, and every checkpoint is signed by one of verifiers;
// audit_head holds the tree's size and compact range; and, with a state
// file, the log still extends the checkpoint an earlier run verified.
// The error is the first *Mismatch by seq; Report lists up to 100.
func Verify(ctx context.Context, db *store.DB, verifiers note.Verifiers, opts VerifyOptions) (*Report, error) {
	checks := imageChecks
	if db.Dialect() == store.Postgres {
		checks = imageChecksPostgres
	}
	return verify(ctx, db, verifiers, opts, checks)
}

// verify is Verify, asking about the image rows checks at a time.
func verify(ctx context.Context, db *store.DB, verifiers note.Verifiers, opts VerifyOptions, checks int) (*Report, error) {
	v := &verifier{rep: &Report{}, named: map[uint64]string{}, redacted: map[uint64][]byte{}, checks: checks}
	if db.Dialect() == store.SQLite {
		lists, err := readLists(ctx, db)
		if err != nil {
			return v.rep, err
		}
		v.lists = lists
	}
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
	// lists checks SQLite's lookups, which are lists (verifylists.go);
	// PostgreSQL's are checked row by row, in scan and checkImages.
	lists *listCheck
}

func (v *verifier) fail(seq uint64, format string, args ...any) {
	if len(v.rep.Problems) < maxProblems {
		v.rep.Problems = append(v.rep.Problems, &Mismatch{Seq: seq, Reason: fmt.Sprintf(format, args...)})
	}
}

// scan reads every record, checks it, and returns the stored leaves, flat,
// in seq order (without the missing ones).
func (v *verifier) scan(ctx context.Context, db *store.DB) ([]byte, error) {
	// listed, byUser: the record is in the lookup by object, by user, or
	// not due in them yet (index.go): a row deleted from audit_objects or
	// audit_users would hide it from queries by object or user. SQLite's
	// lists are checked apart (listCheck).
	lookups := `seq >= (SELECT indexed FROM audit_head WHERE id = 1) OR EXISTS (SELECT 1 FROM audit_objects o
			WHERE o.namespace = audit_log.namespace AND o.kind = audit_log.kind AND o.name = audit_log.name AND o.seq = audit_log.seq),
		seq >= (SELECT indexed FROM audit_head WHERE id = 1) OR EXISTS (SELECT 1 FROM audit_users u
			WHERE u.username = audit_log.username AND u.seq = audit_log.seq)`
	if v.lists != nil {
		lookups = "1, 1"
	}
	rows, err := db.SQL().QueryContext(ctx, `SELECT seq, leaf, record, request_uid, event, decision, namespace, kind, name, username, redacted,
		`+lookups+` FROM audit_log ORDER BY seq`)
	if err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading records: %w", err)
	}
	defer rows.Close()
	var leaves []byte
	var next uint64
	for rows.Next() {
		var c columns
		var listed, byUser bool
		if err := rows.Scan(&c.seq, &c.leaf, &c.record, &c.uid, &c.event, &c.decision, &c.namespace, &c.kind, &c.name, &c.username, &c.redacted, &listed, &byUser); err != nil {
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
		if !listed {
			v.fail(seq, "record %d: missing from the lookup by object", seq)
		}
		if !byUser {
			v.fail(seq, "record %d: missing from the lookup by user", seq)
		}
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
	if v.lists != nil {
		if err := v.lists.diagnose(ctx, db, v); err != nil {
			return nil, err
		}
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
	if v.lists != nil && seq < v.lists.indexed {
		v.lists.record(listed{seq, r.Namespace, r.Kind, r.Name, r.User.Username, images})
		return
	}
	for _, im := range images {
		v.images = append(v.images, imageKey{im.digest, seq, im.container, im.repository})
	}
}

// imageChecks is how many image rows checkImages asks about at once.
// SQLite looks each up by key; PostgreSQL answers a list by reading the
// whole lookup once (a hash join), so it is given longer lists, which
// read it fewer times: on 50,000 records, lists of 2,048 took verify
// 3.5-4.8 s there against 6.1-6.5 s with 256, and on SQLite 6.9 s against
// 5.6 s (docs/performance.md).
const (
	imageChecks         = 256
	imageChecksPostgres = 2048
)

// checkImages checks that the image rows of the records read since the
// last call are in the lookup by image, and their repositories in the
// lookup by repository, or in audit_images_recent before a step moves
// them there (index.go): a deleted or altered row would hide its record
// from queries by digest or repository. With SQLite's lists it is given
// only the records not yet in them, which must be in audit_images_recent.
func (v *verifier) checkImages(ctx context.Context, db *store.DB) error {
	if len(v.images) == 0 {
		return nil
	}
	images, repositories := "audit_images", "audit_repositories"
	if v.lists != nil {
		images, repositories = "audit_images_recent", "audit_images_recent"
	}
	found, err := foundIn(ctx, db, "image", images, []string{"digest", "seq", "container", "repository"}, v.images,
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
		if ok, err := v.listed(ctx, db, found[im], 1, im.seq, im.digest); err != nil {
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
	foundRepo, err := foundIn(ctx, db, "repository", repositories, []string{"repository", "seq"}, repos,
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
		if ok, err := v.listed(ctx, db, foundRepo[k], 2, k.seq, k.value); err != nil {
			return err
		} else if !ok {
			v.fail(k.seq, "record %d: repository %s missing from the lookup by repository", k.seq, k.value)
		}
	}
	v.images = v.images[:0]
	return nil
}

// listed says whether a record not in SQLite's lists when Verify began,
// whose image row found says was not in audit_images_recent, has since
// been added to list i under key: a step that finishes meanwhile lists
// the record, and the batches after it clear its rows from
// audit_images_recent. With PostgreSQL's lookups, found is the answer.
func (v *verifier) listed(ctx context.Context, db *store.DB, found bool, i int, seq uint64, key string) (bool, error) {
	if found || v.lists == nil {
		return found, nil
	}
	return inList(ctx, db, i, seq, []string{key})
}

// foundIn says which of keys are rows of the lookup table, or of
// audit_images_recent, comparing the columns cols (seq a number, the rest
// text); args gives a key's values in that order, scan reads a row back.
func foundIn[K comparable](ctx context.Context, db *store.DB, lookup, table string, cols []string, keys []K,
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
	for range 2 {
		for _, k := range keys {
			values = append(values, args(k)...)
		}
	}
	c := strings.Join(cols, ", ")
	rows, err := db.SQL().QueryContext(ctx, db.Rebind(
		"SELECT "+c+" FROM "+table+" WHERE ("+c+") IN (VALUES "+list+")"+
			" UNION SELECT "+c+" FROM audit_images_recent WHERE ("+c+") IN (VALUES "+list+")"), values...)
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
