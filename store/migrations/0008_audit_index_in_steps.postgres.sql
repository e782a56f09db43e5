-- The audit log's lookups by object: audit_objects replaces the index
-- audit_log_object, as on SQLite, so that queries are the same on both.
-- PostgreSQL's writer fills audit_objects and audit_images in the
-- transaction of each record, so audit_head.indexed is always its size and
-- audit_images_recent stays empty; on SQLite they are filled in steps of
-- many records (audit/index.go).
CREATE TABLE audit_objects (
	namespace  TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	seq        BIGINT  NOT NULL,
	PRIMARY KEY (namespace, kind, name, seq)
);
INSERT INTO audit_objects (namespace, kind, name, seq)
	SELECT namespace, kind, name, seq FROM audit_log;
DROP INDEX audit_log_object;

CREATE TABLE audit_images_recent (
	seq         BIGINT  NOT NULL,
	digest      TEXT    NOT NULL,
	container   TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	PRIMARY KEY (seq, digest, container)
);

ALTER TABLE audit_head ADD COLUMN indexed BIGINT NOT NULL DEFAULT 0;
UPDATE audit_head SET indexed = size;
