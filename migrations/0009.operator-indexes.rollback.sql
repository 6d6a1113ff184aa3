-- Rollback of 0009.operator-indexes: drops the indexes (concurrently).
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_transitions_step_failures;
SELECT 'ix_workflow_transitions_step_failures: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_created;
SELECT 'ix_workflow_executions_running_created: its leftover drop has nothing to undo' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_completed;
SELECT 'ix_workflow_executions_completed: its leftover drop has nothing to undo' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
