package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/shipgate/shipgate/store"
	"golang.org/x/mod/sumdb/note"
)

// Errors callers can test for with errors.Is.
var (
	ErrClosed           = errors.New("audit log is closed")
	ErrInvalidRecord    = errors.New("invalid audit record")
	ErrNotFound         = errors.New("no such audit record")
	ErrNoCheckpoint     = errors.New("no checkpoint yet")
	ErrAlreadyRedacted  = errors.New("audit record already redacted")
	ErrOutOfRange       = errors.New("tree size or index out of range")
	ErrUnknownFormat    = errors.New("unknown export format")
	ErrBadCursor        = errors.New("malformed cursor")
	ErrInvalidArguments = errors.New("invalid arguments")
)

// Log is the audit log over a store. Appends from many goroutines are
// queued to one writer goroutine that commits them in batches; Close
// flushes the queue and stops it.
type Log struct {
	db    *store.DB
	opts  options
	queue chan *job
	conn  *sql.Conn // the writer's own connection; only the writer uses it once running
	stmts store.Stmts

	mu        sync.RWMutex // guards closed against sends on a closed queue
	closed    bool
	once      sync.Once
	closeOnce sync.Once
	done      chan struct{}
	stopWAL   chan struct{} // stops the SQLite WAL checkpointer, when there is one
	walDone   chan struct{}
	// walRestart asks the writer to finish a WAL checkpoint (walFinish).
	walRestart atomic.Bool
	// unwoken counts the answers the writer has sent whose callers have
	// not yet taken them; woken is signalled when a caller brings it to
	// zero (awaitCallers).
	unwoken atomic.Int64
	woken   chan struct{}
	// rate is the recent rate of appends, per second, as of taken, when
	// the writer last took a batch (linger, recentRate); only the writer
	// uses them.
	rate  float64
	taken time.Time
	// uids is the writer's memory of recent request uids, on SQLite
	// (uids.go).
	uids *recentUIDs
	// ix keeps the lookups by object and image up to date, on SQLite
	// (index.go); only the writer uses it.
	ix *indexer
	// commits and committed count the transactions that appended records
	// and the records they appended (Commits).
	commits, committed atomic.Uint64
}

// Commits returns how many transactions have appended records since the
// log was opened, and how many records they appended: their ratio is how
// well appends are grouped.
func (l *Log) Commits() (transactions, records uint64) {
	return l.commits.Load(), l.committed.Load()
}

// options are the Log's settings; defaults are set in New.
type options struct {
	batch         int
	signer        note.Signer
	every         int
	interval      time.Duration
	replica       string
	commitTimeout time.Duration
	logger        *slog.Logger
	linger        time.Duration // WithCommitDelay
	busy          func() bool
	// The steps of index.go, on SQLite: indexStep records or indexEvery,
	// indexChunk rows a batch; tests set them (export_test.go), and
	// indexStep ≤ 0 leaves every record to the next Log's steps.
	indexStep, indexChunk int
	indexEvery            time.Duration
	// walRestart is walRestartFrames, which tests lower.
	walRestart int
}

// Option configures a Log.
type Option func(*options)

// WithBatchSize caps how many queued appends one transaction takes
// (default 512: a batch of 512 small records commits in a few milliseconds,
// and larger ones only delay the first caller in it).
func WithBatchSize(n int) Option { return func(o *options) { o.batch = n } }

// WithCheckpoints signs a checkpoint every `every` records or every
// interval, whichever comes first, and on Close. every ≤ 0 or interval ≤ 0
// turns that trigger off.
func WithCheckpoints(signer note.Signer, every int, interval time.Duration) Option {
	return func(o *options) { o.signer, o.every, o.interval = signer, every, interval }
}

// WithReplica names this gateway replica in records that name none.
func WithReplica(name string) Option { return func(o *options) { o.replica = name } }

// WithLogger sets where the writer reports what no caller hears: a failed
// batch (its callers get the error too) or checkpoint (default
// slog.Default()).
func WithLogger(lg *slog.Logger) Option { return func(o *options) { o.logger = lg } }

// WithCommitTimeout bounds one batch's transaction (default 30 s).
func WithCommitTimeout(d time.Duration) Option { return func(o *options) { o.commitTimeout = d } }

// WithCommitDelay lets the writer hold a batch open for up to d for more
// records while busy() says the process is short of CPU and records
// arrive faster than one per d. Group commit only
// groups what is queued when the writer turns to it: when every admission
// takes a few milliseconds of CPU and a commit less than one, each record
// gets a transaction, a write of its pages and an fsync of its own,
// however many admissions are under way. Waiting for the records the
// recent rate says are coming shares those among them, at a cost of at
// most d of latency, and only under a sustained load: at a slower rate, or
// with CPU to spare, the writer commits at once. d ≤ 0 turns it off (the
// default); a nil busy counts as always busy.
func WithCommitDelay(d time.Duration, busy func() bool) Option {
	return func(o *options) { o.linger, o.busy = d, busy }
}

// New opens the audit log in db and starts its writer.
func New(db *store.DB, opts ...Option) (*Log, error) {
	if db == nil {
		return nil, fmt.Errorf("opening the audit log: no store: %w", ErrInvalidArguments)
	}
	o := options{batch: 512, commitTimeout: 30 * time.Second, logger: slog.Default(),
		indexStep: indexStep, indexChunk: indexChunk, indexEvery: indexEvery, walRestart: walRestartFrames}
	for _, opt := range opts {
		opt(&o)
	}
	if o.batch < 1 {
		return nil, fmt.Errorf("opening the audit log: batch size %d: %w", o.batch, ErrInvalidArguments)
	}
	if o.signer == nil && (o.every > 0 || o.interval > 0) {
		return nil, fmt.Errorf("opening the audit log: checkpoints without a signer: %w", ErrInvalidArguments)
	}
	l := &Log{
		db:    db,
		opts:  o,
		queue: make(chan *job, 4*o.batch),
		woken: make(chan struct{}, 1),
		done:  make(chan struct{}),
	}
	if err := l.openConn(context.Background()); err != nil {
		return nil, fmt.Errorf("opening the audit log: %w", err)
	}
	if db.Dialect() == store.SQLite {
		l.uids = newRecentUIDs()
		if o.indexStep > 0 {
			if err := l.newIndexer(context.Background()); err != nil {
				l.resetConn()
				return nil, fmt.Errorf("opening the audit log: %w", err)
			}
		}
		l.walCheckpoints()
	}
	go l.run()
	return l, nil
}

// Close stops taking appends, commits those queued, writes a last
// checkpoint when checkpoints are on and the tree grew since the latest
// one, and stops the writer. It does not close the store.
func (l *Log) Close() error {
	l.once.Do(func() {
		l.mu.Lock()
		l.closed = true
		close(l.queue)
		l.mu.Unlock()
	})
	<-l.done
	l.closeOnce.Do(func() {
		if l.stopWAL != nil {
			close(l.stopWAL)
			<-l.walDone
		}
		l.stmts.Close()
		l.resetConn()
	})
	return nil
}

// Size is the number of records in the log.
func (l *Log) Size(ctx context.Context) (uint64, error) {
	var size int64
	if err := l.db.SQL().QueryRowContext(ctx, "SELECT size FROM audit_head WHERE id = 1").Scan(&size); err != nil {
		return 0, fmt.Errorf("reading the audit log's size: %w", err)
	}
	return uint64(size), nil
}

// Root is the log's current size and Merkle tree root (SHA-256 of nothing
// for an empty log).
func (l *Log) Root(ctx context.Context) (size uint64, root []byte, err error) {
	var raw []byte
	var n int64
	if err := l.db.SQL().QueryRowContext(ctx, `SELECT size, "range" FROM audit_head WHERE id = 1`).Scan(&n, &raw); err != nil {
		return 0, nil, fmt.Errorf("reading the audit log's head: %w", err)
	}
	rng, err := decodeRange(uint64(n), raw)
	if err != nil {
		return 0, nil, err
	}
	root, err = rootOf(rng)
	return uint64(n), root, err
}
