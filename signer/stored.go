package signer

import (
	"context"
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/shipgate/shipgate/config"
	"github.com/shipgate/shipgate/store"
)

// keepEvery is how long verifications wait in memory before they are
// written to the store together: the admission that verified a new digest
// does not wait for a commit, and a release of many new images costs one
// transaction, not one each.
const keepEvery = 200 * time.Millisecond

// retryEvery is how soon a write that failed is tried again.
const retryEvery = 5 * time.Second

// maxUnwritten bounds the verifications waiting to be written. Past it,
// more are dropped, and logged: the store is a cache, and a verification
// it lacks is made again when next needed.
const maxUnwritten = 10000

// keeper writes successful verifications to the store in the background,
// within keepEvery of each. A crash loses at most that long's, which cost
// only a verification again.
type keeper struct {
	lkg     LastKnownGood
	log     *slog.Logger
	now     func() time.Time
	keepFor time.Duration // how long a verification can still be read

	pruneMu sync.Mutex
	pruned  time.Time // the last pruning

	mu      sync.Mutex
	queue   []store.Verification
	pending bool // a write is scheduled
	failing bool // the last write failed
	dropped int64
}

// add queues vf and arranges a write within keepEvery.
func (k *keeper) add(vf store.Verification) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if len(k.queue) >= maxUnwritten {
		k.dropped++
		if k.dropped == 1 || k.dropped%1000 == 0 {
			k.log.Warn("verifications are made faster than the store keeps them; not keeping some", "dropped", k.dropped)
		}
		return
	}
	k.queue = append(k.queue, vf)
	k.scheduleLocked(keepEvery)
}

// scheduleLocked arranges a write after d, unless one is arranged already.
// k.mu is held.
func (k *keeper) scheduleLocked(d time.Duration) {
	if !k.pending {
		k.pending = true
		time.AfterFunc(d, k.flushLater)
	}
}

// flushLater writes what is queued, logging when writes start failing and
// when they work again (not every retry).
func (k *keeper) flushLater() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := k.flush(ctx)
	k.mu.Lock()
	was := k.failing
	k.failing = err != nil
	k.mu.Unlock()
	switch {
	case err != nil && !was:
		k.log.Warn("keeping verifications in the store; retrying", "error", err)
	case err == nil && was:
		k.log.Info("keeping verifications in the store again")
	}
}

// flush writes what is queued in one transaction. What it cannot write is
// queued again (within maxUnwritten) and tried within retryEvery.
func (k *keeper) flush(ctx context.Context) error {
	k.mu.Lock()
	vs := k.queue
	k.queue, k.pending = nil, false
	k.mu.Unlock()
	if len(vs) == 0 {
		return nil
	}
	err := k.lkg.PutVerifications(ctx, vs)
	if err == nil {
		k.prune(ctx)
	} else {
		k.mu.Lock()
		room := max(0, maxUnwritten-len(k.queue))
		k.dropped += int64(max(0, len(vs)-room))
		k.queue = append(vs[:min(len(vs), room)], k.queue...)
		k.scheduleLocked(retryEvery)
		k.mu.Unlock()
	}
	return err
}

// pruneEvery is how often verifications nothing can read any more are
// deleted from the store, after a write: the first write after a start,
// then at most this often.
const pruneEvery = 10 * time.Minute

// prune deletes the verifications older than keepFor when pruneEvery has
// passed since the last pruning. A failure is logged and tried again at
// the next write.
func (k *keeper) prune(ctx context.Context) {
	k.pruneMu.Lock()
	defer k.pruneMu.Unlock()
	now := k.now()
	if !k.pruned.IsZero() && now.Sub(k.pruned) < pruneEvery {
		return
	}
	n, err := k.lkg.PruneVerifications(ctx, now.Add(-k.keepFor))
	if err != nil {
		k.log.Warn("pruning old verifications from the store", "error", err)
		return
	}
	k.pruned = now
	if n > 0 {
		k.log.Debug("pruned old verifications from the store", "deleted", n)
	}
}

// Flush writes the verifications waiting to be kept in the store now (at
// shutdown; and in tests, which read the store next).
func (v *Verifier) Flush(ctx context.Context) error {
	if v.stored == nil {
		return nil
	}
	return v.stored.flush(ctx)
}

// storeReadTimeout bounds the second tier's read: a store that does not
// answer (a PostgreSQL behind a partition) must not spend the admission's
// deadline that the registry needs. A local SQLite read takes tens of
// microseconds, a PostgreSQL one a few milliseconds.
const storeReadTimeout = 250 * time.Millisecond

// fromStore is the cache's second tier: a verdict on digest kept in the
// store under key, made less than cacheTTL before now, and when it
// expires. Nil when there is none, or the store cannot say (the digest is
// then verified at its registry).
func (v *Verifier) fromStore(ctx context.Context, digest, key string, now time.Time) (*Result, time.Time) {
	if v.opts.lkg == nil {
		return nil, time.Time{}
	}
	ctx, cancel := context.WithTimeout(ctx, storeReadTimeout)
	defer cancel()
	b, at, ok, err := v.opts.lkg.GetVerification(ctx, digest, key)
	if err != nil {
		v.opts.log.Debug("reading a verification from the store", "digest", digest, "error", err)
		return nil, time.Time{}
	}
	expires := at.Add(cmp(v.cfg.CacheTTL.Duration, config.DefaultCacheTTL))
	if !ok || !now.Before(expires) {
		return nil, time.Time{}
	}
	var res Result
	if err := json.Unmarshal(b, &res); err != nil || !res.Verified || res.Digest != digest {
		return nil, time.Time{}
	}
	res.VerifiedAt, res.Stale, res.Cached = at, false, true
	return &res, expires
}
