-- An index for the one statement row-level security (0013) left without a
-- usable index: workflow_steps.list_by_name under a customer scope.
--
-- A policy's qual is evaluated before the user's quals, and only leakproof
-- operators may jump ahead of it into an index scan. Enum equality is not
-- leakproof, so in a scoped session `status = ...` cannot use
-- ix_workflow_steps_name_status; with step_name alone the planner chose a
-- sequential scan of every step (seen at a million executions). This index
-- holds the step name (text equality is leakproof), then the policy's own
-- column, in the list's order: a scoped page reads one customer's steps of
-- that name newest first and stops at the page (status filtered on the way).
-- The name leads, not customer_id: the foreign keys' cascade and checks look
-- steps up by (workflow_execution_id, customer_id), and an index led by
-- customer_id lured their generic plan into reading all of a customer's
-- steps for each execution deleted (a customer's delete took 78 s instead
-- of 1).
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
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_steps_name_customer_created;
CREATE INDEX CONCURRENTLY IF NOT EXISTS ix_workflow_steps_name_customer_created
    ON workflow_steps (step_name, customer_id, created_at DESC, id DESC);
RESET statement_timeout;
RESET lock_timeout;
