-- Undo 0020: the step log's trigger as 0019 wrote it, the updated_at trigger
-- of workflow_executions as 0003 wrote it, no first_started_at (nor its
-- trigger) and no restart_count.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION optiinfra_log_step_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
    run_worker varchar(255);
    run_attempt integer;
BEGIN
    IF ctx IS NULL OR NOT ctx ? 'attempt' THEN
        SELECT e.worker_id, e.attempt INTO run_worker, run_attempt
        FROM workflow_executions AS e WHERE e.id = NEW.workflow_execution_id;
    ELSE
        run_attempt := (ctx ->> 'attempt')::integer;
    END IF;
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, worker_id,
        attempt, reason, error_details, customer_id, actor
    ) VALUES (
        NEW.workflow_execution_id, NEW.id, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', run_worker, NEW.error_details ->> 'worker_id'),
        run_attempt, ctx ->> 'reason',
        CASE WHEN NEW.status = 'failed' THEN NEW.error_details END,
        NEW.customer_id, ctx ->> 'actor'
    );
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER trg_workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

DROP TRIGGER IF EXISTS trg_workflow_executions_first_started ON workflow_executions;
DROP FUNCTION IF EXISTS optiinfra_fill_first_started_at();

ALTER TABLE workflow_steps DROP COLUMN IF EXISTS restart_count;
ALTER TABLE workflow_executions DROP COLUMN IF EXISTS first_started_at;
