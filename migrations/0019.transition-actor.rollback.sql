-- Undo 0019: the log's triggers as 0011 wrote them, and no actor column.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION optiinfra_log_execution_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, worker_id,
        attempt, reason, error_details, customer_id
    ) VALUES (
        NEW.id, NULL, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', NEW.worker_id, OLD.worker_id),
        NEW.attempt, ctx ->> 'reason',
        CASE WHEN NEW.status IN ('failed', 'timeout', 'pending') THEN NEW.error_details END,
        NEW.customer_id
    );
    PERFORM pg_notify('optiinfra_transitions', '');
    IF NEW.status = 'pending' THEN
        PERFORM pg_notify('optiinfra_work', NEW.workflow_type::text);
    END IF;
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION optiinfra_log_execution_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
    kind text;
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
        attempt, reason, error_details, customer_id
    )
    SELECT n.id, NULL, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           coalesce(ctx ->> 'worker_id', n.worker_id),
           n.attempt, ctx ->> 'reason',
           CASE WHEN n.status IN ('failed', 'timeout') THEN n.error_details END,
           n.customer_id
    FROM new_rows AS n;
    PERFORM pg_notify('optiinfra_transitions', '');
    FOR kind IN SELECT DISTINCT n.workflow_type::text FROM new_rows AS n WHERE n.status = 'pending'
    LOOP
        PERFORM pg_notify('optiinfra_work', kind);
    END LOOP;
    RETURN NULL;
END
$$;

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
        attempt, reason, error_details, customer_id
    ) VALUES (
        NEW.workflow_execution_id, NEW.id, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', run_worker, NEW.error_details ->> 'worker_id'),
        run_attempt, ctx ->> 'reason',
        CASE WHEN NEW.status = 'failed' THEN NEW.error_details END,
        NEW.customer_id
    );
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION optiinfra_log_step_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
        attempt, reason, error_details, customer_id
    )
    SELECT n.workflow_execution_id, n.id, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  WHEN 'retrying' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           ctx ->> 'worker_id', NULL, ctx ->> 'reason',
           CASE WHEN n.status = 'failed' THEN n.error_details END,
           n.customer_id
    FROM new_rows AS n;
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;

ALTER TABLE workflow_transitions DROP COLUMN IF EXISTS actor;
