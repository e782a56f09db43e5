package signer

import (
	"context"

	"github.com/shipgate/shipgate/store"
)

// StorePins keeps rollout records and pins in the store.
func StorePins(db *store.DB) Pins { return storePins{db} }

type storePins struct{ db *store.DB }

func (p storePins) PutRollout(ctx context.Context, r Rollout) error {
	return p.db.PutRollout(ctx, store.Rollout{
		Fingerprint: r.Fingerprint, Namespace: r.Namespace, Kind: r.Kind, Name: r.Name, UID: r.UID,
		Digests: r.Digests, DecisionID: r.DecisionID, AdmittedAt: r.AdmittedAt,
	})
}

func (p storePins) PutPin(ctx context.Context, namespace, kind, name string, pin Pin) error {
	return p.db.PutPin(ctx, namespace, kind, name, store.Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt})
}

func (p storePins) GetPin(ctx context.Context, namespace, kind, name string) (Pin, bool, error) {
	pin, ok, err := p.db.GetPin(ctx, namespace, kind, name)
	return Pin{Fingerprint: pin.Fingerprint, Digests: pin.Digests, PinnedAt: pin.PinnedAt}, ok, err
}

func (p storePins) CountInherited(ctx context.Context, fingerprint string) error {
	return p.db.CountInherited(ctx, fingerprint)
}
