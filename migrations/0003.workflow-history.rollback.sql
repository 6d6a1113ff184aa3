-- Rollback of 0003.workflow-history: removes exactly what it added.

-- The column's foreign key and index go with it.
ALTER TABLE agent_states DROP COLUMN current_workflow_id;

DROP TABLE workflow_artifacts;
DROP TABLE workflow_steps;
DROP TABLE workflow_executions;

DROP TYPE artifact_type;
DROP TYPE step_status;
DROP TYPE workflow_status;
DROP TYPE workflow_type;
