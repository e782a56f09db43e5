-- The audit log's lookups by object and by image are kept up to date in
-- steps of many records, not record by record (audit/index.go): each
-- object and each digest is at its own place in its index, so a batch of
-- records for different objects wrote a page of each index per record.
--
-- audit_objects finds records by namespace, kind and name; it replaces the
-- index audit_log_object. Every record with seq < audit_head.indexed has
-- its row; those from there on are found by the columns of audit_log.
CREATE TABLE audit_objects (
	namespace  TEXT    NOT NULL,
	kind       TEXT    NOT NULL,
	name       TEXT    NOT NULL,
	seq        INTEGER NOT NULL,
	PRIMARY KEY (namespace, kind, name, seq)
) WITHOUT ROWID;
INSERT INTO audit_objects (namespace, kind, name, seq)
	SELECT namespace, kind, name, seq FROM audit_log ORDER BY namespace, kind, name, seq;
DROP INDEX audit_log_object;

-- The image rows of records not yet in audit_images, in seq order: a
-- record's are written here with it, and moved to audit_images by the
-- step that moves audit_head.indexed past it.
CREATE TABLE audit_images_recent (
	seq         INTEGER NOT NULL,
	digest      TEXT    NOT NULL,
	container   TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	PRIMARY KEY (seq, digest, container)
) WITHOUT ROWID;

ALTER TABLE audit_head ADD COLUMN indexed INTEGER NOT NULL DEFAULT 0;
UPDATE audit_head SET indexed = size;
