-- Undo 0024: the execution log's trigger function as 0019 wrote it (no
-- optiinfra_cancel announcement).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION optiinfra_log_execution_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, worker_id,
        attempt, reason, error_details, customer_id, actor
    ) VALUES (
        NEW.id, NULL, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', NEW.worker_id, OLD.worker_id),
        NEW.attempt, ctx ->> 'reason',
        CASE WHEN NEW.status IN ('failed', 'timeout', 'pending') THEN NEW.error_details END,
        NEW.customer_id, ctx ->> 'actor'
    );
    PERFORM pg_notify('optiinfra_transitions', '');
    IF NEW.status = 'pending' THEN
        PERFORM pg_notify('optiinfra_work', NEW.workflow_type::text);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optiinfra_log_execution_update() IS NULL;
