-- The images of a record not yet in the lookups (seq >= audit_head.indexed)
-- are found by a column of its audit_log row instead of by rows of
-- audit_images_recent: `images`, a JSON array of the record's distinct
-- [digest, repository] pairs, written with the record. A second table,
-- its rows and their later deletion had cost the writer a fifth of its
-- time at 64 writers (docs/performance.md).
--
-- The records in the lookups already keep images NULL: their images are
-- in the lists, which is where queries and verification look for them.
-- Those not yet there get theirs from audit_images_recent.
ALTER TABLE audit_log ADD COLUMN images TEXT;
UPDATE audit_log SET images = (
	SELECT json_group_array(json_array(digest, repository))
	FROM (SELECT DISTINCT digest, repository FROM audit_images_recent r WHERE r.seq = audit_log.seq))
WHERE seq >= (SELECT indexed FROM audit_head WHERE id = 1);
DROP TABLE audit_images_recent;
