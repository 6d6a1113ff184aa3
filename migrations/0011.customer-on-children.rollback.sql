-- Undo 0011: the log's triggers write as in 0007, the updated_at triggers
-- fire on every change again, the fill triggers and the columns go (0012's
-- rollback has dropped the rules on them first).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION optiinfra_log_execution_update() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, worker_id,
        attempt, reason, error_details
    ) VALUES (
        NEW.id, NULL, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', NEW.worker_id, OLD.worker_id),
        NEW.attempt, ctx ->> 'reason',
        CASE WHEN NEW.status IN ('failed', 'timeout', 'pending') THEN NEW.error_details END
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
        attempt, reason, error_details
    )
    SELECT n.id, NULL, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           coalesce(ctx ->> 'worker_id', n.worker_id),
           n.attempt, ctx ->> 'reason',
           CASE WHEN n.status IN ('failed', 'timeout') THEN n.error_details END
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
        attempt, reason, error_details
    ) VALUES (
        NEW.workflow_execution_id, NEW.id, OLD.status::text, NEW.status::text,
        coalesce(ctx ->> 'worker_id', run_worker, NEW.error_details ->> 'worker_id'),
        run_attempt, ctx ->> 'reason',
        CASE WHEN NEW.status = 'failed' THEN NEW.error_details END
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
        attempt, reason, error_details
    )
    SELECT n.workflow_execution_id, n.id, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  WHEN 'retrying' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           ctx ->> 'worker_id', NULL, ctx ->> 'reason',
           CASE WHEN n.status = 'failed' THEN n.error_details END
    FROM new_rows AS n;
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER trg_approvals_updated_at BEFORE UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();
CREATE OR REPLACE TRIGGER trg_workflow_steps_updated_at BEFORE UPDATE ON workflow_steps
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();
CREATE OR REPLACE TRIGGER trg_workflow_artifacts_updated_at BEFORE UPDATE ON workflow_artifacts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

DROP TRIGGER IF EXISTS trg_workflow_transitions_fill_customer ON workflow_transitions;
DROP TRIGGER IF EXISTS trg_workflow_artifacts_fill_customer ON workflow_artifacts;
DROP TRIGGER IF EXISTS trg_workflow_steps_fill_customer ON workflow_steps;
DROP TRIGGER IF EXISTS trg_approvals_fill_customer ON approvals;
DROP FUNCTION IF EXISTS optiinfra_fill_customer_from_recommendation();
DROP FUNCTION IF EXISTS optiinfra_fill_customer_from_execution();

ALTER TABLE workflow_transitions DROP COLUMN IF EXISTS customer_id;
ALTER TABLE workflow_artifacts DROP COLUMN IF EXISTS customer_id;
ALTER TABLE workflow_steps DROP COLUMN IF EXISTS customer_id;
ALTER TABLE approvals DROP COLUMN IF EXISTS customer_id;
