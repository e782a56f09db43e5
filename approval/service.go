package approval

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/shipgate/shipgate/audit"
	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
)

// Auditor appends records to the audit log, with statements of the
// caller's in the same transaction; *audit.Log is one.
type Auditor interface {
	AppendWith(ctx context.Context, r audit.Record, also ...audit.Write) (uint64, error)
}

// Service keeps approval requests in a store, judges votes by the rules,
// writes every event to the audit log and notifies receivers. Several
// Services (replicas) may share one PostgreSQL store.
type Service struct {
	db     *store.DB
	repo   repo
	audit  Auditor
	opts   options
	notify *notifier
}

// options are the Service's settings; defaults are set in New.
type options struct {
	resolver Resolver
	rules    func(ctx context.Context, namespace string) ([]Requirement, error)
	targets  func() []config.NotifyTarget
	client   *http.Client
	attempts int
	backoff  time.Duration
	maxWait  time.Duration
	timeout  time.Duration
	sweep    time.Duration
	logger   *slog.Logger
}

// Option configures a Service.
type Option func(*options)

// WithResolver resolves image references to digests for requests made
// ahead of time, so their fingerprint is the one /validate computes.
// Without one, digests are left out (as /validate does until the signer
// resolves them).
func WithResolver(r Resolver) Option { return func(o *options) { o.resolver = r } }

// WithRules says which requirements a namespace's rollouts must meet, for
// requests made ahead of time (at admission /validate passes them).
// Without it, requests cannot be made ahead of time.
func WithRules(f func(ctx context.Context, namespace string) ([]Requirement, error)) Option {
	return func(o *options) { o.rules = f }
}

// WithNotifyTargets sets where events are POSTed; it is called for each
// event, so a reloaded configuration applies at once.
func WithNotifyTargets(f func() []config.NotifyTarget) Option {
	return func(o *options) { o.targets = f }
}

// WithNotifyRetry sets how notifications are retried: attempts in all
// (default 6), the first wait (default 1s, doubling up to maxWait, default
// 1m) and each attempt's timeout (default 10s). With the defaults a
// receiver that is down for about a minute still gets the event.
func WithNotifyRetry(attempts int, backoff, maxWait, timeout time.Duration) Option {
	return func(o *options) { o.attempts, o.backoff, o.maxWait, o.timeout = attempts, backoff, maxWait, timeout }
}

// WithHTTPClient sets the client notifications are sent with.
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithSweepInterval sets how often Run expires lapsed requests and retries
// audit appends that failed (default 30s).
func WithSweepInterval(d time.Duration) Option { return func(o *options) { o.sweep = d } }

// WithLogger sets where failures nobody waits for are reported (default
// slog.Default()).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// New returns a Service over db, appending its events to log.
func New(db *store.DB, log Auditor, opts ...Option) (*Service, error) {
	if db == nil || log == nil {
		return nil, errors.New("starting approvals: a store and an audit log are required")
	}
	o := options{
		targets:  func() []config.NotifyTarget { return nil },
		client:   &http.Client{},
		attempts: 6,
		backoff:  time.Second,
		maxWait:  time.Minute,
		timeout:  10 * time.Second,
		sweep:    30 * time.Second,
		logger:   slog.Default(),
	}
	for _, opt := range opts {
		opt(&o)
	}
	if o.attempts < 1 || o.backoff <= 0 || o.timeout <= 0 || o.sweep <= 0 {
		return nil, errors.New("starting approvals: notification attempts, backoff, timeout and the sweep interval must be positive")
	}
	s := &Service{db: db, repo: repo{db: db}, audit: log, opts: o}
	s.notify = newNotifier(o)
	return s, nil
}

// Get returns one request.
func (s *Service) Get(ctx context.Context, id string) (*Request, error) {
	return s.repo.get(ctx, s.db.SQL(), id, false)
}

// List returns requests matching f, newest first.
func (s *Service) List(ctx context.Context, f Filter) ([]*Request, error) {
	if f.Limit <= 0 {
		f.Limit = 100
	}
	f.Limit = min(f.Limit, 1000)
	if _, err := ParseState(string(f.State)); err != nil {
		return nil, err
	}
	return s.repo.list(ctx, s.db.SQL(), f)
}

// Run expires lapsed requests and appends audit events a failed append
// left behind, every sweep interval, until ctx ends.
func (s *Service) Run(ctx context.Context) error {
	t := time.NewTicker(s.opts.sweep)
	defer t.Stop()
	for {
		if _, err := s.Expire(ctx); err != nil && ctx.Err() == nil {
			s.opts.logger.Error("expiring approval requests", "error", err.Error())
		}
		if err := s.flushAll(ctx); err != nil && ctx.Err() == nil {
			s.opts.logger.Error("appending approval events to the audit log; will retry", "error", err.Error())
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Close waits up to grace for notifications under way, then abandons them.
func (s *Service) Close(grace time.Duration) {
	s.notify.close(grace)
}

// idEncoding is lower-case base32 without padding or look-alike letters.
var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// newID is 16 characters (80 random bits): short enough to type in
// `shipgate approvals approve ID`, long enough never to be guessed.
func newID() string {
	var b [10]byte
	_, _ = rand.Read(b[:])
	return idEncoding.EncodeToString(b[:])
}

// inTx runs fn in a transaction; refusals fn reports through refuse are
// returned after the transaction commits, so what fn wrote before refusing
// (an expiry found on the way) is kept. The events fn queued are then
// appended to the audit log and notified.
func (s *Service) inTx(ctx context.Context, fn func(tx *txn) error) error {
	t := &txn{s: s, ctx: ctx}
	err := s.db.InTx(ctx, func(tx *sql.Tx) error {
		t.q = tx
		t.refused, t.events = nil, nil
		return fn(t)
	})
	if err != nil {
		return err
	}
	s.publish(ctx, t.events)
	return t.refused
}

// txn is one transaction's state: its querier, its clock reading, the
// events it wrote and the refusal to return after commit.
type txn struct {
	s       *Service
	ctx     context.Context
	q       querier
	events  []*event
	refused error
}

// now is the store's clock inside the transaction.
func (t *txn) now() (time.Time, error) { return t.s.repo.now(t.ctx, t.q) }

// refuse ends fn with a refusal that does not roll back its writes.
func (t *txn) refuse(err error) error {
	t.refused = err
	return nil
}

// wrap says what was being done, unless err is a refusal, whose message
// says it already.
func wrap(err error, format string, args ...any) error {
	var r *Refusal
	if errors.As(err, &r) {
		return err
	}
	return fmt.Errorf(format+": %w", append(args, err)...)
}
