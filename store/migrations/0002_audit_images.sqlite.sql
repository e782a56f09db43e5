-- The images of each audit record, for queries by image digest and
-- repository: one row per container image of a record, written in the same
-- transaction as the record. Redaction keeps them (images are part of what
-- a record is about). The primary key serves digest lookups; a table
-- without rowid saves one B-tree insert per image on the append path.
CREATE TABLE audit_images (
	digest      TEXT    NOT NULL,
	seq         INTEGER NOT NULL,
	container   TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	PRIMARY KEY (digest, seq, container)
) WITHOUT ROWID;
CREATE INDEX audit_images_repository ON audit_images (repository, seq);
