-- Rollback of 0021.first-start-backfill: rebuilds
-- ix_workflow_executions_started_at CONCURRENTLY (after an invalid leftover
-- of an interrupted rollback); the filled values stay (0020's rollback drops
-- the column). The no-op SELECT stands opposite the backfill, so that yoyo
-- pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_started_at;
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_executions_started_at
    ON workflow_executions (started_at);
SELECT 'workflow_executions: the first_started_at backfill has nothing to undo (0020''s rollback drops the column)' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
