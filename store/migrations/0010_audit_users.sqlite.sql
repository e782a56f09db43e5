-- The lookup by user moves from the index audit_log_user into a table
-- filled by the steps of audit/index.go, like the others. Each record's
-- user is a place in the middle of that index, so a batch wrote a page of
-- it per user, and SQLite's rebalancing of the pages around it more:
-- 6.2 of 30.7 WAL frames per commit at 64 writers with three users.
-- Every record with seq < audit_head.indexed has its row; those from there
-- on are found by audit_log's username column.
CREATE TABLE audit_users (
	username  TEXT    NOT NULL,
	seq       INTEGER NOT NULL,
	PRIMARY KEY (username, seq)
) WITHOUT ROWID;
INSERT INTO audit_users (username, seq)
	SELECT username, seq FROM audit_log ORDER BY username, seq;
DROP INDEX audit_log_user;
