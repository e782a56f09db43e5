-- The four lookups of the audit log become lists: a row per key and block
-- of 1,024 seqs, holding as a JSON array the seqs of that key's records in
-- the block (audit/index.go), in place of a row per record. A step of
-- 8,192 records for 256 objects, images and three users wrote 32,768
-- rows; it now writes a row per key it met, which on a log of repeated
-- users, repositories and images is a few hundred. `last` is the greatest
-- seq of the list: a query from a cursor reads the lists with last at or
-- past it.
--
-- Every record with seq < audit_head.indexed is in its lists; those from
-- there on are found by the columns of audit_log and in
-- audit_images_recent, as before. A list may name a record past indexed
-- (a step cut short), and a record may be in two lists of a key (the
-- step after it); queries and verification allow for both.
CREATE TABLE audit_object_lists (
	namespace  TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	last       INTEGER NOT NULL,
	seqs       TEXT    NOT NULL,
	PRIMARY KEY (namespace, kind, name, last)
) WITHOUT ROWID;
INSERT INTO audit_object_lists (namespace, kind, name, last, seqs)
	SELECT namespace, kind, name, max(seq), json_group_array(seq ORDER BY seq)
	FROM audit_objects GROUP BY namespace, kind, name, seq / 1024;
DROP TABLE audit_objects;

CREATE TABLE audit_image_lists (
	digest  TEXT    NOT NULL,
	last    INTEGER NOT NULL,
	seqs    TEXT    NOT NULL,
	PRIMARY KEY (digest, last)
) WITHOUT ROWID;
INSERT INTO audit_image_lists (digest, last, seqs)
	SELECT digest, max(seq), json_group_array(seq ORDER BY seq)
	FROM (SELECT DISTINCT digest, seq FROM audit_images) GROUP BY digest, seq / 1024;
DROP TABLE audit_images;

CREATE TABLE audit_repository_lists (
	repository  TEXT    NOT NULL,
	last        INTEGER NOT NULL,
	seqs        TEXT    NOT NULL,
	PRIMARY KEY (repository, last)
) WITHOUT ROWID;
INSERT INTO audit_repository_lists (repository, last, seqs)
	SELECT repository, max(seq), json_group_array(seq ORDER BY seq)
	FROM audit_repositories GROUP BY repository, seq / 1024;
DROP TABLE audit_repositories;

CREATE TABLE audit_user_lists (
	username  TEXT    NOT NULL,
	last      INTEGER NOT NULL,
	seqs      TEXT    NOT NULL,
	PRIMARY KEY (username, last)
) WITHOUT ROWID;
INSERT INTO audit_user_lists (username, last, seqs)
	SELECT username, max(seq), json_group_array(seq ORDER BY seq)
	FROM audit_users GROUP BY username, seq / 1024;
DROP TABLE audit_users;
