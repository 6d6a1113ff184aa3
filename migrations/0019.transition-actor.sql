-- Who made each move (issue: the record tells the truth).
--
-- workflow_transitions.worker_id names the run's holder, so an operator's
-- cancel and the reaper's requeue were logged under the dead worker's id.
-- The new column actor names who made the move: the worker for its own
-- calls, "reaper" for reap_expired (or what its actor= says), the caller for
-- an operator's call; NULL for a move made outside the library (raw SQL,
-- COPY). The library passes it to the log's triggers in the same
-- transaction-local setting as the reason (optiinfra.transition, stamped with
-- the statement's start), so a later statement does not inherit it.
--
-- The library bounds it (1..255 characters, like a worker id); no CHECK, whose
-- validation would scan the whole log.
--
-- Locks: ADD COLUMN without a default changes the catalog only (no rewrite),
-- under a brief ACCESS EXCLUSIVE lock bounded by lock_timeout; the functions
-- are replaced in place (the triggers keep pointing at them).
--
-- depends: 0018.customer-authenticate

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_transitions ADD COLUMN IF NOT EXISTS actor text;
COMMENT ON COLUMN workflow_transitions.actor IS 'Who made the move: the worker for its own calls, reaper for reap_expired, the caller''s actor for an operator''s call; NULL outside the library (raw SQL, COPY). worker_id is the run''s holder.';

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

CREATE OR REPLACE FUNCTION optiinfra_log_execution_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
    kind text;
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
        attempt, reason, error_details, customer_id, actor
    )
    SELECT n.id, NULL, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           coalesce(ctx ->> 'worker_id', n.worker_id),
           n.attempt, ctx ->> 'reason',
           CASE WHEN n.status IN ('failed', 'timeout') THEN n.error_details END,
           n.customer_id, ctx ->> 'actor'
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

CREATE OR REPLACE FUNCTION optiinfra_log_step_insert() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    ctx jsonb := optiinfra_transition_context();
BEGIN
    INSERT INTO workflow_transitions (
        workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
        attempt, reason, error_details, customer_id, actor
    )
    SELECT n.workflow_execution_id, n.id, NULL, n.status::text,
           coalesce(CASE n.status WHEN 'pending' THEN n.created_at
                                  WHEN 'running' THEN n.started_at
                                  WHEN 'retrying' THEN n.started_at
                                  ELSE n.completed_at END, clock_timestamp()),
           ctx ->> 'worker_id', NULL, ctx ->> 'reason',
           CASE WHEN n.status = 'failed' THEN n.error_details END,
           n.customer_id, ctx ->> 'actor'
    FROM new_rows AS n;
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;
