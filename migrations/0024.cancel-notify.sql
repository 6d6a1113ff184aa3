-- Cancellation that reaches the running worker (issue: a worker loop in the
-- library).
--
-- When a running run is cancelled (or moved out of running by anyone but its
-- holder: an operator's cancel, fail or time-out), the log's trigger also
-- announces it on the channel optiinfra_cancel, the run's id as payload, at
-- commit (NOTIFY is transactional: a rolled-back cancel announces nothing).
-- run_worker listens on it and stops the handler of that run within a second
-- of the commit, even while the handler writes nothing. The holder's own
-- moves (complete, fail, requeue with its worker_id) announce nothing: the
-- transition context then names the holder as the worker that moved it.
--
-- Locks: the function is replaced in place (the trigger keeps pointing at
-- it); no table is touched.
--
-- depends: 0023.scheduling-indexes

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
    -- A running run taken from its holder: tell the holder (run_worker).
    IF OLD.status = 'running' AND NEW.status IN ('cancelled', 'failed', 'timeout')
       AND OLD.worker_id IS NOT NULL
       AND (ctx IS NULL OR ctx ->> 'worker_id' IS DISTINCT FROM OLD.worker_id) THEN
        PERFORM pg_notify('optiinfra_cancel', NEW.id::text);
    END IF;
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optiinfra_log_execution_update() IS 'AFTER UPDATE OF status trigger function of workflow_executions: logs the move; announces it (optiinfra_transitions), new work (optiinfra_work) and a running run taken from its holder (optiinfra_cancel, the run id).';
