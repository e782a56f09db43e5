package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/shipgate/shipgate/store"
)

// run is the writer: it takes every job waiting, up to the batch cap,
// commits them in one transaction and answers each; it also signs
// checkpoints on the interval, and once more when the queue is closed.
func (l *Log) run() {
	defer close(l.done)
	var tick <-chan time.Time
	if l.opts.signer != nil && l.opts.interval > 0 {
		t := time.NewTicker(l.opts.interval)
		defer t.Stop()
		tick = t.C
	}
	var indexTick <-chan time.Time
	if l.ix != nil {
		t := time.NewTicker(l.opts.indexEvery)
		defer t.Stop()
		indexTick = t.C
	}
	batch := make([]*job, 0, l.opts.batch)
	last := 0
	for {
		select {
		case j, ok := <-l.queue:
			if !ok {
				l.indexAll()
				if err := l.checkpointNow(context.Background()); err != nil {
					l.opts.logger.Error("signing the closing audit checkpoint", "error", err)
				}
				return
			}
			batch = l.linger(l.gather(append(batch[:0], j), last))
			last = len(batch)
			l.commit(batch)
			l.awaitCallers(callersWait)
			l.walFinish()
			l.indexIfDue(false, false)
		case <-indexTick:
			l.indexIfDue(true, true)
		case <-tick:
			if err := l.checkpointNow(context.Background()); err != nil {
				l.opts.logger.Warn("signing an audit checkpoint", "error", err)
			}
		}
	}
}

// callersWait bounds how long the writer waits, after a batch, for the
// callers it answered to run (awaitCallers).
const callersWait = time.Millisecond

// awaitCallers lets the callers the writer has answered run before it
// takes the CPU again for the next batch, a checkpoint or a lookup step:
// it waits until each has taken its answer, or for wait at most, and
// reports whether they all had.
//
// An answer only makes its caller runnable, on the writer's P. A yield
// let them run while the other P was free; but when it was not (a
// background WAL checkpoint pass runs 20-120 ms, or the VM had taken the
// CPU it ran on), the writer was soon running its next batch, 1-3 ms of
// SQLite that nothing preempts, while the callers it had answered waited
// for it in the run queue. In BenchmarkAppend at 64 writers a caller took
// its answer 0.3 ms after it was sent at the median but 3-4 ms after at
// the 99th percentile and 11-14 ms at the 99.9th: a fifth of the time of
// the appends around the p99. Waiting for them cut that to 1 ms and 5.5
// ms, and the p99 of the appends by about 2 ms (docs/performance.md). A
// lone caller takes its answer before its next record can reach the
// writer, so for it the wait only takes the place of the writer's idling.
func (l *Log) awaitCallers(wait time.Duration) bool {
	if l.unwoken.Load() <= 0 {
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for l.unwoken.Load() > 0 {
		select {
		case <-l.woken: // maybe from an earlier batch: look again
		case <-timer.C:
			return false
		}
	}
	return true
}

// answer sends a job its result, counting it until the caller takes it.
func (l *Log) answer(j *job, res result) {
	l.unwoken.Add(1)
	j.done <- res
}

// took is the caller's side of answer: its answer is taken, and when it
// was the last one the writer waited on, the writer is told.
func (l *Log) took() {
	if l.unwoken.Add(-1) == 0 {
		select {
		case l.woken <- struct{}{}:
		default:
		}
	}
}

// gatherWait bounds how long the writer waits for the callers of the
// previous batch to come back: about a third of an fsync here, so a lone
// early caller does not get a commit of its own while the rest queue up
// behind it.
const gatherWait = 300 * time.Microsecond

// gather adds to batch every job waiting, up to the cap. When that is less
// than half the previous batch — its callers are still coming back — it
// waits up to gatherWait for them. A single writer (last = 1) never waits.
func (l *Log) gather(batch []*job, last int) []*job {
	var timer <-chan time.Time
	for len(batch) < l.opts.batch {
		select {
		case j, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, j)
			continue
		default:
		}
		if len(batch) >= last/2 {
			return batch
		}
		if timer == nil {
			timer = time.After(gatherWait)
		}
		select {
		case j, ok := <-l.queue:
			if !ok {
				return batch
			}
			batch = append(batch, j)
		case <-timer:
			return batch
		}
	}
	return batch
}

// rateWindow is the time constant of the writer's estimate of the append
// rate: records older than a few windows no longer count.
const rateWindow = 100 * time.Millisecond

// linger holds batch open for up to the commit delay (WithCommitDelay)
// while the process is busy and the recent rate of appends says more will
// arrive meanwhile, until as many as that rate predicts have joined it.
func (l *Log) linger(batch []*job) []*job {
	d := l.opts.linger
	if d <= 0 {
		return batch
	}
	now := time.Now()
	if expect := l.recentRate(now) * d.Seconds(); expect >= 1 && (l.opts.busy == nil || l.opts.busy()) {
		want := min(len(batch)+int(expect), l.opts.batch)
		timer := time.NewTimer(d)
	wait:
		for len(batch) < want {
			select {
			case j, ok := <-l.queue:
				if !ok {
					break wait
				}
				batch = append(batch, j)
			case <-timer.C:
				break wait
			}
		}
		timer.Stop()
		now = time.Now()
	}
	l.rate = l.recentRate(now) + float64(len(batch))/rateWindow.Seconds()
	l.taken = now
	return batch
}

// recentRate is the append rate, records per second, as of now: each
// record taken counts 1/rateWindow, decaying exponentially with its age.
func (l *Log) recentRate(now time.Time) float64 {
	if l.taken.IsZero() {
		return 0
	}
	return l.rate * math.Exp(-now.Sub(l.taken).Seconds()/rateWindow.Seconds())
}

// commit writes one batch and answers its callers. A failed batch gets the
// writer a fresh connection (the old one may be broken); when a statement
// failed, not the commit, each record is retried alone, so one record the
// database refuses does not fail the others queued with it.
func (l *Log) commit(batch []*job) {
	batch = l.claim(batch)
	if len(batch) == 0 {
		return
	}
	seqs, err := l.commitOnce(batch)
	if err != nil {
		l.opts.logger.Warn("committing audit records", "records", len(batch), "error", err)
		l.resetConn()
		if len(batch) > 1 && !errors.Is(err, errCommitting) {
			for _, j := range batch {
				l.commit([]*job{j})
			}
			return
		}
	}
	if err == nil {
		l.commits.Add(1)
		l.committed.Add(uint64(len(batch)))
	}
	for i, j := range batch {
		if err != nil {
			l.answer(j, result{err: fmt.Errorf("appending a %s record: %w", j.rec.Event, err)})
			continue
		}
		l.answer(j, result{seq: seqs[i]})
	}
}

// errCommitting marks a failed COMMIT: the batch may or may not be in the
// log, so it is not retried record by record.
var errCommitting = errors.New("committing")

// claim takes the jobs of batch whose callers still wait: a job abandoned
// in the queue is dropped unanswered, one whose caller's context has
// ended is answered with its error.
func (l *Log) claim(batch []*job) []*job {
	kept := batch[:0]
	for _, j := range batch {
		if !j.state.CompareAndSwap(jobQueued, jobTaken) && j.state.Load() != jobTaken {
			continue
		}
		if err := j.ctx.Err(); err != nil {
			l.answer(j, result{err: fmt.Errorf("appending a %s record: %w", j.rec.Event, err)})
			continue
		}
		kept = append(kept, j)
	}
	return kept
}

func (l *Log) commitOnce(batch []*job) ([]uint64, error) {
	// The transaction ends by the earliest caller's deadline: a record is
	// never committed after the caller it answers has given up.
	deadline := time.Now().Add(l.opts.commitTimeout)
	for _, j := range batch {
		if dl, ok := j.ctx.Deadline(); ok && dl.Before(deadline) {
			deadline = dl
		}
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	tx, err := l.begin(ctx)
	if err != nil {
		return nil, err
	}
	seqs, rows, err := l.appendTx(ctx, tx, batch)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	if err := l.indexChunkTx(ctx, tx, rows, false); err != nil {
		// The records do not depend on it: the next step reads what this
		// one had left from the store.
		l.indexFailed(err, false)
	}
	if err := tx.Commit(); err != nil {
		if l.ix != nil {
			l.ix.aborted()
		}
		return nil, fmt.Errorf("%w: %w", errCommitting, err)
	}
	l.rememberUIDs(rows)
	if l.ix != nil {
		l.ix.appended(rows)
	}
	return seqs, nil
}

// begin starts a transaction on the writer's connection, taking one when
// it has none.
func (l *Log) begin(ctx context.Context) (*sql.Tx, error) {
	if l.conn == nil {
		if err := l.openConn(ctx); err != nil {
			return nil, err
		}
	}
	tx, err := l.conn.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("beginning a transaction: %w", err)
	}
	return tx, nil
}

// openConn takes the writer's own connection from the pool: its prepared
// statements stay warm between batches, and on SQLite it carries the WAL
// settings of walCheckpoints.
func (l *Log) openConn(ctx context.Context) error {
	conn, err := l.db.SQL().Conn(ctx)
	if err != nil {
		return fmt.Errorf("taking a connection: %w", err)
	}
	if l.db.Dialect() == store.SQLite {
		for _, p := range []string{fmt.Sprintf("PRAGMA wal_autocheckpoint = %d", walAutoCheckpoint), fmt.Sprintf("PRAGMA cache_size = -%d", writerCacheKiB)} {
			if _, err := conn.ExecContext(ctx, p); err != nil {
				conn.Close()
				return fmt.Errorf("setting up the writer's connection: %s: %w", p, err)
			}
		}
	}
	l.conn = conn
	return nil
}

// resetConn gives the writer's connection back; the next batch takes
// another.
func (l *Log) resetConn() {
	if l.conn != nil {
		l.conn.Close()
		l.conn = nil
	}
}
