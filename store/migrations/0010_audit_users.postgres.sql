-- The lookup by user moves from the index audit_log_user into a table, as
-- on SQLite, so that queries are the same on both. PostgreSQL's writer
-- fills it with each record.
CREATE TABLE audit_users (
	username  TEXT    NOT NULL,
	seq       BIGINT  NOT NULL,
	PRIMARY KEY (username, seq)
);
INSERT INTO audit_users (username, seq)
	SELECT username, seq FROM audit_log;
DROP INDEX audit_log_user;
