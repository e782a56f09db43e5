package signer

import (
	"context"
	"time"

	"github.com/shipgate/shipgate/store"
)

// Pin is the digests one object runs and the rollout they were admitted
// with. A rollout's own object is pinned when it is admitted; a ReplicaSet
// or Job created beneath it copies its owner's pin, so the owner's Pods keep
// those digests even when a tag moves or the owner rolls on.
type Pin struct {
	Fingerprint string
	// Digests maps each image reference as written to its digest.
	Digests  map[string]string
	PinnedAt time.Time
}

// Rollout is the record of one admitted rollout.
type Rollout struct {
	Fingerprint string
	Namespace   string
	Kind        string
	Name        string
	UID         string
	Digests     map[string]string
	DecisionID  string
	AdmittedAt  time.Time
}

// Pins is where rollout records and pins are kept (the store).
type Pins interface {
	PutRollout(ctx context.Context, r Rollout) error
	// RolloutWrite is what PutRollout writes, for the audit log to run in
	// the transaction that appends the rollout's audit record; remember
	// keeps the pin in memory once the rollout is admitted.
	RolloutWrite(r Rollout) (w store.Write, remember func(), err error)
	PutPin(ctx context.Context, namespace, kind, name string, p Pin) error
	GetPin(ctx context.Context, namespace, kind, name string) (Pin, bool, error)
	// CountInherited counts one more inherited object on a rollout's
	// record. The count may be written later, with others (Flush).
	CountInherited(ctx context.Context, fingerprint string) error
	// Flush writes the counts CountInherited has not written yet.
	Flush(ctx context.Context) error
}

// PinnedRef is ref pinned to digest, the tag kept: "reg/app:1.2" and
// "sha256:…" give "reg/app:1.2@sha256:…". A reference that already
// carries a digest is returned as it is.
func PinnedRef(ref, digest string) string {
	for i := len(ref) - 1; i >= 0; i-- {
		switch ref[i] {
		case '@':
			return ref
		case '/':
			return ref + "@" + digest
		}
	}
	return ref + "@" + digest
}
