// Package store is the database behind shipgate's audit log, approvals,
// rollout records and last-known-good verifications: an embedded SQLite
// file (modernc.org/sqlite, pure Go; WAL, synchronous=FULL) for a single
// replica, or PostgreSQL (pgx) when several replicas share one log. Both run
// the same versioned schema, applied at Open.
package store
