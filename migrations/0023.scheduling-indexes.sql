-- The indexes scheduling reads, built CONCURRENTLY (no write lock), and
-- 0022's CHECKs validated (a scan under SHARE UPDATE EXCLUSIVE: reads and
-- writes go on).
--
-- * ix_workflow_executions_queue: the pending executions in claim order,
--   priority (higher first), then when each became claimable
--   (coalesce(run_after, created_at)), then id: claim reads the head of the
--   queue; a run not yet due is passed over inside the index (its due time
--   is in the key), without a heap visit. Partial: the queue only.
-- * ux_workflow_executions_idempotency: one run per customer and key.
-- * ix_workflow_executions_delayed: the pending runs that have a run_after,
--   by it: wait_for_work reads the next due time from its first entry.
-- * ix_workflow_executions_running_customer: a customer's running runs, for
--   claim(per_customer_limit=...) to count (index-only, at most the limit).
--
-- ix_workflow_executions_pending (the queue oldest first, which the claim
-- of the previous release reads) stays until that release is gone: a
-- service still running it during the deploy keeps an index-backed claim.
--
-- depends: 0022.scheduling
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
ALTER TABLE workflow_executions VALIDATE CONSTRAINT ck_workflow_executions_idempotency_key;
ALTER TABLE workflow_executions VALIDATE CONSTRAINT ck_workflow_executions_attempt_budget_positive;
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_queue;
CREATE INDEX CONCURRENTLY ix_workflow_executions_queue
    ON workflow_executions (priority DESC, (coalesce(run_after, created_at)), id)
    WHERE status = 'pending';
DROP INDEX CONCURRENTLY IF EXISTS ux_workflow_executions_idempotency;
CREATE UNIQUE INDEX CONCURRENTLY ux_workflow_executions_idempotency
    ON workflow_executions (customer_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_delayed;
CREATE INDEX CONCURRENTLY ix_workflow_executions_delayed
    ON workflow_executions (run_after)
    WHERE status = 'pending' AND run_after IS NOT NULL;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_customer;
CREATE INDEX CONCURRENTLY ix_workflow_executions_running_customer
    ON workflow_executions (customer_id)
    WHERE status = 'running';
RESET statement_timeout;
RESET lock_timeout;
