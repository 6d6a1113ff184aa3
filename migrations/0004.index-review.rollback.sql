-- Rollback of 0004.index-review: puts the dropped design indexes back, built
-- CONCURRENTLY (reads and writes go on; a failed build leaves an invalid
-- index: drop it and run the rollback again). Statements mirror the
-- migration's, in reverse, so yoyo can pair them.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_artifacts_artifact_type
    ON workflow_artifacts (artifact_type);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_steps_status ON workflow_steps (status);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_executions_workflow_type
    ON workflow_executions (workflow_type);
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_executions_status
    ON workflow_executions (status);
RESET statement_timeout;
RESET lock_timeout;
