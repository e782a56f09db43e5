-- Approval requests: one row per request for one rollout fingerprint. At
-- most one request per fingerprint is pending (the partial unique index), so
-- replicas admitting the same rollout at once share one request. Times are
-- Unix nanoseconds, UTC, from the store's clock. requirements, images and
-- requester are JSON.
CREATE TABLE approval_requests (
	id                  TEXT    PRIMARY KEY,
	namespace           TEXT    NOT NULL,
	kind                TEXT    NOT NULL,
	name                TEXT    NOT NULL,
	fingerprint         TEXT    NOT NULL,
	images              TEXT    NOT NULL,
	requirements        TEXT    NOT NULL,
	requester           TEXT    NOT NULL, -- username, for filters and the self-approval rule
	requester_info      TEXT    NOT NULL, -- JSON: username, uid, groups
	state               TEXT    NOT NULL, -- pending, approved, used, rejected, expired
	break_glass         INTEGER NOT NULL DEFAULT 0,
	break_glass_reason  TEXT    NOT NULL DEFAULT '',
	decision_id         TEXT    NOT NULL DEFAULT '', -- the admission decision that asked, if one did
	created_at          INTEGER NOT NULL,
	expires_at          INTEGER NOT NULL,
	decided_at          INTEGER NOT NULL DEFAULT 0, -- approved, rejected or expired
	used_at             INTEGER NOT NULL DEFAULT 0, -- first admission it allowed
	uses                INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX approval_requests_one_pending ON approval_requests (fingerprint) WHERE state = 'pending';
CREATE INDEX approval_requests_fingerprint ON approval_requests (fingerprint, state);
CREATE INDEX approval_requests_namespace ON approval_requests (namespace, state, created_at);
CREATE INDEX approval_requests_expiry ON approval_requests (state, expires_at);

-- Votes: one approval and one rejection at most per person and request (the
-- primary key), so a vote cast twice, from two replicas at once, counts once.
CREATE TABLE approval_votes (
	request_id   TEXT    NOT NULL REFERENCES approval_requests (id),
	username     TEXT    NOT NULL,
	verdict      TEXT    NOT NULL, -- approve, reject
	voter        TEXT    NOT NULL, -- JSON: username, uid, groups when voting
	break_glass  INTEGER NOT NULL DEFAULT 0,
	comment      TEXT    NOT NULL DEFAULT '',
	voted_at     INTEGER NOT NULL,
	PRIMARY KEY (request_id, username, verdict)
);

-- Approval events waiting for, or given to, the audit log: written in the
-- transaction that changes the request, appended to the log after it
-- commits (audit_seq set then), retried until appended.
CREATE TABLE approval_events (
	id          TEXT    PRIMARY KEY,
	request_id  TEXT    NOT NULL,
	record      TEXT    NOT NULL, -- JSON of the audit record to append
	created_at  INTEGER NOT NULL,
	audit_seq   INTEGER
);
CREATE INDEX approval_events_unaudited ON approval_events (created_at) WHERE audit_seq IS NULL;
