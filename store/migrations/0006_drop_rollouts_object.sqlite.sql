-- A rollout record is written with every admitted rollout, in the audit
-- append's transaction, and read only by its fingerprint (the primary
-- key). The index on (namespace, kind, name, admitted_at) was never read;
-- every rollout paid for it.
DROP INDEX rollouts_object;
