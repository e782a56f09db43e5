package audit

import (
	"context"
	"os"
	"sync"
	"time"
)

// walCheckpointEvery is how often the SQLite WAL is copied back into the
// database file in the background.
const walCheckpointEvery = 250 * time.Millisecond

// walRestartFrames is the WAL length, in frames (pages of 4 KiB), past which
// the writer finishes the background's checkpoint itself between two
// batches, so that the next batch starts the WAL file over: 64 MiB. The
// callers queued meanwhile wait for it, 3-25 ms on this disk however few
// frames are left to copy, so it is kept rare: at 16 MiB it came several
// times a second at 64 writers and was most of BenchmarkAppend's p99
// (docs/performance.md). A load that leaves the writer idle now and then
// never gets here: a background checkpoint that copies every frame lets the
// next batch start over.
const walRestartFrames = 16384

// walFinishFrames is how few frames the background's checkpoints leave for
// the writer's before asking for it: copying them and syncing the database
// file is what the callers of the next batch wait for.
const walFinishFrames = 256

// walAutoCheckpoint is the writer connection's own threshold, in frames: a
// fallback, 256 MiB, should the writer not get to its checkpoints. At
// SQLite's default, 1,000 frames, every eighth or so batch copied the WAL
// back while its callers waited; at 4,096, with the background copying,
// p99 was three times the median.
const walAutoCheckpoint = 65536

// writerCacheKiB is the SQLite page cache of the writer's connection:
// 2 MiB, SQLite's default. It was 32 MiB, to keep more index pages of a
// large log, but BenchmarkAppend did not tell 2, 8 and 32 MiB apart, and
// the cache filled, and stayed resident, as soon as admissions touched
// older records: in the memory scenario's re-admission of 1,000
// Deployments the process peaked at 176-179 MiB with 32 MiB, 160 MiB with
// 8 MiB and 149 MiB with 2 MiB, and took 10.0-10.5, 9.8 and 7.4 ms per
// admission (docs/performance.md).
const writerCacheKiB = 2 * 1024

// walCheckpoints moves SQLite's WAL checkpoints off the append path. A
// goroutine runs a PASSIVE checkpoint (which never blocks the writer) on
// another connection every walCheckpointEvery until Close: it copies the
// WAL's pages into the database file while appends go on. Under steady
// load that never lets the WAL start over (frames are added while it
// copies), so when the WAL is past walRestartFrames it asks the writer to
// checkpoint between two batches (walRestart): by then little is left to
// copy, and the next batch writes the WAL from its start.
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
				frames := l.walPassive()
				if frames < l.opts.walRestart {
					continue
				}
				// Catch up before asking the writer: each pass copies
				// what the batches added during the one before, less
				// each time, so the writer's own is short.
				for range 4 {
					next := l.walPassive()
					if next-frames < walFinishFrames {
						break
					}
					frames = next
				}
				// And flush what the passes wrote to the database file,
				// which SQLite syncs only at the end of a checkpoint that
				// copies every frame: the writer's. That fsync had to
				// write back every page the passes had copied since the
				// last one, and took 60-100 ms with the callers waiting.
				if l.syncDatabaseFile() {
					l.walPassive()
				}
				l.walRestart.Store(true)
			}
		}
	}()
}

// syncDatabaseFile fsyncs the SQLite database file, when it is a file,
// and says whether it did.
func (l *Log) syncDatabaseFile() bool {
	var seq int
	var name, path string
	if err := l.db.SQL().QueryRowContext(context.Background(), "PRAGMA database_list").Scan(&seq, &name, &path); err != nil || path == "" {
		return false
	}
	f, err := databaseFile(path)
	if err != nil {
		l.opts.logger.Warn("opening the audit database file to sync it", "error", err)
		return false
	}
	if err := f.Sync(); err != nil {
		l.opts.logger.Warn("syncing the audit database file", "error", err)
		return false
	}
	return true
}

// databaseFiles are the database files syncDatabaseFile opened, by path:
// each is opened once and never closed (nor collected, which would close
// it), because closing any descriptor of a file drops every POSIX lock
// the process holds on it, SQLite's included.
var databaseFiles = struct {
	sync.Mutex
	byPath map[string]*os.File
}{byPath: map[string]*os.File{}}

func databaseFile(path string) (*os.File, error) {
	databaseFiles.Lock()
	defer databaseFiles.Unlock()
	if f, ok := databaseFiles.byPath[path]; ok {
		return f, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	databaseFiles.byPath[path] = f
	return f, nil
}

// walPassive runs a PASSIVE checkpoint on a connection of the pool and
// returns the WAL's length in frames, or -1 when it fails.
func (l *Log) walPassive() int {
	var busy, frames, copied int
	if err := l.db.SQL().QueryRowContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)").Scan(&busy, &frames, &copied); err != nil {
		return -1
	}
	return frames
}

// walFinish is the writer's part of walCheckpoints, run between batches
// when asked: a PASSIVE checkpoint on the writer's own connection, which
// copies what the background has not and lets the next batch restart the
// WAL.
func (l *Log) walFinish() {
	if l.conn == nil || !l.walRestart.CompareAndSwap(true, false) {
		return
	}
	_, _ = l.conn.ExecContext(context.Background(), "PRAGMA wal_checkpoint(PASSIVE)")
}
