package audit

import (
	"context"
	"fmt"
	"hash/maphash"
	"slices"
	"strconv"
	"strings"

	"github.com/shipgate/shipgate/store"
)

// listCheck checks the lookups (index.go) against the records: every
// record before audit_head.indexed must be in the lookups under each of
// its keys, and under no key it does not have, which would have a query
// for that key find it. SQLite's lookups are lists; reading each record's
// lists one by one would read a hot key's lists again for each of its
// records. So Verify reads every (key, seq) pair of each lookup once,
// before the records, from SQLite's lists or PostgreSQL's rows, and adds
// a keyed hash of the key to sums[seq]; as it reads each record it takes
// off the hashes of the record's own keys, and a record whose sum is not
// zero then is under a key it should not be, or missing from one it
// should. The hash's seed is random for each run, so no edit of the
// lookups can be made to sum to zero.
type listCheck struct {
	seed    maphash.Seed
	indexed uint64
	sqlite  bool // SQLite's lookups are lists, and its records from indexed on have images columns
	sums    []uint64
	// wrong are the records whose sums were not zero, with their keys, to
	// be looked for in the lists one by one (diagnose).
	wrong []listed
}

// listed is a record's keys in the lookups.
type listed struct {
	seq                   uint64
	namespace, kind, name string
	username              string
	images                []imageRow
}

// key hashes lookup i's key.
func (lc *listCheck) key(i int, parts ...string) uint64 {
	var h maphash.Hash
	h.SetSeed(lc.seed)
	h.WriteByte(byte(i))
	for _, p := range parts {
		h.WriteString(p)
		h.WriteByte(0)
	}
	return h.Sum64()
}

// keys is the sum of the hashes of a record's keys, each (key, seq) pair
// once, as the lists hold them.
func (lc *listCheck) keys(r listed) uint64 {
	sum := lc.key(lookupObject, r.namespace, r.kind, r.name) + lc.key(lookupUser, r.username)
	var digests, repos []string
	for _, im := range r.images {
		if !slices.Contains(digests, im.digest) {
			digests = append(digests, im.digest)
			sum += lc.key(lookupImage, im.digest)
		}
		if !slices.Contains(repos, im.repository) {
			repos = append(repos, im.repository)
			sum += lc.key(lookupRepository, im.repository)
		}
	}
	return sum
}

// readLists reads where the lookups stand and every (key, seq) pair of
// them, into a listCheck. A pair naming a seq past the log's last record
// finds nothing, and that the records there are missing is told by the
// checkpoints, the head and the state file.
func readLists(ctx context.Context, db *store.DB) (*listCheck, error) {
	lc := &listCheck{seed: maphash.MakeSeed(), sqlite: db.Dialect() == store.SQLite}
	var indexed, last int64
	if err := db.SQL().QueryRowContext(ctx, "SELECT indexed, (SELECT coalesce(max(seq), -1) FROM audit_log) FROM audit_head WHERE id = 1").Scan(&indexed, &last); err != nil {
		return nil, fmt.Errorf("verifying the audit log: reading the audit head: %w", err)
	}
	lc.indexed = uint64(indexed)
	lc.sums = make([]uint64, last+1)
	for i, lt := range listTables {
		cols := "k." + strings.Join(lt.cols, ", k.")
		// A pair is counted once, though a step cut short and the one
		// after it may both have listed it, and PostgreSQL has a row for
		// each container of an image.
		q := "SELECT DISTINCT " + cols + ", j.value FROM " + lt.table + " k, json_each(k.seqs) j"
		if db.Dialect() == store.Postgres {
			q = "SELECT DISTINCT " + cols + ", k.seq FROM " + lt.rows + " k"
		}
		rows, err := db.SQL().QueryContext(ctx, q)
		if err != nil {
			return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lt.name, err)
		}
		parts := make([]string, len(lt.cols))
		dest := make([]any, len(parts)+1)
		for p := range parts {
			dest[p] = &parts[p]
		}
		var seq int64
		dest[len(parts)] = &seq
		for rows.Next() {
			if err := rows.Scan(dest...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lt.name, err)
			}
			if seq >= 0 && seq <= last && uint64(seq) < lc.indexed {
				lc.sums[seq] += lc.key(i, parts...)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("verifying the audit log: reading the lookup by %s: %w", lt.name, err)
		}
	}
	return lc, nil
}

// record takes a record's keys off its sum, noting it when that is not
// zero. Records from indexed on are found by audit_log's columns (the
// images column included), and any list of them is left over from a step
// cut short: they are not checked here.
func (lc *listCheck) record(r listed) {
	if r.seq >= lc.indexed || r.seq >= uint64(len(lc.sums)) {
		return
	}
	if lc.sums[r.seq]-lc.keys(r) != 0 && len(lc.wrong) < maxProblems {
		lc.wrong = append(lc.wrong, r)
	}
}

// diagnose looks for each wrong record in the lists of each of its keys,
// and names the first it is missing from, or says it is listed under a
// key it does not have.
func (lc *listCheck) diagnose(ctx context.Context, db *store.DB, v *verifier) error {
	for _, r := range lc.wrong {
		missing := ""
		look := func(i int, what string, key ...string) error {
			if missing != "" {
				return nil
			}
			ok, err := inList(ctx, db, i, r.seq, key)
			if !ok && err == nil {
				missing = what
			}
			return err
		}
		if err := look(lookupObject, "missing from the lookup by object", r.namespace, r.kind, r.name); err != nil {
			return err
		}
		if err := look(lookupUser, "missing from the lookup by user", r.username); err != nil {
			return err
		}
		for _, im := range r.images {
			if err := look(lookupImage, fmt.Sprintf("image %s of container %s missing from the lookup by image", im.digest, im.container), im.digest); err != nil {
				return err
			}
			if err := look(lookupRepository, fmt.Sprintf("repository %s missing from the lookup by repository", im.repository), im.repository); err != nil {
				return err
			}
		}
		if missing == "" {
			missing = "in the lookups under a key it does not have"
		}
		v.fail(r.seq, "record %d: %s", r.seq, missing)
	}
	return nil
}

// inList says whether seq is in lookup i under key: in one of its
// SQLite lists, which are in seq's block, so their last seq is from seq to
// the end of the block; or a PostgreSQL row.
func inList(ctx context.Context, db *store.DB, i int, seq uint64, key []string) (bool, error) {
	lt := listTables[i]
	conds := make([]string, len(lt.cols))
	args := make([]any, 0, len(key)+3)
	for c, col := range lt.cols {
		conds[c] = "k." + col + " = ?"
		args = append(args, key[c])
	}
	q := "SELECT count(*) FROM " + lt.rows + " k WHERE " + strings.Join(conds, " AND ") + " AND k.seq = ?"
	args = append(args, int64(seq))
	if db.Dialect() == store.SQLite {
		end := (seq/listBlock + 1) * listBlock
		args = append(args[:len(key)], int64(seq), int64(end), int64(seq))
		q = "SELECT count(*) FROM " + lt.table + " k, json_each(k.seqs) j WHERE " + strings.Join(conds, " AND ") +
			" AND k.last >= ? AND k.last < ? AND j.value = ?"
	}
	var n int
	err := db.SQL().QueryRowContext(ctx, db.Rebind(q), args...).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("verifying the audit log: looking for record %s in the lookup by %s: %w", strconv.FormatUint(seq, 10), lt.name, err)
	}
	return n > 0, nil
}
