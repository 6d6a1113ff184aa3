-- Plans that stay right on a live database (issue #7):
--
-- * workflow_steps / workflow_artifacts .workflow_execution_id: a fixed
--   n_distinct estimate (-0.05: distinct values are 5% of the rows, about 20
--   steps or artifacts per execution). ANALYZE taken while the table holds
--   one execution's rows says "every row matches", and get_detail's
--   correlated lookups then seq-scan the table for as long as the statistics
--   stay stale (measured: 12 ms against 0.4 ms over 100k dead rows). With the
--   override the lookup is estimated at ~20 rows whatever ANALYZE saw. The
--   DO block applies it now on a table that has rows (ANALYZE reads a
--   sample, holding only SHARE UPDATE EXCLUSIVE: reads and writes go on).
--   An empty table is left unanalysed on purpose: statistics saying "0
--   pages" make the foreign-key checks of the first bulk load plan a
--   sequential scan and keep it for the whole load (measured: a 50k-run
--   seed went from 14 s to 530 s).
-- * ix_workflow_executions_agent_open: an agent's pending and running
--   executions in created_at order, so list_active_for_agent reads one page
--   instead of the agent's whole backlog, and count_active_for_agent counts
--   from a small index. Built CONCURRENTLY (no write lock).
--
-- depends: 0005.live-safe-followups
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
ALTER TABLE workflow_steps ALTER COLUMN workflow_execution_id SET (n_distinct = -0.05);
ALTER TABLE workflow_artifacts ALTER COLUMN workflow_execution_id SET (n_distinct = -0.05);
DO $$
BEGIN
    IF EXISTS (SELECT 1 FROM workflow_steps) THEN
        ANALYZE workflow_steps (workflow_execution_id);
    END IF;
    IF EXISTS (SELECT 1 FROM workflow_artifacts) THEN
        ANALYZE workflow_artifacts (workflow_execution_id);
    END IF;
END
$$;
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_agent_open;
CREATE INDEX CONCURRENTLY ix_workflow_executions_agent_open
    ON workflow_executions (agent_id, created_at, id)
    WHERE status IN ('pending', 'running');
RESET statement_timeout;
RESET lock_timeout;
