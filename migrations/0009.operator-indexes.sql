-- Indexes for the operator queries and retention (issue #9), built
-- CONCURRENTLY (no write lock):
--
-- * ix_workflow_executions_completed: runs by when they finished, for the
--   finished_since / finished_until windows of the execution lists and for
--   purge's "finished before the cutoff" batches, in (completed_at, id)
--   order. Partial: an unfinished run (completed_at NULL) is not in it.
-- * ix_workflow_executions_running_created: the running runs newest first,
--   for list_running; partial, so it holds only what is running now.
-- * ix_workflow_transitions_step_failures: failed step attempts by time, for
--   failure_summary; partial, so it holds only the failures.
--
-- depends: 0008.runtime-indexes
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_completed;
CREATE INDEX CONCURRENTLY ix_workflow_executions_completed
    ON workflow_executions (completed_at, id)
    WHERE completed_at IS NOT NULL;
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_created;
CREATE INDEX CONCURRENTLY ix_workflow_executions_running_created
    ON workflow_executions (created_at DESC, id DESC)
    WHERE status = 'running';
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_transitions_step_failures;
CREATE INDEX CONCURRENTLY ix_workflow_transitions_step_failures
    ON workflow_transitions (at)
    WHERE to_status = 'failed' AND workflow_step_id IS NOT NULL;
RESET statement_timeout;
RESET lock_timeout;
