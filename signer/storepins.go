package signer

import (
	"context"
	"sync"
	"time"

	"k8s.io/utils/lru"

	"github.com/shipgate/shipgate/store"
)

// pinMemory is how many pins are also kept in memory (memPin: some 600
// bytes each for a five-image rollout with its key and LRU entry, at most
// about 30 MB).
const pinMemory = 50000

// countEvery is how long inherited counts wait to be written together: a
// rollout's hundred Pods cost one write, not a hundred transactions
// queueing for SQLite's write lock beside the audit log's.
const countEvery = 500 * time.Millisecond

// StorePins keeps rollout records and pins in the store, and the pins also
// in memory: while the store cannot be reached (a PostgreSQL restart), a
// Pod of a rollout admitted earlier is still pinned from the in-memory
// copy, so a node drain does not depend on the database. A pin written
// while the store is down is kept in memory and the error returned.
//
// Inherited counts are added up in memory and written every countEvery
// (and by Flush, at shutdown): a crash loses at most that long's counts,
// never a pin or a rollout record.
func StorePins(db *store.DB) Pins {
	return &storePins{db: db, mem: lru.New(pinMemory), counts: map[string]int64{}}
}

type storePins struct {
	db  *store.DB
	mem *lru.Cache

	mu      sync.Mutex
	counts  map[string]int64
	pending bool // a write of counts is scheduled
}

func pinKey(namespace, kind, name string) string { return namespace + "/" + kind + "/" + name }

func storeRollout(r Rollout) store.Rollout {
	return store.Rollout{
		Fingerprint: r.Fingerprint, Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, UID: r.UID,
		Digests: r.Digests, DecisionID: r.DecisionID, AdmittedAt: r.AdmittedAt,
	}
}

func (p *storePins) PutRollout(ctx context.Context, r Rollout) error {
	err := p.db.PutRollout(ctx, storeRollout(r))
	if err == nil {
		p.remember(r)
	}
	return err
}

func (p *storePins) RolloutWrite(r Rollout) (store.Write, func(), error) {
	w, err := p.db.RolloutWrite(storeRollout(r))
	if err != nil {
		return nil, nil, err
	}
	return w, func() { p.remember(r) }, nil
}

func (p *storePins) remember(r Rollout) {
	if !store.Pinned(r.Kind) {
		return
	}
	p.mem.Add(pinKey(r.Namespace, r.Kind, r.Name), compactPin(Pin{Fingerprint: r.Fingerprint, Digests: r.Digests, PinnedAt: r.AdmittedAt}))
}

func (p *storePins) PutPin(ctx context.Context, namespace, kind, name string, pin Pin) error {
	p.mem.Add(pinKey(namespace, kind, name), compactPin(pin))
	return p.db.PutPin(ctx, namespace, kind, name, store.Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt})
}

func (p *storePins) GetPin(ctx context.Context, namespace, kind, name string) (Pin, bool, error) {
	key := pinKey(namespace, kind, name)
	sp, ok, err := p.db.GetPin(ctx, namespace, kind, name)
	if err != nil {
		if m, hit := p.mem.Get(key); hit {
			return m.(memPin).pin(), true, nil
		}
		return Pin{}, false, err
	}
	pin := Pin{Fingerprint: sp.Fingerprint, Digests: sp.Digests, PinnedAt: sp.PinnedAt}
	if ok {
		if m, hit := p.mem.Get(key); !hit || m.(memPin).fingerprint() != pin.Fingerprint {
			p.mem.Add(key, compactPin(pin))
		}
	}
	return pin, ok, nil
}

// CountInherited adds one to the rollout's count in memory; the counts are
// written within countEvery.
func (p *storePins) CountInherited(_ context.Context, fingerprint string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[fingerprint]++
	p.scheduleLocked()
	return nil
}

// scheduleLocked arranges a flush within countEvery, unless one is
// arranged already. p.mu is held.
func (p *storePins) scheduleLocked() {
	if !p.pending {
		p.pending = true
		time.AfterFunc(countEvery, p.flushLater)
	}
}

func (p *storePins) flushLater() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = p.Flush(ctx) // counts that could not be written wait for the next flush
}

// Flush writes the counts in memory in one transaction. Counts it cannot
// write are kept and tried again within countEvery.
func (p *storePins) Flush(ctx context.Context) error {
	p.mu.Lock()
	counts := p.counts
	p.counts, p.pending = map[string]int64{}, false
	p.mu.Unlock()
	if len(counts) == 0 {
		return nil
	}
	err := p.db.AddInherited(ctx, counts)
	if err != nil {
		p.mu.Lock()
		for fp, n := range counts {
			p.counts[fp] += n
		}
		p.scheduleLocked()
		p.mu.Unlock()
	}
	return err
}
