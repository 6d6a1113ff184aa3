-- Follow-ups of 0003 that a live database must not do under one lock: the
-- index on agent_states.current_workflow_id, built CONCURRENTLY, and the
-- validation of its foreign key (added NOT VALID by 0003), which scans the
-- table holding only SHARE UPDATE EXCLUSIVE (reads and writes go on).
-- On a database whose 0003 built both already, both statements are no-ops.
-- depends: 0004.index-review
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
-- Serves ON DELETE SET NULL from workflow_executions and "which agent runs this".
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ix_agent_states_current_workflow;
CREATE INDEX CONCURRENTLY ix_agent_states_current_workflow
    ON agent_states (current_workflow_id);
ALTER TABLE agent_states VALIDATE CONSTRAINT fk_agent_states_current_workflow;
RESET statement_timeout;
RESET lock_timeout;
