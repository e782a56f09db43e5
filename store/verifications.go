package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// PutVerification keeps a successful verification as last-known-good,
// keyed by digest and the cache key of the trust policy revision that
// verified it; a newer verification replaces an older one.
func (db *DB) PutVerification(ctx context.Context, digest, key string, result []byte, at time.Time) error {
	_, err := db.sql.ExecContext(ctx, db.Rebind(`INSERT INTO verifications (digest, trust_rev, result, verified_at) VALUES (?, ?, ?, ?)
		ON CONFLICT (digest, trust_rev) DO UPDATE SET result = excluded.result, verified_at = excluded.verified_at`),
		digest, key, string(result), at.UTC().UnixNano())
	if err != nil {
		return fmt.Errorf("keeping the verification of %s: %w", digest, err)
	}
	return nil
}

// GetVerification returns the last-known-good verification of digest
// under key, and when it was made.
func (db *DB) GetVerification(ctx context.Context, digest, key string) ([]byte, time.Time, bool, error) {
	var result string
	var at int64
	err := db.sql.QueryRowContext(ctx, db.Rebind(`SELECT result, verified_at FROM verifications WHERE digest = ? AND trust_rev = ?`),
		digest, key).Scan(&result, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, time.Time{}, false, nil
	}
	if err != nil {
		return nil, time.Time{}, false, fmt.Errorf("reading the verification of %s: %w", digest, err)
	}
	return []byte(result), time.Unix(0, at).UTC(), true, nil
}
