-- Index review at scale (one million executions, 3.6 million steps, 2.1
-- million artifacts; tests/slow/test_plans.py EXPLAINs every named query).
-- depends: 0003.workflow-history
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

DROP INDEX ix_workflow_executions_status;
DROP INDEX ix_workflow_executions_workflow_type;
DROP INDEX ix_workflow_steps_status;
DROP INDEX ix_workflow_artifacts_artifact_type;
