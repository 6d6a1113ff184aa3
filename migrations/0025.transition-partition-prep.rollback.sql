-- Rollback of 0025.transition-partition-prep: drops the (id, at) index
-- (concurrently), the range CHECK and workflow_executions.history_from. The
-- no-op SELECTs stand opposite statements with nothing to undo, so that yoyo
-- pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ux_workflow_transitions_id_at;
SELECT 'ux_workflow_transitions_id_at: its leftover drop has nothing to undo' AS nothing_to_undo;
SELECT 'ck_workflow_transitions_first_partition: dropped below' AS nothing_to_undo;
ALTER TABLE workflow_transitions DROP CONSTRAINT IF EXISTS ck_workflow_transitions_first_partition;
SELECT 'workflow_executions.history_from: dropped below' AS nothing_to_undo;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS history_from;
RESET statement_timeout;
RESET lock_timeout;
