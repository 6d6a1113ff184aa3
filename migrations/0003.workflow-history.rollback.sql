-- Rollback of 0003.workflow-history: removes exactly what it added.

-- The column's foreign key and index go with it.

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

ALTER TABLE agent_states DROP COLUMN current_workflow_id;

DROP TABLE workflow_artifacts;
DROP TABLE workflow_steps;
DROP TABLE workflow_executions;

DROP TYPE artifact_type;
DROP TYPE step_status;
DROP TYPE workflow_status;
DROP TYPE workflow_type;
