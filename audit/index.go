package audit

import (
	"cmp"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"
)

// The lookups by object (audit_objects), image digest (audit_images),
// image repository (audit_repositories) and user (audit_users) are keyed
// by what a record is about, so each record lands at its own place in
// each: a batch of records for different objects and images wrote a page
// of each per record, most of what a commit wrote to the WAL and,
// copied back, to the database file. On SQLite the writer adds records to
// them in steps instead: every indexStep records, or every indexEvery when
// fewer came, it sorts what it appended since the last step by each
// lookup's key and adds it a chunk per batch, in the batch's transaction,
// so that many records for one object or image share a page and a step
// never holds the writer up for long. The last chunk's transaction moves
// audit_head.indexed past the step.
//
// A record not yet in the lookups (seq ≥ audit_head.indexed) is found by
// the columns of audit_log, which keeps its object and username, and by
// its rows in audit_images_recent, which its images are written to with it
// in seq order: Filter.where looks in both. A chunk's rows for such a
// record are harmless (a query finds it either way), so a crash in the
// middle of a step loses nothing, and the next step adds them again
// (INSERT OR IGNORE). When the writer does not hold every record from
// indexed on in memory (after a start, or when another process or Redact
// appended), the step is one transaction that reads them from the database
// (indexFromStore).
//
// PostgreSQL's writer fills the lookups with each record: several replicas
// share its log, and its WAL holds the index entry, not the whole page,
// but for a page's first change after a checkpoint.
const (
	indexStep  = 8192
	indexEvery = time.Second
)

// indexChunk is how many rows a batch's transaction adds to the lookups,
// at the least; it adds twice the rows of its own records, if more, so a
// step keeps ahead of the records coming in while each batch takes a
// share of it in proportion to its size. A transaction of its own, while
// no batch comes, adds indexChunkAlone.
const (
	indexChunk      = 32
	indexChunkAlone = 512
)

// objectKey is a row of audit_objects.
type objectKey struct {
	namespace, kind, name string
	seq                   uint64
}

// imageKey is a row of audit_images.
type imageKey struct {
	digest                string
	seq                   uint64
	container, repository string
}

// valueKey is a row of a lookup by one value: audit_repositories
// (repository, seq) or audit_users (username, seq).
type valueKey struct {
	value string
	seq   uint64
}

// repoKeys are the audit_repositories rows of a record's images: one per
// repository.
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

// lookupRows are rows of the lookups: in seq order as appended, or, once a
// step has sorted them, each list in its lookup's order.
type lookupRows struct {
	objects []objectKey
	images  []imageKey
	repos   []valueKey
	users   []valueKey
}

// add adds a record's rows.
func (lr *lookupRows) add(r row) {
	lr.objects = append(lr.objects, objectKey{r.rec.Namespace, r.rec.Kind, r.rec.Name, r.seq})
	for _, im := range r.images {
		lr.images = append(lr.images, imageKey{im.digest, r.seq, im.container, im.repository})
	}
	lr.repos = repoKeys(r.seq, r.images, lr.repos)
	lr.users = append(lr.users, valueKey{r.rec.User.Username, r.seq})
}

// clear empties the lists, keeping their arrays.
func (lr *lookupRows) clear() {
	*lr = lookupRows{lr.objects[:0], lr.images[:0], lr.repos[:0], lr.users[:0]}
}

func (lr lookupRows) len() int {
	return len(lr.objects) + len(lr.images) + len(lr.repos) + len(lr.users)
}

// first is the first n rows, taking the lists in turn.
func (lr lookupRows) first(n int) lookupRows {
	var c lookupRows
	c.objects = lr.objects[:min(n, len(lr.objects))]
	n -= len(c.objects)
	c.images = lr.images[:min(n, len(lr.images))]
	n -= len(c.images)
	c.repos = lr.repos[:min(n, len(lr.repos))]
	n -= len(c.repos)
	c.users = lr.users[:min(n, len(lr.users))]
	return c
}

// drop removes the rows of c, which is lr.first(n).
func (lr *lookupRows) drop(c lookupRows) {
	lr.objects, lr.images = lr.objects[len(c.objects):], lr.images[len(c.images):]
	lr.repos, lr.users = lr.repos[len(c.repos):], lr.users[len(c.users):]
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
	slices.SortFunc(lr.images, func(a, b imageKey) int {
		if c := strings.Compare(a.digest, b.digest); c != 0 {
			return c
		}
		if c := cmp.Compare(a.seq, b.seq); c != 0 {
			return c
		}
		return strings.Compare(a.container, b.container)
	})
	byValue := func(a, b valueKey) int {
		if c := strings.Compare(a.value, b.value); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	}
	slices.SortFunc(lr.repos, byValue)
	slices.SortFunc(lr.users, byValue)
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
	// step is the step under way: the rows left to add, each in its
	// lookup's order, and the seq indexed moves to when they are added.
	step *indexSteps
	// chunk is what the current transaction added of step, kept until it
	// commits.
	chunk lookupRows
	// failed is when a step last failed: the next waits indexEvery, so a
	// database that refuses them is not asked again at every batch.
	failed time.Time
}

type indexSteps struct {
	rows lookupRows
	to   uint64
	// sorted is closed once the rows are in their lookups' order: a large
	// step is sorted beside the writer, which goes on with its batches
	// meanwhile.
	sorted chan struct{}
}

// indexSortBeside is the size of a step, in rows, from which it is sorted
// on a goroutine of its own: 16,384 rows took the writer about 10 ms.
const indexSortBeside = 1024

func (st *indexSteps) sort() {
	st.rows.sort()
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
		ix.step.rows.drop(ix.chunk)
		if ix.step.rows.len() == 0 {
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
func (ix *indexer) aborted() { ix.chunk = lookupRows{} }

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
// When it is the last, tx also moves audit_head.indexed past the step and
// clears its images from audit_images_recent.
func (l *Log) indexChunkTx(ctx context.Context, tx *sql.Tx, rows []row, alone bool) error {
	ix := l.ix
	if ix == nil || ix.step == nil || !ix.step.ready() {
		return nil
	}
	n := indexChunkAlone
	if !alone {
		// A record's rows: its object, its user, its images, and at most
		// as many repositories as images.
		own := 2 * len(rows)
		for _, r := range rows {
			own += 2 * len(r.images)
		}
		n = max(l.opts.indexChunk, 2*own)
	}
	c := ix.step.rows.first(n)
	if err := l.insertLookups(ctx, tx, c); err != nil {
		return err
	}
	if c.len() == ix.step.rows.len() {
		if err := l.indexedTo(ctx, tx, ix.step.to); err != nil {
			return err
		}
	}
	ix.chunk = c
	return nil
}

// insertLookups adds rows to the lookups.
func (l *Log) insertLookups(ctx context.Context, tx *sql.Tx, rows lookupRows) error {
	args := make([]any, 0, 4*max(len(rows.objects), len(rows.images)))
	for _, o := range rows.objects {
		args = append(args, o.namespace, o.kind, o.name, int64(o.seq))
	}
	if err := l.insertChunks(ctx, tx, "INSERT OR IGNORE INTO audit_objects (namespace, kind, name, seq) VALUES ", 4, args); err != nil {
		return fmt.Errorf("adding audit records to the lookup by object: %w", err)
	}
	args = args[:0]
	for _, im := range rows.images {
		args = append(args, im.digest, int64(im.seq), im.container, im.repository)
	}
	if err := l.insertChunks(ctx, tx, "INSERT OR IGNORE INTO audit_images (digest, seq, container, repository) VALUES ", 4, args); err != nil {
		return fmt.Errorf("adding audit records to the lookup by image: %w", err)
	}
	for _, lk := range []struct {
		keys         []valueKey
		table, value string
	}{{rows.repos, "audit_repositories", "repository"}, {rows.users, "audit_users", "username"}} {
		args = args[:0]
		for _, k := range lk.keys {
			args = append(args, k.value, int64(k.seq))
		}
		if err := l.insertChunks(ctx, tx, "INSERT OR IGNORE INTO "+lk.table+" ("+lk.value+", seq) VALUES ", 2, args); err != nil {
			return fmt.Errorf("adding audit records to the lookup by %s: %w", lk.value, err)
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

// indexedTo moves audit_head.indexed to seq and clears the images before
// it from audit_images_recent.
func (l *Log) indexedTo(ctx context.Context, tx *sql.Tx, seq uint64) error {
	if _, err := tx.ExecContext(ctx, "DELETE FROM audit_images_recent WHERE seq < ?", int64(seq)); err != nil {
		return fmt.Errorf("clearing audit_images_recent: %w", err)
	}
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
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_objects (namespace, kind, name, seq)
			SELECT namespace, kind, name, seq FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY namespace, kind, name, seq`, indexed, size); err != nil {
			return 0, fmt.Errorf("adding audit records %d-%d to the lookup by object: %w", indexed, size-1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_images (digest, seq, container, repository)
			SELECT digest, seq, container, repository FROM audit_images_recent WHERE seq < ? ORDER BY digest, seq, container`, size); err != nil {
			return 0, fmt.Errorf("adding audit records %d-%d to the lookup by image: %w", indexed, size-1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_repositories (repository, seq)
			SELECT DISTINCT repository, seq FROM audit_images_recent WHERE seq < ? ORDER BY repository, seq`, size); err != nil {
			return 0, fmt.Errorf("adding audit records %d-%d to the lookup by repository: %w", indexed, size-1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO audit_users (username, seq)
			SELECT username, seq FROM audit_log WHERE seq >= ? AND seq < ? ORDER BY username, seq`, indexed, size); err != nil {
			return 0, fmt.Errorf("adding audit records %d-%d to the lookup by user: %w", indexed, size-1, err)
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
