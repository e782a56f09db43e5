// Package audit is shipgate's tamper-evident audit log: every admitted
// rollout, denial, approval event, redaction and read of the log is a
// Record, appended durably (group commit: concurrent appends share one
// transaction) to one RFC 6962 Merkle tree kept in the store, whether that is
// an embedded SQLite file or a PostgreSQL database shared by several
// replicas.
//
// A record's leaf is the hash of its canonical JSON, so its payload can later
// be redacted (Redact, itself audited) without breaking the tree. Signed
// checkpoints in the transparency-dev note format commit to the tree every N
// records or T time; InclusionProof and ConsistencyProof let anyone check a
// record or an extension against a checkpoint, and Verify recomputes the
// whole log, naming the first record that does not match.
package audit
