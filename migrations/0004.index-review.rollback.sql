-- Rollback of 0004.index-review: puts the dropped design indexes back.

CREATE INDEX ix_workflow_executions_status ON workflow_executions (status);
CREATE INDEX ix_workflow_executions_workflow_type ON workflow_executions (workflow_type);
CREATE INDEX ix_workflow_steps_status ON workflow_steps (status);
CREATE INDEX ix_workflow_artifacts_artifact_type ON workflow_artifacts (artifact_type);
