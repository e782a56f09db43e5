-- A rollout record is written with every admitted rollout, in the audit
-- append's transaction, and read only by its fingerprint. The index on
-- (namespace, kind, name, admitted_at) was never read, and the table kept
-- its rows in a rowid B-tree beside the fingerprint's own index: three
-- B-trees, two of them at random places, per rollout. Now the rows live in
-- one B-tree keyed by fingerprint. Pins, written with every rollout of a
-- kind that owns inherited objects and read only by object, likewise live
-- in their key's B-tree.
CREATE TABLE rollouts_by_fingerprint (
	fingerprint  TEXT    NOT NULL PRIMARY KEY,
	namespace    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	uid          TEXT    NOT NULL DEFAULT '',
	digests      TEXT    NOT NULL, -- JSON: image reference → digest
	decision_id  TEXT    NOT NULL,
	audit_seq    INTEGER,
	admitted_at  INTEGER NOT NULL,
	inherited    INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
INSERT INTO rollouts_by_fingerprint
	(fingerprint, namespace, kind, name, uid, digests, decision_id, audit_seq, admitted_at, inherited)
	SELECT fingerprint, namespace, kind, name, uid, digests, decision_id, audit_seq, admitted_at, inherited FROM rollouts;
DROP TABLE rollouts;
ALTER TABLE rollouts_by_fingerprint RENAME TO rollouts;

CREATE TABLE pins_by_object (
	namespace    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	fingerprint  TEXT    NOT NULL,
	digests      TEXT    NOT NULL, -- JSON: image reference → digest
	pinned_at    INTEGER NOT NULL, -- Unix nanoseconds, UTC
	PRIMARY KEY (namespace, kind, name)
) WITHOUT ROWID;
INSERT INTO pins_by_object (namespace, kind, name, fingerprint, digests, pinned_at)
	SELECT namespace, kind, name, fingerprint, digests, pinned_at FROM pins;
DROP TABLE pins;
ALTER TABLE pins_by_object RENAME TO pins;
