package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"
)

// Rollout is the record of one admitted rollout: what inherited objects
// are admitted and pinned on.
type Rollout struct {
	Fingerprint string
	Namespace   string
	Kind        string
	Name        string
	UID         string
	// Digests maps each image reference as written to its verified digest.
	Digests    map[string]string
	DecisionID string
	AdmittedAt time.Time
}

// Pin is the digests one object runs, and the rollout they came from.
type Pin struct {
	Fingerprint string
	Digests     map[string]string
	PinnedAt    time.Time
}

// Write is statements run inside a transaction another writer holds: the
// audit log runs a rollout's record in the transaction that appends the
// rollout's audit record, so both are committed or neither is, and one
// commit pays for both.
type Write func(ctx context.Context, tx *sql.Tx) error

// PutRollout records an admitted rollout and pins its object to its
// digests (see Pinned), in one transaction. Admitting the same fingerprint again (a
// re-apply) updates the decision and time.
func (db *DB) PutRollout(ctx context.Context, r Rollout) error {
	w, err := db.RolloutWrite(r)
	if err != nil {
		return err
	}
	return db.InTx(ctx, func(tx *sql.Tx) error { return w(ctx, tx) })
}

// RolloutWrite is what PutRollout writes, to run in another transaction.
func (db *DB) RolloutWrite(r Rollout) (Write, error) {
	digests, err := json.Marshal(r.Digests)
	if err != nil {
		return nil, fmt.Errorf("recording rollout: %w", err)
	}
	at := r.AdmittedAt.UTC().UnixNano()
	return func(ctx context.Context, tx *sql.Tx) error {
		st, err := db.stmts.In(ctx, db.sql, tx, db.Rebind(`INSERT INTO rollouts
			(fingerprint, namespace, kind, name, uid, digests, decision_id, admitted_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?)
			ON CONFLICT (fingerprint) DO UPDATE SET uid = excluded.uid, decision_id = excluded.decision_id, admitted_at = excluded.admitted_at`))
		if err == nil {
			_, err = st.ExecContext(ctx, r.Fingerprint, r.Namespace, r.Kind, r.Name, r.UID, string(digests), r.DecisionID, at)
		}
		if err != nil {
			return fmt.Errorf("recording rollout %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
		}
		if !Pinned(r.Kind) {
			return nil
		}
		if err := db.pin(ctx, tx, r.Namespace, r.Kind, r.Name, Pin{Fingerprint: r.Fingerprint, Digests: r.Digests, PinnedAt: r.AdmittedAt}, digests); err != nil {
			return fmt.Errorf("recording rollout %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
		}
		return nil
	}, nil
}

// Pinned says whether a rollout of kind keeps a pin: every kind whose
// objects own what inherits from them. A Pod owns nothing that does, so a
// bare Pod's rollout is recorded without one (nothing would ever read it).
func Pinned(kind string) bool { return kind != "Pod" }

// PutPin pins an inherited object (a ReplicaSet, a Job) to its owner's
// digests, and counts it on the owner's rollout record.
func (db *DB) PutPin(ctx context.Context, namespace, kind, name string, p Pin) error {
	digests, err := json.Marshal(p.Digests)
	if err != nil {
		return fmt.Errorf("pinning %s %s/%s: %w", kind, namespace, name, err)
	}
	err = db.InTx(ctx, func(tx *sql.Tx) error {
		if err := db.pin(ctx, tx, namespace, kind, name, p, digests); err != nil {
			return err
		}
		return countInherited(ctx, db, tx, p.Fingerprint)
	})
	if err != nil {
		return fmt.Errorf("pinning %s %s/%s: %w", kind, namespace, name, err)
	}
	return nil
}

// AddInherited adds counts of inherited objects, by rollout fingerprint,
// in one transaction, in fingerprint order (so replicas sharing PostgreSQL
// take the row locks in one order and never deadlock).
func (db *DB) AddInherited(ctx context.Context, counts map[string]int64) error {
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		for _, fp := range slices.Sorted(maps.Keys(counts)) {
			st, err := db.stmts.In(ctx, db.sql, tx, db.Rebind(`UPDATE rollouts SET inherited = inherited + ? WHERE fingerprint = ?`))
			if err == nil {
				_, err = st.ExecContext(ctx, counts[fp], fp)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("counting inherited objects on %d rollouts: %w", len(counts), err)
	}
	return nil
}

func countInherited(ctx context.Context, db *DB, tx *sql.Tx, fingerprint string) error {
	_, err := tx.ExecContext(ctx, db.Rebind(`UPDATE rollouts SET inherited = inherited + 1 WHERE fingerprint = ?`), fingerprint)
	return err
}

func (db *DB) pin(ctx context.Context, tx *sql.Tx, namespace, kind, name string, p Pin, digests []byte) error {
	st, err := db.stmts.In(ctx, db.sql, tx, db.Rebind(`INSERT INTO pins (namespace, kind, name, fingerprint, digests, pinned_at)
		VALUES (?, ?, ?, ?, ?, ?)
		ON CONFLICT (namespace, kind, name) DO UPDATE SET fingerprint = excluded.fingerprint, digests = excluded.digests, pinned_at = excluded.pinned_at`))
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, namespace, kind, name, p.Fingerprint, string(digests), p.PinnedAt.UTC().UnixNano())
	return err
}

// GetPin returns the digests an object is pinned to.
func (db *DB) GetPin(ctx context.Context, namespace, kind, name string) (Pin, bool, error) {
	var p Pin
	var digests string
	var at int64
	st, err := db.stmts.Get(ctx, db.sql, db.Rebind(`SELECT fingerprint, digests, pinned_at FROM pins WHERE namespace = ? AND kind = ? AND name = ?`))
	if err == nil {
		err = st.QueryRowContext(ctx, namespace, kind, name).Scan(&p.Fingerprint, &digests, &at)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return Pin{}, false, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(digests), &p.Digests)
	}
	if err != nil {
		return Pin{}, false, fmt.Errorf("reading the pin of %s %s/%s: %w", kind, namespace, name, err)
	}
	p.PinnedAt = time.Unix(0, at).UTC()
	return p, true, nil
}

// GetRollout returns the rollout record with this fingerprint and how many
// inherited objects were admitted on it.
func (db *DB) GetRollout(ctx context.Context, fingerprint string) (Rollout, int64, bool, error) {
	var r Rollout
	var digests string
	var at, inherited int64
	err := db.sql.QueryRowContext(ctx, db.Rebind(`SELECT fingerprint, namespace, kind, name, uid, digests, decision_id, admitted_at, inherited
		FROM rollouts WHERE fingerprint = ?`), fingerprint).Scan(&r.Fingerprint, &r.Namespace, &r.Kind, &r.Name, &r.UID, &digests, &r.DecisionID, &at, &inherited)
	if errors.Is(err, sql.ErrNoRows) {
		return Rollout{}, 0, false, nil
	}
	if err == nil {
		err = json.Unmarshal([]byte(digests), &r.Digests)
	}
	if err != nil {
		return Rollout{}, 0, false, fmt.Errorf("reading rollout %s: %w", fingerprint, err)
	}
	r.AdmittedAt = time.Unix(0, at).UTC()
	return r, inherited, true, nil
}
