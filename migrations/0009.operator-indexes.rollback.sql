-- Rollback of 0009.operator-indexes: drops the indexes (concurrently).
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_transitions_step_failures;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_running_created;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_completed;
RESET statement_timeout;
RESET lock_timeout;
