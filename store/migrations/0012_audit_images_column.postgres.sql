-- SQLite finds the images of records not yet in its lookups by a column of
-- audit_log from this version (see its file). PostgreSQL's writer adds
-- each record to its lookups as it appends it, so its audit_images_recent
-- has always been empty.
DROP TABLE audit_images_recent;
