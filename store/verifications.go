package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Verification is a successful verification as the store keeps it: the
// digest, the key of the trust policy revision that verified it, the
// result as JSON, and when it was made.
type Verification struct {
	Digest string
	Key    string
	Result []byte
	At     time.Time
}

// PutVerifications keeps successful verifications, each keyed by digest
// and the cache key of the trust policy revision that verified it (a newer
// one replaces an older), in one transaction, in (digest, key) order, so
// replicas sharing PostgreSQL take the row locks in one order.
func (db *DB) PutVerifications(ctx context.Context, vs []Verification) error {
	if len(vs) == 0 {
		return nil
	}
	vs = slices.SortedFunc(slices.Values(vs), func(a, b Verification) int {
		if c := strings.Compare(a.Digest, b.Digest); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	err := db.InTx(ctx, func(tx *sql.Tx) error {
		st, err := db.stmts.In(ctx, db.sql, tx, db.Rebind(`INSERT INTO verifications (digest, trust_rev, result, verified_at) VALUES (?, ?, ?, ?)
			ON CONFLICT (digest, trust_rev) DO UPDATE SET result = excluded.result, verified_at = excluded.verified_at`))
		if err != nil {
			return err
		}
		for _, v := range vs {
			if _, err := st.ExecContext(ctx, v.Digest, v.Key, string(v.Result), v.At.UTC().UnixNano()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		if len(vs) == 1 {
			return fmt.Errorf("keeping the verification of %s: %w", vs[0].Digest, err)
		}
		return fmt.Errorf("keeping %d verifications: %w", len(vs), err)
	}
	return nil
}

// GetVerification returns the verification of digest kept under key, and
// when it was made.
func (db *DB) GetVerification(ctx context.Context, digest, key string) ([]byte, time.Time, bool, error) {
	var result string
	var at int64
	st, err := db.stmts.Get(ctx, db.sql, db.Rebind(`SELECT result, verified_at FROM verifications WHERE digest = ? AND trust_rev = ?`))
	if err == nil {
		err = st.QueryRowContext(ctx, digest, key).Scan(&result, &at)
	}
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("reading the verification of %s: %w", digest, err)
	}
	return []byte(result), time.Unix(0, at).UTC(), true, nil
}

// pruneChunk is how many verifications one pruning statement deletes: a
// long backlog is deleted in short transactions, so the audit log's
// appends never wait long behind it.
const pruneChunk = 1000

// PruneVerifications deletes the verifications made before before, and
// returns how many it deleted.
func (db *DB) PruneVerifications(ctx context.Context, before time.Time) (int64, error) {
	var total int64
	for {
		res, err := db.sql.ExecContext(ctx, db.Rebind(`DELETE FROM verifications WHERE (digest, trust_rev) IN
			(SELECT digest, trust_rev FROM verifications WHERE verified_at < ? ORDER BY verified_at LIMIT ?)`),
			before.UTC().UnixNano(), pruneChunk)
		if err != nil {
			return total, fmt.Errorf("pruning verifications older than %s: %w", before.UTC().Format(time.RFC3339), err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return total, fmt.Errorf("pruning verifications: %w", err)
		}
		total += n
		if n < pruneChunk {
			return total, nil
		}
	}
}
