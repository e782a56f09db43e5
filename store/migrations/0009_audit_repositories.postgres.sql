-- The lookup by image repository moves from the index
-- audit_images_repository into a table of its own, as on SQLite, so that
-- queries are the same on both. The column compares bytes (COLLATE "C"),
-- so that a query by repository prefix reads a range of the key, as it
-- does on SQLite (audit/query.go). PostgreSQL's writer fills it with each
-- record.
CREATE TABLE audit_repositories (
	repository  TEXT COLLATE "C" NOT NULL,
	seq         BIGINT  NOT NULL,
	PRIMARY KEY (repository, seq)
);
INSERT INTO audit_repositories (repository, seq)
	SELECT DISTINCT repository, seq FROM audit_images;
DROP INDEX audit_images_repository;
