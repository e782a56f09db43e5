-- Pins: the digests each admitted rollout, and each object created beneath
-- it, runs. A rollout writes its own row when admitted; an inherited
-- ReplicaSet or Job copies its owner's row when it is created, so its Pods
-- keep those digests even after the owner rolls on or a tag moves. Pods
-- are pinned from their owner's row and never written here.
CREATE TABLE pins (
	namespace    TEXT    NOT NULL,
	kind         TEXT    NOT NULL,
	name         TEXT    NOT NULL,
	fingerprint  TEXT    NOT NULL,
	digests      TEXT    NOT NULL, -- JSON: image reference → digest
	pinned_at    INTEGER  NOT NULL, -- Unix nanoseconds, UTC
	PRIMARY KEY (namespace, kind, name)
);

-- How many inherited objects were admitted on each rollout's record.
ALTER TABLE rollouts ADD COLUMN inherited INTEGER NOT NULL DEFAULT 0;
