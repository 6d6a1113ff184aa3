-- Rollback of 0006.plan-stability: drops the index (concurrently) and the
-- n_distinct overrides (the next ANALYZE estimates from its sample again).
-- The no-op SELECT stands opposite the ANALYZE block so that yoyo pairs the
-- other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_agent_open;
SELECT 'ix_workflow_executions_agent_open: its leftover drop has nothing to undo' AS nothing_to_undo;
SELECT 'statistics are refreshed by the next ANALYZE' AS nothing_to_undo;
ALTER TABLE workflow_artifacts ALTER COLUMN workflow_execution_id RESET (n_distinct);
ALTER TABLE workflow_steps ALTER COLUMN workflow_execution_id RESET (n_distinct);
RESET statement_timeout;
RESET lock_timeout;
