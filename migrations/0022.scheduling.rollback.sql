-- Undo 0022: no backoff function, no scheduling columns (their CHECKs go
-- with them). Dropping a column changes the catalog only (no rewrite).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

DROP FUNCTION IF EXISTS optiinfra_backoff(integer);
ALTER TABLE workflow_executions DROP CONSTRAINT IF EXISTS ck_workflow_executions_attempt_budget_positive;
ALTER TABLE workflow_executions DROP CONSTRAINT IF EXISTS ck_workflow_executions_idempotency_key;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS attempt_budget;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS idempotency_key;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS priority;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS run_after;
