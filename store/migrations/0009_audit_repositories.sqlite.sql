-- The lookup by image repository moves from the index
-- audit_images_repository into a table of its own. A step (audit/index.go)
-- adds its image rows to audit_images in digest order, which put each row
-- on a page of its own in an index ordered by repository and seq: 9.3 of
-- 38.5 WAL frames per commit at 64 writers. audit_repositories is filled
-- in its own order, so a step's rows for one repository share its last
-- pages.
--
-- Its rows are one per repository of a record: a query by repository
-- prefix reads a range of its key (audit/query.go). Every record with
-- seq < audit_head.indexed has its rows; those from there on are found in
-- audit_images_recent.
CREATE TABLE audit_repositories (
	repository  TEXT    NOT NULL,
	seq         INTEGER NOT NULL,
	PRIMARY KEY (repository, seq)
) WITHOUT ROWID;
INSERT INTO audit_repositories (repository, seq)
	SELECT DISTINCT repository, seq FROM audit_images ORDER BY repository, seq;
DROP INDEX audit_images_repository;
