package audit

import (
	"context"
	"database/sql"
	"fmt"
	"hash/maphash"
	"slices"
	"time"
)

// On SQLite a retried AdmissionRequest is found in memory, not with an
// index: a unique index on a random UUID puts every record on a page of
// its own in that index, a page read back, written to the WAL and later
// copied into the database file. At 64 concurrent writers that was a third
// of the WAL's frames; without it BenchmarkAppend went from about 10,000 to
// 13,000 appends a second (docs/performance.md).
//
// The API server sends an AdmissionRequest's uid again only while that
// request lasts: a webhook call times out after at most 30 seconds. So the
// writer remembers the uids of the records appended in the last uidWindow,
// at most uidWindowRecords of them, and a uid outside that is not looked
// for. PostgreSQL, where several replicas append, keeps its unique index.

// uidWindow is how long an appended record's request uid is remembered.
const uidWindow = 2 * time.Minute

// uidWindowRecords caps how many uids are remembered: more than the
// window holds at what one replica admits here (under 1,000 a second), so
// the cap only shortens the window under a flood of appends. Full, the
// window takes about 3 MiB of heap; at 160 appends a second, 0.7 MiB.
const uidWindowRecords = 1 << 17

// uidBucketSpan is the time one bucket of the window covers: the window
// forgets a bucket whole once all of it is older than uidWindow.
const uidBucketSpan = 5 * time.Second

// recentUIDs is the writer's memory of recent request uids. Only the
// writer uses it.
type recentUIDs struct {
	seed maphash.Seed
	// buckets are the uids remembered, by when they were appended, oldest
	// first.
	buckets []uidBucket
	// upTo is the log's size the memory is complete to: a record below it
	// that is in the window is in a bucket. upTo < 0 until the first batch.
	upTo int64
}

type uidBucket struct {
	start int64 // Unix nanoseconds, a multiple of uidBucketSpan
	// seqs maps the hash of a uid to the seq of the record that has it. A
	// hash found is confirmed against the record (confirmUID), so two uids
	// with one hash cannot drop a record.
	seqs map[uint64]uint64
	// collided holds, by the uid itself, uids whose hash a bucket gave to
	// another record.
	collided map[string]uint64
}

func newRecentUIDs() *recentUIDs {
	return &recentUIDs{seed: maphash.MakeSeed(), upTo: -1}
}

func (u *recentUIDs) hash(uid string) uint64 { return maphash.String(u.seed, uid) }

// lookup returns the seq the window has for uid and whether it must be
// confirmed against the log (it was found by its hash).
func (u *recentUIDs) lookup(uid string) (seq uint64, confirm, ok bool) {
	for _, b := range u.buckets {
		if seq, ok := b.collided[uid]; ok {
			return seq, false, true
		}
	}
	h := u.hash(uid)
	for _, b := range u.buckets {
		if seq, ok := b.seqs[h]; ok {
			return seq, true, true
		}
	}
	return 0, false, false
}

// add remembers that the record seq, appended at at, has uid, and forgets
// what is out of the window as of now. When the hash of uid is another
// record's, uid is kept by itself: that record has another uid, or the
// same one (a uid logged twice), and either way uid's own record is seq.
func (u *recentUIDs) add(uid string, seq uint64, at, now int64) {
	h := u.hash(uid)
	var taken bool
	for _, b := range u.buckets {
		if _, ok := b.collided[uid]; ok {
			return
		}
		if old, ok := b.seqs[h]; ok {
			if old == seq {
				return
			}
			taken = true
		}
	}
	b := u.bucketAt(at)
	if taken {
		if b.collided == nil {
			b.collided = map[string]uint64{}
		}
		b.collided[uid] = seq
	} else {
		b.seqs[h] = seq
	}
	u.age(now)
}

// len is how many uids the window remembers.
func (u *recentUIDs) len() int {
	n := 0
	for _, b := range u.buckets {
		n += len(b.seqs) + len(b.collided)
	}
	return n
}

// bucketAt is the bucket for a uid appended at at: the newest, or a new
// one when at is past it. (A uid read at start may be a little older than
// the one before it; it joins the newest bucket.)
func (u *recentUIDs) bucketAt(at int64) *uidBucket {
	span := int64(uidBucketSpan)
	if k := len(u.buckets); k > 0 && at < u.buckets[k-1].start+span {
		return &u.buckets[k-1]
	}
	u.buckets = append(u.buckets, uidBucket{start: at - at%span, seqs: map[uint64]uint64{}})
	return &u.buckets[len(u.buckets)-1]
}

// age forgets the buckets wholly older than the window, and the oldest
// while there are more uids than the cap.
func (u *recentUIDs) age(now int64) {
	n, drop := u.len(), 0
	for drop < len(u.buckets) {
		b := u.buckets[drop]
		if b.start+int64(uidBucketSpan) >= now-int64(uidWindow) && n <= uidWindowRecords {
			break
		}
		n -= len(b.seqs) + len(b.collided)
		drop++
	}
	if drop > 0 {
		u.buckets = append(u.buckets[:0], u.buckets[drop:]...)
	}
}

// catchUpUIDs brings the memory up to the log's size: it reads the uids of
// the records appended since upTo — by another process on the same file
// (an old and a new gateway overlapping in a rollout), or by a batch whose
// COMMIT failed after all — or, on the first batch, those of the window.
func (l *Log) catchUpUIDs(ctx context.Context, tx *sql.Tx, size uint64) error {
	u := l.uids
	if u.upTo == int64(size) {
		return nil
	}
	if u.upTo > int64(size) { // the log is shorter than this writer saw it: start over
		*u = *newRecentUIDs()
	}
	now := time.Now().UnixNano()
	// The first time, the records of the window by their time (the
	// webhook's are the admission's); after that every record appended
	// since, whatever its time, as appended now.
	first := u.upTo < 0
	from := max(u.upTo, int64(size)-uidWindowRecords, 0)
	q, args := "SELECT seq, request_uid, recorded_at FROM audit_log WHERE seq >= ? AND request_uid IS NOT NULL ORDER BY seq", []any{from}
	if first {
		q, args = "SELECT seq, request_uid, recorded_at FROM audit_log WHERE recorded_at >= ? AND seq >= ? AND request_uid IS NOT NULL ORDER BY seq", []any{now - int64(uidWindow), from}
	}
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, q)
	if err != nil {
		return fmt.Errorf("reading recent request uids: %w", err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return fmt.Errorf("reading recent request uids: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var seq, at int64
		var uid string
		if err := rows.Scan(&seq, &uid, &at); err != nil {
			return fmt.Errorf("reading recent request uids: %w", err)
		}
		if !first {
			at = now
		}
		u.add(uid, uint64(seq), at, now)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("reading recent request uids: %w", err)
	}
	u.upTo = int64(size)
	return nil
}

// knownUIDsSQLite maps the batch's request uids already in the log, as far
// as the window remembers, to their seqs. A batch without uids does not
// touch the window: Redact appends its record outside the writer.
func (l *Log) knownUIDsSQLite(ctx context.Context, tx *sql.Tx, size uint64, jobs []*job) (map[string]uint64, error) {
	known := map[string]uint64{}
	if !slices.ContainsFunc(jobs, func(j *job) bool { return j.rec.RequestUID != "" }) {
		return known, nil
	}
	if err := l.catchUpUIDs(ctx, tx, size); err != nil {
		return nil, err
	}
	for _, j := range jobs {
		uid := j.rec.RequestUID
		if uid == "" {
			continue
		}
		seq, confirm, ok := l.uids.lookup(uid)
		if ok && confirm {
			var err error
			if ok, err = l.confirmUID(ctx, tx, seq, uid); err != nil {
				return nil, err
			}
		}
		if ok {
			known[uid] = seq
		}
	}
	return known, nil
}

// confirmUID says whether the record seq has request uid uid.
func (l *Log) confirmUID(ctx context.Context, tx *sql.Tx, seq uint64, uid string) (bool, error) {
	st, err := l.stmts.In(ctx, l.db.SQL(), tx, "SELECT request_uid FROM audit_log WHERE seq = ?")
	if err != nil {
		return false, fmt.Errorf("looking up request uid %q: %w", uid, err)
	}
	var got sql.NullString
	if err := st.QueryRowContext(ctx, int64(seq)).Scan(&got); err != nil {
		return false, fmt.Errorf("looking up request uid %q: %w", uid, err)
	}
	return got.String == uid, nil
}

// rememberUIDs adds the rows of a committed batch to the window, as
// appended now. When the window was not complete up to the batch's first
// row, the next batch with uids catches up from the log instead.
func (l *Log) rememberUIDs(rows []row) {
	u := l.uids
	if u == nil || len(rows) == 0 || u.upTo != int64(rows[0].seq) {
		return
	}
	now := time.Now().UnixNano()
	for _, r := range rows {
		if r.rec.RequestUID != "" {
			u.add(r.rec.RequestUID, r.seq, now, now)
		}
	}
	u.upTo = int64(rows[len(rows)-1].seq) + 1
}
