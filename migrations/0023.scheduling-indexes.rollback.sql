-- Rollback of 0023.scheduling-indexes: drops the indexes (concurrently).
-- The validated CHECKs stay validated (0022's rollback drops them): the
-- no-op SELECTs stand opposite the VALIDATEs and the leftover drops so that
-- yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_customer;
SELECT 'ix_workflow_executions_running_customer: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_delayed;
SELECT 'ix_workflow_executions_delayed: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ux_workflow_executions_idempotency;
SELECT 'ux_workflow_executions_idempotency: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_queue;
SELECT 'ix_workflow_executions_queue: its leftover drop has nothing to undo' AS nothing_to_undo;
SELECT 'ck_workflow_executions_attempt_budget_positive stays validated' AS nothing_to_undo;
SELECT 'ck_workflow_executions_idempotency_key stays validated' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
