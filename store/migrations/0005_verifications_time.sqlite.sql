-- Verifications are kept for the cache's second tier and last-known-good,
-- and pruned once older than either reads (store.PruneVerifications): by
-- time, without scanning the table.
CREATE INDEX verifications_time ON verifications (verified_at);
