-- The audit log: one row per record, seq from 0 without gaps; leaf is the
-- RFC 6962 leaf hash of the record's canonical JSON as first written, so a
-- redacted record (redacted = 1, record rewritten) keeps its place in the
-- tree. The filter columns copy fields of the record for queries.
CREATE TABLE audit_log (
	seq          BIGINT PRIMARY KEY,
	leaf         BYTEA   NOT NULL,
	record       TEXT    NOT NULL,
	recorded_at  BIGINT NOT NULL, -- Unix nanoseconds, UTC
	request_uid  TEXT,
	event        TEXT    NOT NULL,
	decision     TEXT    NOT NULL DEFAULT '',
	namespace    TEXT    NOT NULL DEFAULT '',
	kind         TEXT    NOT NULL DEFAULT '',
	name         TEXT    NOT NULL DEFAULT '',
	username     TEXT    NOT NULL DEFAULT '',
	redacted     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX audit_log_request_uid ON audit_log (request_uid) WHERE request_uid IS NOT NULL;
CREATE INDEX audit_log_object ON audit_log (namespace, kind, name, seq);
CREATE INDEX audit_log_time ON audit_log (recorded_at);
CREATE INDEX audit_log_user ON audit_log (username, seq);

-- The tree's head: its size and the compact range (the hashes that let the
-- next leaves be appended without reading the log), one row.
CREATE TABLE audit_head (
	id       INTEGER PRIMARY KEY CHECK (id = 1),
	size     BIGINT  NOT NULL,
	range    BYTEA   NOT NULL
);
INSERT INTO audit_head (id, size, range) VALUES (1, 0, '\x'::bytea);

-- Signed checkpoints in the transparency-dev note format.
CREATE TABLE audit_checkpoints (
	size        BIGINT PRIMARY KEY,
	root        BYTEA   NOT NULL,
	note        TEXT    NOT NULL,
	created_at  BIGINT  NOT NULL
);

-- Admitted rollouts: what inherited objects are admitted and pinned on.
CREATE TABLE rollouts (
	fingerprint  TEXT    PRIMARY KEY,
	namespace    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	uid          TEXT    NOT NULL DEFAULT '',
	digests      TEXT    NOT NULL, -- JSON: image reference → digest
	decision_id  TEXT    NOT NULL,
	audit_seq    BIGINT,
	admitted_at  BIGINT  NOT NULL
);
CREATE INDEX rollouts_object ON rollouts (namespace, kind, name, admitted_at);

-- Last-known-good verifications, by digest and trust policy revision.
CREATE TABLE verifications (
	digest        TEXT    NOT NULL,
	trust_rev     TEXT    NOT NULL,
	result        TEXT    NOT NULL, -- JSON facts
	verified_at   BIGINT  NOT NULL,
	PRIMARY KEY (digest, trust_rev)
);
