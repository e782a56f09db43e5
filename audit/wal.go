package audit

import (
	"context"
	"time"
)

// walCheckpointEvery is how often the SQLite WAL is copied back into the
// database file in the background: every 250 ms keeps the WAL to a few MB
// at thousands of appends per second.
const walCheckpointEvery = 250 * time.Millisecond

// walAutoCheckpoint is the writer connection's own threshold, in pages
// (4 KiB each): 16 MiB, a fallback should the background checkpoint fall
// behind. SQLite's default, 1,000 pages, makes every eighth or so batch
// copy the WAL back while its callers wait.
const walAutoCheckpoint = 4096

// writerCacheKiB is the SQLite page cache of the writer's connection:
// 32 MiB holds the hot index pages of a log of a few million records, so
// appends rarely read a page back from the file (SQLite's default is 2 MiB).
const writerCacheKiB = 32 * 1024

// walCheckpoints moves SQLite's WAL checkpoints off the append path: the
// writer's connection (openConn) checkpoints only past walAutoCheckpoint, and a
// goroutine runs a PASSIVE checkpoint (which never blocks the writer) on
// another connection every walCheckpointEvery until Close.
func (l *Log) walCheckpoints() {
	l.stopWAL = make(chan struct{})
	l.walDone = make(chan struct{})
	go func() {
		defer close(l.walDone)
		t := time.NewTicker(walCheckpointEvery)
		defer t.Stop()
		for {
			select {
			case <-l.stopWAL:
				return
			case <-t.C:
				_, _ = l.db.SQL().ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
			}
		}
	}()
}
