-- PostgreSQL keeps its unique index on audit_log.request_uid: several
-- replicas append to one log, and each finds the others' records through
-- it. (On SQLite, version 7 drops the index; see audit/uids.go.)
SELECT 1;
