-- Rollback of 0012.customer-on-children-backfill: drops the rules and the
-- unique key; the filled values stay (0011's rollback drops the columns). The
-- no-op SELECTs stand opposite the backfills, the VALIDATEs and the drop of an
-- invalid leftover, so that yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
SELECT 'ck_workflow_transitions_customer_present: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_transitions DROP CONSTRAINT IF EXISTS ck_workflow_transitions_customer_present;
SELECT 'fk_workflow_transitions_execution_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_transitions DROP CONSTRAINT IF EXISTS fk_workflow_transitions_execution_customer;
SELECT 'ck_workflow_artifacts_customer_present: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_artifacts DROP CONSTRAINT IF EXISTS ck_workflow_artifacts_customer_present;
SELECT 'fk_workflow_artifacts_execution_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_artifacts DROP CONSTRAINT IF EXISTS fk_workflow_artifacts_execution_customer;
SELECT 'ck_workflow_steps_customer_present: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_steps DROP CONSTRAINT IF EXISTS ck_workflow_steps_customer_present;
SELECT 'fk_workflow_steps_execution_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE workflow_steps DROP CONSTRAINT IF EXISTS fk_workflow_steps_execution_customer;
SELECT 'ck_approvals_customer_present: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE approvals DROP CONSTRAINT IF EXISTS ck_approvals_customer_present;
SELECT 'fk_approvals_recommendation_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE approvals DROP CONSTRAINT IF EXISTS fk_approvals_recommendation_customer;
DROP INDEX CONCURRENTLY IF EXISTS uq_workflow_executions_id_customer;
SELECT 'uq_workflow_executions_id_customer: its leftover drop has nothing to undo' AS nothing_to_undo;
SELECT 'workflow_transitions: its backfill has nothing to undo (0011''s rollback drops the column)' AS nothing_to_undo;
SELECT 'approvals, workflow_steps, workflow_artifacts: their backfill has nothing to undo (0011''s rollback drops the column)' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
