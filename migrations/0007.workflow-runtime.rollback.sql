-- Rollback of 0007.workflow-runtime: the triggers, their functions, the
-- transition log and the runtime columns (their data is lost: the claims
-- and leases of running executions, and the log).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

DROP TRIGGER IF EXISTS trg_workflow_steps_log_update ON workflow_steps;
DROP TRIGGER IF EXISTS trg_workflow_steps_log_insert ON workflow_steps;
DROP TRIGGER IF EXISTS trg_workflow_executions_log_update ON workflow_executions;
DROP TRIGGER IF EXISTS trg_workflow_executions_log_insert ON workflow_executions;
DROP FUNCTION IF EXISTS optiinfra_log_step_insert();
DROP FUNCTION IF EXISTS optiinfra_log_step_update();
DROP FUNCTION IF EXISTS optiinfra_log_execution_insert();
DROP FUNCTION IF EXISTS optiinfra_log_execution_update();
DROP FUNCTION IF EXISTS optiinfra_transition_context();
DROP TABLE IF EXISTS workflow_transitions;
-- The CHECKs go with the columns they check.
ALTER TABLE workflow_executions
    -- squawk-ignore ban-drop-constraint
    DROP CONSTRAINT IF EXISTS ck_workflow_executions_attempt_nonnegative,
    -- squawk-ignore ban-drop-constraint
    DROP CONSTRAINT IF EXISTS ck_workflow_executions_max_attempts_positive,
    DROP COLUMN IF EXISTS max_attempts,
    DROP COLUMN IF EXISTS attempt,
    DROP COLUMN IF EXISTS heartbeat_at,
    DROP COLUMN IF EXISTS lease_expires_at,
    DROP COLUMN IF EXISTS worker_id;
