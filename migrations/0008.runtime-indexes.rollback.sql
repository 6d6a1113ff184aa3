-- Rollback of 0008.runtime-indexes: drops the indexes (concurrently). The
-- validated CHECKs stay validated: the no-op SELECTs stand opposite the
-- VALIDATEs so that yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_lease;
SELECT 'ix_workflow_executions_running_lease: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_pending;
SELECT 'ix_workflow_executions_pending: its leftover drop has nothing to undo' AS nothing_to_undo;
SELECT 'ck_workflow_executions_attempt_nonnegative stays validated' AS nothing_to_undo;
SELECT 'ck_workflow_executions_max_attempts_positive stays validated' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
