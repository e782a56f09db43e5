-- The images of each audit record, for queries by image digest and
-- repository: one row per container image of a record, written in the same
-- transaction as the record. Redaction keeps them (images are part of what
-- a record is about). The primary key serves digest lookups.
CREATE TABLE audit_images (
	digest      TEXT    NOT NULL,
	seq         BIGINT  NOT NULL,
	container   TEXT    NOT NULL,
	repository  TEXT    NOT NULL,
	PRIMARY KEY (digest, seq, container)
);
CREATE INDEX audit_images_repository ON audit_images (repository, seq);
