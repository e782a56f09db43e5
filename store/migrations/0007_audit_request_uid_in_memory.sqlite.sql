-- A retried AdmissionRequest is found in the audit writer's memory of the
-- request uids appended in the last minutes (audit/uids.go), not with a
-- unique index: an index on a random UUID wrote a page of its own for every
-- record. The API server sends a request's uid again only while that
-- request lasts.
DROP INDEX audit_log_request_uid;
