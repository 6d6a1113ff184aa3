-- Index review at scale (one million executions, 3.6 million steps, 2.1
-- million artifacts; tests/slow/test_plans.py EXPLAINs every named query).
-- depends: 0003.workflow-history
-- transactional: false
--
-- These single-column indexes from the original design are used by no query's
-- plan, so they only cost writes (every COPY of steps paid for them) and
-- space. Each drop is justified by what the plans showed:
--   * ix_workflow_executions_status, ix_workflow_steps_status: a status
--     matches from 4 to 70 percent of a table; every query that filters on
--     status also filters on an owner (agent, execution, step name) and uses
--     the composite index that starts with it.
--   * ix_workflow_artifacts_artifact_type: artifacts are always read per
--     execution or per step (ix_workflow_artifacts_execution_type,
--     ix_workflow_artifacts_step_type).
--   * ix_workflow_executions_workflow_type: its only use was the stats report,
--     where the planner walked it over the whole table: 1.4 s against 0.9 s
--     for a sequential scan with a sort.
-- The design's composite indexes all stay; each is used by a named query.
--
-- Live-safe: outside a transaction (DROP INDEX CONCURRENTLY can't run in
-- one), each drop waits for the transactions using the index without
-- blocking reads or writes, and gives up after lock_timeout instead of
-- queueing everyone behind it. IF EXISTS makes a re-run after a failure
-- finish the job (an interrupted concurrent drop leaves an invalid index,
-- which the re-run drops). yoyo pairs each statement with the rollback
-- file's statement in the mirrored position, to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_status;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_workflow_type;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_steps_status;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_artifacts_artifact_type;
RESET statement_timeout;
RESET lock_timeout;
