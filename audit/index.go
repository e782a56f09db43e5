package audit

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// The lookups by object, image digest, image repository and user are
// keyed by what a record is about, so each record lands at its own place
// in each: a batch of records for different objects and images wrote a
// page of each per record, most of what a commit wrote to the WAL and,
// copied back, to the database file. On SQLite the writer adds records to
// them in steps instead: every indexStep records, or every indexEvery when
// fewer came, it sorts what it appended since the last step by each
// lookup's key and adds it a chunk per batch, in the batch's transaction,
// so that a step never holds the writer up for long. The last chunk's
// transaction moves audit_head.indexed past the step.
//
// SQLite's lookups are lists (audit_object_lists, audit_image_lists,
// audit_repository_lists, audit_user_lists): a row per key and block of
// listBlock seqs, holding the seqs of the key's records in that block as
// a JSON array, so a step writes a row per key it met, not per record.
// Rows per record had cost the writer about a third of its time at 64
// writers, and its p99 (docs/performance.md).
//
// A record not yet in the lookups (seq ≥ audit_head.indexed) is found by
// the columns of its audit_log row, which keep its object, its username
// and its images (imagesColumn): Filter.where looks in both. A chunk's
// lists for such a record are harmless (a query finds it either way), so
// a crash in the middle of a step loses nothing, and the next step adds
// it again: to a list of its own, or none when a list of the same key
// and last seq is there (INSERT OR IGNORE), which then holds every seq of
// that key the new one would have up to it. When the writer does not hold every record
// from indexed on in memory (after a start, or when another process or
// Redact appended), the step is one transaction that reads them from the
// database (indexFromStore).
//
// PostgreSQL's writer fills its lookups (audit_objects, audit_images,
// audit_repositories, audit_users) with each record, a row per record:
// several replicas share its log, and its WAL holds the index entry, not
// the whole page, but for a page's first change after a checkpoint.
const (
	indexStep  = 8192
	indexEvery = time.Second
)

// indexChunk is how many (key, seq) pairs a batch's transaction adds to
// the lookups' lists, at the least; it adds twice the pairs of its own
// records, if more, so a step keeps ahead of the records coming in while
// each batch takes a share of it in proportion to its size. A transaction
// of its own, while no batch comes, adds indexChunkAlone. Counting lists
// instead would have a step of a few hundred long lists added by one or
// two batches, each held up 2-3 ms.
const (
	indexChunk      = 32
	indexChunkAlone = 512
)

// listBlock is the span of seqs a list covers: a list holds its key's
// seqs from a multiple of listBlock to the next, so at most 1,024 of them
// (8 KiB of JSON), and a query from a cursor reads little before it.
const listBlock = 1024

// objectKey is a record's pair in the lookup by object.
type objectKey struct {
	namespace, kind, name string
	seq                   uint64
}

// valueKey is a record's pair in a lookup by one value: digest,
// repository or username.
type valueKey struct {
	value string
	seq   uint64
}

// repoKeys are a record's pairs in the lookup by repository: one per
// repository of its images.
func repoKeys(seq uint64, images []imageRow, keys []valueKey) []valueKey {
	from := len(keys)
	for _, im := range images {
		k := valueKey{im.repository, seq}
		if !slices.Contains(keys[from:], k) {
			keys = append(keys, k)
		}
	}
	return keys
}

// lookupRows are the lookups' (key, seq) pairs of records: in seq order as
// appended, or, once a step has sorted them, each list in its lookup's
// order, to be grouped into lists.
type lookupRows struct {
	objects []objectKey
	images  []valueKey
	repos   []valueKey
	users   []valueKey
}

// add adds a record's rows.
func (lr *lookupRows) add(r row) {
	lr.objects = append(lr.objects, objectKey{r.rec.Namespace, r.rec.Kind, r.rec.Name, r.seq})
	for _, im := range r.images {
		lr.images = append(lr.images, valueKey{im.digest, r.seq})
	}
	lr.repos = repoKeys(r.seq, r.images, lr.repos)
	lr.users = append(lr.users, valueKey{r.rec.User.Username, r.seq})
}

// clear empties lr, keeping its arrays.
func (lr *lookupRows) clear() {
	*lr = lookupRows{lr.objects[:0], lr.images[:0], lr.repos[:0], lr.users[:0]}
}

func (lr lookupRows) len() int {
	return len(lr.objects) + len(lr.images) + len(lr.repos) + len(lr.users)
}

// sort puts each list in its lookup's order.
func (lr *lookupRows) sort() {
	slices.SortFunc(lr.objects, func(a, b objectKey) int {
		if c := strings.Compare(a.namespace, b.namespace); c != 0 {
			return c
		}
		if c := strings.Compare(a.kind, b.kind); c != 0 {
			return c
		}
		if c := strings.Compare(a.name, b.name); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	byValue := func(a, b valueKey) int {
		if c := strings.Compare(a.value, b.value); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	}
	slices.SortFunc(lr.images, byValue)
	slices.SortFunc(lr.repos, byValue)
	slices.SortFunc(lr.users, byValue)
}

// listRow is a row of a lookup's lists: the key's values, the greatest
// seq of the list, and its n seqs as a JSON array.
type listRow struct {
	key  []any
	last uint64
	seqs string
	n    int
}

// The four lookups, in the order of listTables and lookupLists.
const (
	lookupObject = iota
	lookupImage
	lookupRepository
	lookupUser
)

// listTables are the lookups' tables: SQLite's lists (table), and
// PostgreSQL's rows, one per record (rows); name names the lookup in
// messages, cols are its key's columns.
var listTables = [4]struct {
	table, rows, name string
	cols              []string
}{
	lookupObject:     {"audit_object_lists", "audit_objects", "object", []string{"namespace", "kind", "name"}},
	lookupImage:      {"audit_image_lists", "audit_images", "image", []string{"digest"}},
	lookupRepository: {"audit_repository_lists", "audit_repositories", "repository", []string{"repository"}},
	lookupUser:       {"audit_user_lists", "audit_users", "user", []string{"username"}},
}

// lookupLists are rows of each lookup's lists (listTables).
type lookupLists [4][]listRow

// lists groups sorted rows into the lookups' lists: a list per key and
// block of listBlock seqs.
func (lr *lookupRows) lists() lookupLists {
	var ll lookupLists
	ll[lookupObject] = group(lr.objects, func(o objectKey) uint64 { return o.seq }, func(a, b objectKey) bool {
		return a.namespace == b.namespace && a.kind == b.kind && a.name == b.name
	}, func(o objectKey) []any { return []any{o.namespace, o.kind, o.name} })
	sameValue := func(a, b valueKey) bool { return a.value == b.value }
	value := func(k valueKey) []any { return []any{k.value} }
	seqOf := func(k valueKey) uint64 { return k.seq }
	ll[lookupImage] = group(lr.images, seqOf, sameValue, value)
	ll[lookupRepository] = group(lr.repos, seqOf, sameValue, value)
	ll[lookupUser] = group(lr.users, seqOf, sameValue, value)
	return ll
}

// group makes a list of each run of rows, sorted by key and seq, with the
// same key and block; a seq twice in a run (a record's two images of one
// digest) is listed once.
func group[K any](rows []K, seq func(K) uint64, same func(a, b K) bool, key func(K) []any) []listRow {
	var out []listRow
	var b []byte
	n := 0
	for i, r := range rows {
		s := seq(r)
		switch {
		case len(b) == 0:
			b, n = strconv.AppendUint(append(b, '['), s, 10), 1
		case seq(rows[i-1]) != s:
			b, n = strconv.AppendUint(append(b, ','), s, 10), n+1
		}
		if i+1 < len(rows) && same(rows[i+1], r) && seq(rows[i+1])/listBlock == s/listBlock {
			continue
		}
		out = append(out, listRow{key(r), s, string(append(b, ']')), n})
		b = b[:0]
	}
	return out
}

func (ll lookupLists) len() int { return len(ll[0]) + len(ll[1]) + len(ll[2]) + len(ll[3]) }

// first is the first lists, taking the lookups in turn, that hold n
// pairs, or one more list if they hold fewer.
func (ll lookupLists) first(n int) lookupLists {
	var c lookupLists
	for i, l := range ll {
		k := 0
		for k < len(l) && n > 0 {
			n -= l[k].n
			k++
		}
		c[i] = l[:k]
	}
	return c
}

// drop removes the lists of c, which is ll.first(n).
func (ll *lookupLists) drop(c lookupLists) {
	for i := range ll {
		ll[i] = ll[i][len(c[i]):]
	}
}

// indexer is the writer's side of the lookups on SQLite; only the writer
// uses it.
type indexer struct {
	// indexed is audit_head.indexed as the writer last knew it; next is
	// one past the last record it appended. rows holds the rows of the
	// records in between that no step has taken yet, in seq order, when
	// whole says they are all there.
	indexed, next uint64
	whole         bool
	rows          lookupRows
	// step is the step under way: the lists left to add, and the seq
	// indexed moves to when they are added.
	step *indexSteps
	// chunk is what the current transaction added of step, kept until it
	// commits.
	chunk lookupLists
	// failed is when a step last failed: the next waits indexEvery, so a
	// database that refuses them is not asked again at every batch.
	failed time.Time
}

type indexSteps struct {
	rows  lookupRows
	lists lookupLists
	to    uint64
	// sorted is closed once rows are sorted and grouped into lists: a
	// large step is sorted beside the writer, which goes on with its
	// batches meanwhile.
	sorted chan struct{}
}

// indexSortBeside is the size of a step, in rows, from which it is sorted
// on a goroutine of its own: 16,384 rows took the writer about 10 ms.
const indexSortBeside = 1024

func (st *indexSteps) sort() {
	st.rows.sort()
	st.lists, st.rows = st.rows.lists(), lookupRows{}
	close(st.sorted)
}

// ready says whether the step is sorted.
func (st *indexSteps) ready() bool {
	select {
	case <-st.sorted:
		return true
	default:
		return false
	}
}

// newIndexer reads where the lookups stand.
func (l *Log) newIndexer(ctx context.Context) error {
	var size, indexed int64
	if err := l.db.SQL().QueryRowContext(ctx, "SELECT size, indexed FROM audit_head WHERE id = 1").Scan(&size, &indexed); err != nil {
		return fmt.Errorf("reading the audit head: %w", err)
	}
	l.ix = &indexer{indexed: uint64(indexed), next: uint64(size), whole: indexed == size}
	return nil
}

// appended notes the rows a committed transaction appended, and what of a
// step it added to the lookups.
func (ix *indexer) appended(rows []row) {
	if ix.step != nil && ix.chunk.len() > 0 { // so the step is sorted
		ix.step.lists.drop(ix.chunk)
		if ix.step.lists.len() == 0 {
			ix.indexed, ix.step = ix.step.to, nil
		}
	}
	ix.aborted()
	if len(rows) == 0 {
		return
	}
	if rows[0].seq != ix.next {
		ix.whole = false // another process, or Redact, appended in between
	}
	ix.next = rows[len(rows)-1].seq + 1
	if !ix.whole {
		ix.rows.clear()
		return
	}
	for _, r := range rows {
		ix.rows.add(r)
	}
}

// indexFailed gives up the step under way, after err: the next, after
// indexEvery, reads what is missing from the store. The records do not
// depend on it. reset gives the writer's connection back, unless the
// failure was inside a batch's transaction, which goes on.
func (l *Log) indexFailed(err error, reset bool) {
	l.opts.logger.Warn("adding audit records to the lookups by object and image", "error", err)
	if reset {
		l.resetConn()
	}
	ix := l.ix
	ix.step, ix.whole, ix.failed = nil, false, time.Now()
	ix.aborted()
}

// aborted forgets what the current transaction added: it did not commit.
func (ix *indexer) aborted() { ix.chunk = lookupLists{} }

// behind is how many records are not in the lookups, as far as the writer
// knows.
func (ix *indexer) behind() uint64 { return ix.next - ix.indexed }

// indexIfDue starts a step when indexStep records have come since the
// last, or, with due (every indexEvery), when any have. Without the
// rows in memory it runs one from the store, in a transaction of its own.
// With idle it also adds what is left of a step in transactions of their
// own while no record is queued: no batch is coming to carry it.
func (l *Log) indexIfDue(due, idle bool) {
	ix := l.ix
	if ix == nil {
		return
	}
	if ix.step == nil && ix.behind() > 0 && (due || ix.behind() >= uint64(l.opts.indexStep)) && time.Since(ix.failed) >= l.opts.indexEvery {
		if !ix.whole {
			l.indexFromStore()
			return
		}
		st := &indexSteps{rows: ix.rows, to: ix.next, sorted: make(chan struct{})}
		ix.step, ix.rows = st, lookupRows{}
		if st.rows.len() < indexSortBeside {
			st.sort()
		} else {
			go st.sort()
		}
	}
	for idle && ix.step != nil && ix.step.ready() && len(l.queue) == 0 {
		if err := l.indexAlone(); err != nil {
			l.indexFailed(err, true)
			return
		}
	}
}

// indexAlone commits the next chunk of the step in a transaction of its
// own.
func (l *Log) indexAlone() error {
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.commitTimeout)
	defer cancel()
	tx, err := l.begin(ctx)
	if err != nil {
		return err
	}
	if err := l.indexChunkTx(ctx, tx, nil, true); err != nil {
		_ = tx.Rollback()
		l.ix.aborted()
		return err
	}
	if err := tx.Commit(); err != nil {
		l.ix.aborted()
		return fmt.Errorf("committing: %w", err)
	}
	l.ix.appended(nil)
	return nil
}

// indexChunkTx adds the next chunk of the step, if one is under way, in
// tx: a batch's, which appended rows, or, alone, a transaction of its own.
// When it is the last, tx also moves audit_head.indexed past the step.
func (l *Log) indexChunkTx(ctx context.Context, tx *sql.Tx, rows []row, alone bool) error {
	ix := l.ix
	if ix == nil {
		return nil
	}
	// A record's rows: its object, its user, its images, and at most as
	// many repositories as images.
	own := 2 * len(rows)
	for _, r := range rows {
		own += 2 * len(r.images)
	}
	if ix.step == nil || !ix.step.ready() {
		return nil
	}
	n := indexChunkAlone
	if !alone {
		n = max(l.opts.indexChunk, 2*own)
	}
	c := ix.step.lists.first(n)
	if err := l.insertLookups(ctx, tx, c); err != nil {
		return err
	}
	if c.len() == ix.step.lists.len() {
		if err := l.indexedTo(ctx, tx, ix.step.to); err != nil {
			return err
		}
	}
	ix.chunk = c
	return nil
}

// insertLookups adds lists to the lookups.
func (l *Log) insertLookups(ctx context.Context, tx *sql.Tx, lists lookupLists) error {
	var args []any
	for i, lt := range listTables {
		args = args[:0]
		for _, r := range lists[i] {
			args = append(append(args, r.key...), int64(r.last), r.seqs)
		}
		cols := strings.Join(lt.cols, ", ")
		if err := l.insertChunks(ctx, tx, "INSERT OR IGNORE INTO "+lt.table+" ("+cols+", last, seqs) VALUES ", len(lt.cols)+2, args); err != nil {
			return fmt.Errorf("adding audit records to the lookup by %s: %w", lt.name, err)
		}
	}
	return nil
}

// insertChunks runs prefix with args in multi-row statements of chunkSizes.
func (l *Log) insertChunks(ctx context.Context, tx *sql.Tx, prefix string, cols int, args []any) error {
	return chunks(len(args)/cols, func(start, k int) error {
		st, err := l.stmts.In(ctx, l.db.SQL(), tx, prefix+values(k, cols))
		if err != nil {
			return err
		}
		_, err = st.ExecContext(ctx, args[start*cols:(start+k)*cols]...)
		return err
	})
}

// indexedTo moves audit_head.indexed to seq.
func (l *Log) indexedTo(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if _, err := tx.ExecContext(ctx, "UPDATE audit_head SET indexed = ? WHERE id = 1", int64(seq)); err != nil {
		return fmt.Errorf("moving the audit head's indexed: %w", err)
	}
	return nil
}

// indexAll adds every record to the lookups, at Close.
func (l *Log) indexAll() {
	if l.ix != nil && (l.ix.step != nil || l.ix.behind() > 0) {
		l.ix.step = nil
		l.indexFromStore()
	}
}

// indexFromStore adds every record from audit_head.indexed to its size to
// the lookups in one transaction, reading them from the database, for
// when the writer does not hold them all. It takes longer than a chunk:
// it runs at a start that found records not in the lookups, and when
// another process appended.
func (l *Log) indexFromStore() {
	ix := l.ix
	ctx, cancel := context.WithTimeout(context.Background(), l.opts.commitTimeout)
	defer cancel()
	size, err := l.indexFromStoreTx(ctx)
	if err != nil {
		l.indexFailed(err, true)
		return
	}
	// Everything before size is in the lookups; what this writer appended
	// after it (nothing: it runs between batches) would be in memory.
	ix.indexed, ix.next, ix.whole = size, size, true
	ix.rows.clear()
}

func (l *Log) indexFromStoreTx(ctx context.Context) (uint64, error) {
	tx, err := l.begin(ctx)
	if err != nil {
		return 0, err
	}
	defer tx.Rollback()
	var size, indexed int64
	if err := tx.QueryRowContext(ctx, "SELECT size, indexed FROM audit_head WHERE id = 1").Scan(&size, &indexed); err != nil {
		return 0, fmt.Errorf("reading the audit head: %w", err)
	}
	if indexed < size {
		// Each lookup's (key, seq) pairs of the records, grouped as the
		// steps group them (lookupRows.lists).
		for i, pairs := range [4]string{
			"SELECT namespace, kind, name, seq FROM audit_log WHERE seq >= ?1 AND seq < ?2",
			"SELECT DISTINCT j.value ->> 0 AS digest, seq FROM audit_log, json_each(audit_log.images) j WHERE seq >= ?1 AND seq < ?2",
			"SELECT DISTINCT j.value ->> 1 AS repository, seq FROM audit_log, json_each(audit_log.images) j WHERE seq >= ?1 AND seq < ?2",
			"SELECT username, seq FROM audit_log WHERE seq >= ?1 AND seq < ?2",
		} {
			lt := listTables[i]
			cols := strings.Join(lt.cols, ", ")
			if _, err := tx.ExecContext(ctx, "INSERT OR IGNORE INTO "+lt.table+" ("+cols+", last, seqs) SELECT "+cols+
				", max(seq), json_group_array(seq ORDER BY seq) FROM ("+pairs+") GROUP BY "+cols+", seq / "+strconv.Itoa(listBlock), indexed, size); err != nil {
				return 0, fmt.Errorf("adding audit records %d-%d to the lookup by %s: %w", indexed, size-1, lt.name, err)
			}
		}
		if err := l.indexedTo(ctx, tx, uint64(size)); err != nil {
			return 0, err
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("adding audit records to the lookups: committing: %w", err)
	}
	return uint64(size), nil
}
