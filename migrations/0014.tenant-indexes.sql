-- An index for the one statement row-level security (0013) left without a
-- usable index: workflow_steps.list_by_name under a customer scope.
--
-- A policy's qual is evaluated before the user's quals, and only leakproof
-- operators may jump ahead of it into an index scan. Enum equality is not
-- leakproof, so in a scoped session `status = ...` cannot use
-- ix_workflow_steps_name_status; with step_name alone the planner chose a
-- sequential scan of every step (seen at a million executions). This index
-- leads with the policy's own column, then the step name (text equality is
-- leakproof), in the list's order: a scoped page reads one customer's steps
-- of that name newest first and stops at the page (status filtered on the
-- way).
--
-- Built CONCURRENTLY (no write lock), after dropping an invalid leftover of
-- an interrupted run (IF NOT EXISTS would keep it).
--
-- depends: 0013.tenant-isolation
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_steps_customer_name_created;
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_steps_customer_name_created
    ON workflow_steps (customer_id, step_name, created_at DESC, id DESC);
RESET statement_timeout;
RESET lock_timeout;
