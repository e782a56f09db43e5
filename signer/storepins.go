package signer

import (
	"context"

	"k8s.io/utils/lru"

	"github.com/shipgate/shipgate/store"
)

// pinMemory is how many pins are also kept in memory.
const pinMemory = 50000

// StorePins keeps rollout records and pins in the store, and the pins also
// in memory: while the store cannot be reached (a PostgreSQL restart), a
// Pod of a rollout admitted earlier is still pinned from the in-memory
// copy, so a node drain does not depend on the database. A pin written
// while the store is down is kept in memory and the error returned.
func StorePins(db *store.DB) Pins {
	return &storePins{db: db, mem: lru.New(pinMemory)}
}

type storePins struct {
	db  *store.DB
	mem *lru.Cache
}

func pinKey(namespace, kind, name string) string { return namespace + "/" + kind + "/" + name }

func (p *storePins) PutRollout(ctx context.Context, r Rollout) error {
	err := p.db.PutRollout(ctx, store.Rollout{
		Fingerprint: r.Fingerprint, Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, UID: r.UID,
		Digests: r.Digests, DecisionID: r.DecisionID, AdmittedAt: r.AdmittedAt,
	})
	if err == nil {
		p.mem.Add(pinKey(r.Namespace, r.Kind, r.Name), Pin{Fingerprint: r.Fingerprint, Digests: r.Digests, PinnedAt: r.AdmittedAt})
	}
	return err
}

func (p *storePins) PutPin(ctx context.Context, namespace, kind, name string, pin Pin) error {
	p.mem.Add(pinKey(namespace, kind, name), pin)
	return p.db.PutPin(ctx, namespace, kind, name, store.Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt})
}

func (p *storePins) GetPin(ctx context.Context, namespace, kind, name string) (Pin, bool, error) {
	key := pinKey(namespace, kind, name)
	sp, ok, err := p.db.GetPin(ctx, namespace, kind, name)
	if err != nil {
		if m, hit := p.mem.Get(key); hit {
			return m.(Pin), true, nil
		}
		return Pin{}, false, err
	}
	pin := Pin{Fingerprint: sp.Fingerprint, Digests: sp.Digests, PinnedAt: sp.PinnedAt}
	if ok {
		p.mem.Add(key, pin)
	}
	return pin, ok, nil
}

func (p *storePins) CountInherited(ctx context.Context, fingerprint string) error {
	return p.db.CountInherited(ctx, fingerprint)
}
