package audit

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/shipgate/shipgate/store"
	"github.com/transparency-dev/merkle/compact"
)

// job is one queued Append: its canonical body (without the seq), computed
// by the caller, and where to send the outcome.
type job struct {
	rec  Record
	body []byte
	done chan result
	// ctx is the caller's: its deadline bounds the transaction that holds
	// the record, so a record is never committed after its caller gave up.
	ctx context.Context
	// state is jobQueued until the writer takes the job (jobTaken) or the
	// caller gives up on it first (jobAbandoned: it is never written).
	state atomic.Int32
	// also is what the caller writes with the record, in its transaction.
	also []store.Write
	// images are the record's image rows (imageRows), and on SQLite
	// imagesCol is their audit_log column (imagesColumn): both computed
	// by the caller, beside the writer.
	images    []imageRow
	imagesCol string
}

const (
	jobQueued int32 = iota
	jobTaken
	jobAbandoned
)

type result struct {
	seq uint64
	err error
}

// Append writes r to the log and returns its seq once the transaction that
// holds it has committed. A record whose RequestUID is already in the log is
// not written again: Append returns the seq of the one that is. On SQLite
// "already in the log" means appended in the last two minutes (at most the
// last 131,072 records): the API server sends a uid again only while its
// request lasts, at most 30 seconds (uids.go).
//
// ctx's deadline bounds the transaction that holds the record, so the log
// never says what the caller could not hear: when ctx ends while the record
// is queued, it is dropped; while it is being committed, Append waits for
// that transaction, which ends by the same deadline, and reports whether it
// committed. An error from Append means the record is not in the log (a
// failed COMMIT excepted: then it may be; retrying with the same RequestUID
// is safe).
func (l *Log) Append(ctx context.Context, r Record) (uint64, error) {
	return l.AppendWith(ctx, r)
}

// Write is statements AppendWith runs in the transaction that appends a
// record (store.Write).
type Write = store.Write

type appendedSeqKey struct{}

// AppendedSeq is, in a Write that AppendWith runs, the seq of the record
// it is written with.
func AppendedSeq(ctx context.Context) (uint64, bool) {
	seq, ok := ctx.Value(appendedSeqKey{}).(uint64)
	return seq, ok
}

// AppendWith is Append, and also runs in the transaction that appends the
// record, so what they write (an admitted rollout's record and pins, an
// approval event marked appended) is committed with the record or not at
// all, and shares its commit. They do not run when the record's RequestUID
// is already in the log: that record's transaction ran them. Their context
// carries the record's seq (AppendedSeq).
func (l *Log) AppendWith(ctx context.Context, r Record, also ...Write) (uint64, error) {
	j, err := l.prepare(r)
	if err != nil {
		return 0, err
	}
	j.ctx, j.also = ctx, also
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case l.queue <- j:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return 0, fmt.Errorf("appending a %s record: %w", r.Event, ctx.Err())
	}
	select {
	case res := <-j.done:
		l.took()
		return res.seq, res.err
	case <-ctx.Done():
		if j.state.CompareAndSwap(jobQueued, jobAbandoned) {
			return 0, fmt.Errorf("appending a %s record: %w", r.Event, ctx.Err())
		}
		res := <-j.done // the writer has it; its transaction ends by ctx's deadline
		l.took()
		return res.seq, res.err
	}
}

// prepare fills in what Append sets and encodes the record.
func (l *Log) prepare(r Record) (*job, error) {
	switch r.Event {
	case EventAdmission, EventApproval, EventAuditRead, EventRedaction:
	default:
		return nil, fmt.Errorf("appending a record: event %q: %w", r.Event, ErrInvalidRecord)
	}
	if r.Time.IsZero() {
		r.Time = time.Now()
	}
	r.Time = r.Time.UTC()
	if r.Replica == "" {
		r.Replica = l.opts.replica
	}
	for _, s := range []*string{&r.Event, &r.Decision, &r.Namespace, &r.Kind, &r.Name, &r.User.Username, &r.RequestUID} {
		*s = clean(*s)
	}
	r.Images = slices.Clone(r.Images) // the caller's slice stays as it was
	for i := range r.Images {
		r.Images[i].Container, r.Images[i].Ref, r.Images[i].Digest = clean(r.Images[i].Container), clean(r.Images[i].Ref), clean(r.Images[i].Digest)
	}
	body, err := canonicalBody(r)
	if err != nil {
		return nil, fmt.Errorf("appending a record: %w: %w", ErrInvalidRecord, err)
	}
	j := &job{rec: r, body: body, done: make(chan result, 1), ctx: context.Background(), images: imageRows(r.Images)}
	if l.db.Dialect() == store.SQLite {
		if j.imagesCol, err = imagesColumn(j.images); err != nil {
			return nil, fmt.Errorf("appending a record: %w: %w", ErrInvalidRecord, err)
		}
	}
	return j, nil
}

// clean makes a string that is also stored in a query column valid UTF-8
// without NUL: JSON would spell a bad byte as U+FFFD, so the column would
// no longer match the record, and PostgreSQL refuses NUL in text.
func clean(s string) string {
	if utf8.ValidString(s) && !strings.ContainsRune(s, 0) {
		return s
	}
	return strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\x00", "\uFFFD")
}

// row is one record as inserted.
type row struct {
	seq    uint64
	leaf   []byte
	record string
	rec    *Record
	images []imageRow // imageRows(rec.Images)
	// imagesCol is images as SQLite's audit_log column (imagesColumn).
	imagesCol string
	also      []store.Write
}

// appendTx appends jobs inside tx: it locks the head, skips request uids
// already logged, numbers the rest from the head's size, inserts them,
// extends the compact range, writes the head back and, when a checkpoint is
// due, signs one. It returns each job's seq, and the rows it inserted.
func (l *Log) appendTx(ctx context.Context, tx *sql.Tx, jobs []*job) ([]uint64, []row, error) {
	size, rng, err := l.lockHead(ctx, tx)
	if err != nil {
		return nil, nil, err
	}
	known, err := l.knownUIDs(ctx, tx, size, jobs)
	if err != nil {
		return nil, nil, err
	}
	start := size
	seqs := make([]uint64, len(jobs))
	rows := make([]row, 0, len(jobs))
	h := sha256.New() // the batch's leaves share a hash and a buffer
	var rec []byte
	for i, j := range jobs {
		if uid := j.rec.RequestUID; uid != "" {
			if seq, ok := known[uid]; ok {
				seqs[i] = seq
				continue
			}
			known[uid] = size
		}
		rec = appendSeq(rec[:0], size, j.body)
		leaf := leafHash(h, rec)
		if err := rng.Append(leaf, nil); err != nil {
			return nil, nil, fmt.Errorf("extending the audit tree: %w", err)
		}
		rows = append(rows, row{seq: size, leaf: leaf, record: string(rec), rec: &jobs[i].rec, images: j.images, imagesCol: j.imagesCol, also: j.also})
		seqs[i] = size
		size++
	}
	if len(rows) == 0 {
		return seqs, nil, nil
	}
	if err := l.insertRows(ctx, tx, rows); err != nil {
		return nil, nil, err
	}
	for _, r := range rows {
		for _, w := range r.also {
			if err := w(context.WithValue(ctx, appendedSeqKey{}, r.seq), tx); err != nil {
				return nil, nil, err
			}
		}
	}
	// PostgreSQL's rows are in the lookups already (insertRows).
	q := `UPDATE audit_head SET size = ?, "range" = ? WHERE id = 1`
	if l.db.Dialect() == store.Postgres {
		q = `UPDATE audit_head SET size = $1, "range" = $2, indexed = $1 WHERE id = 1`
	}
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, l.db.Rebind(q))
	if err == nil {
		_, err = st.ExecContext(ctx, int64(size), encodeRange(rng))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("writing the audit head: %w", err)
	}
	if every := uint64(l.opts.every); l.opts.signer != nil && every > 0 && start/every != size/every {
		root, err := rootOf(rng)
		if err != nil {
			return nil, nil, err
		}
		if err := l.writeCheckpoint(ctx, tx, size, root); err != nil {
			return nil, nil, err
		}
	}
	return seqs, rows, nil
}

// lockHead reads the tree's head, holding it until the transaction ends:
// PostgreSQL takes the row lock, which serialises writers of every replica;
// SQLite's immediate transaction already holds the database's write lock.
func (l *Log) lockHead(ctx context.Context, tx *sql.Tx) (uint64, *compact.Range, error) {
	q := `SELECT size, "range" FROM audit_head WHERE id = 1`
	if l.db.Dialect() == store.Postgres {
		q += " FOR UPDATE"
	}
	var n int64
	var raw []byte
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, q)
	if err == nil {
		err = st.QueryRowContext(ctx).Scan(&n, &raw)
	}
	if err != nil {
		return 0, nil, fmt.Errorf("locking the audit head: %w", err)
	}
	rng, err := decodeRange(uint64(n), raw)
	return uint64(n), rng, err
}
