-- Follow-ups of 0007 that a live database must not do under one lock:
--
-- * VALIDATE the CHECKs 0007 added NOT VALID (a scan holding only SHARE
--   UPDATE EXCLUSIVE: reads and writes go on).
-- * ix_workflow_executions_pending: the pending executions oldest first, so
--   claim reads the head of the queue (FOR UPDATE SKIP LOCKED) instead of
--   every pending row; partial, so it holds only the queue.
-- * ix_workflow_executions_running_lease: running executions by lease end,
--   so reap_expired reads only the expired ones.
-- Both built CONCURRENTLY (no write lock).
--
-- depends: 0007.workflow-runtime
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
ALTER TABLE workflow_executions VALIDATE CONSTRAINT ck_workflow_executions_max_attempts_positive;
ALTER TABLE workflow_executions VALIDATE CONSTRAINT ck_workflow_executions_attempt_nonnegative;
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_pending;
CREATE INDEX CONCURRENTLY ix_workflow_executions_pending
    ON workflow_executions (created_at, id)
    WHERE status = 'pending';
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_lease;
CREATE INDEX CONCURRENTLY ix_workflow_executions_running_lease
    ON workflow_executions (lease_expires_at)
    WHERE status = 'running';
RESET statement_timeout;
RESET lock_timeout;
