-- The customer of every customer-owned row, on the row itself (issue #11).
--
-- approvals, workflow_steps, workflow_artifacts and workflow_transitions
-- belonged to a customer only through their parent (a recommendation, an
-- execution). Row-level security (0013) needs the customer on the row: a
-- policy that looks the parent up cannot see a parent inserted by the same
-- statement (create_with_steps inserts an execution and its steps in one),
-- and costs a probe per row read. So each gets customer_id:
--
-- * this migration (one transaction, brief locks, no scan): the nullable
--   column (no rewrite); a BEFORE INSERT trigger that fills it from the
--   parent when the writer does not give it, so every existing writer (the
--   library, COPY, a service not yet upgraded) keeps working unchanged; the
--   transition log's triggers write it from the row they log; and the
--   updated_at triggers of these tables no longer fire for the update that
--   only fills a missing customer_id (0012's backfill must not look like an
--   edit: updated_at is what optimistic concurrency compares).
-- * 0012 (outside a transaction): the backfill in batches, then the rules,
--   NOT VALID then VALIDATE: customer_id present, and equal to the parent's
--   (composite foreign keys to the parent's (id, customer_id)).
--
-- depends: 0010.optimization-owner

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE approvals ADD COLUMN customer_id uuid;
ALTER TABLE workflow_steps ADD COLUMN customer_id uuid;
ALTER TABLE workflow_artifacts ADD COLUMN customer_id uuid;
ALTER TABLE workflow_transitions ADD COLUMN customer_id uuid;
COMMENT ON COLUMN approvals.customer_id IS 'Customer of the recommendation (filled from it on insert; foreign key to recommendations (id, customer_id)).';
COMMENT ON COLUMN workflow_steps.customer_id IS 'Customer of the execution (filled from it on insert; foreign key to workflow_executions (id, customer_id)).';
COMMENT ON COLUMN workflow_artifacts.customer_id IS 'Customer of the execution (filled from it on insert; foreign key to workflow_executions (id, customer_id)).';
COMMENT ON COLUMN workflow_transitions.customer_id IS 'Customer of the execution (written by the log triggers; foreign key to workflow_executions (id, customer_id)).';

-- Fill customer_id from the parent when the insert did not give it. The
-- lookup runs as the writer: under row-level security a parent of another
-- customer is not found, exactly like a missing one, and both raise the
-- foreign key violation the parent's foreign key would have (same
-- constraint, same detail), so the caller cannot tell them apart.
CREATE FUNCTION optiinfra_fill_customer_from_execution() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NULL THEN
        SELECT e.customer_id INTO NEW.customer_id
        FROM workflow_executions AS e WHERE e.id = NEW.workflow_execution_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                    TG_TABLE_NAME, format('fk_%s_execution', TG_TABLE_NAME)
                USING ERRCODE = 'foreign_key_violation',
                      TABLE = TG_TABLE_NAME,
                      CONSTRAINT = format('fk_%s_execution', TG_TABLE_NAME),
                      DETAIL = format('Key (workflow_execution_id)=(%s) is not present in table "workflow_executions".',
                                      NEW.workflow_execution_id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_customer_from_execution() IS 'BEFORE INSERT: customer_id from the row''s workflow execution when not given.';

CREATE FUNCTION optiinfra_fill_customer_from_recommendation() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.customer_id IS NULL THEN
        SELECT r.customer_id INTO NEW.customer_id
        FROM recommendations AS r WHERE r.id = NEW.recommendation_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'insert or update on table "approvals" violates foreign key constraint "fk_approvals_recommendation"'
                USING ERRCODE = 'foreign_key_violation',
                      TABLE = 'approvals',
                      CONSTRAINT = 'fk_approvals_recommendation',
                      DETAIL = format('Key (recommendation_id)=(%s) is not present in table "recommendations".',
                                      NEW.recommendation_id);
        END IF;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_customer_from_recommendation() IS 'BEFORE INSERT: customer_id from the row''s recommendation when not given.';

CREATE TRIGGER trg_approvals_fill_customer BEFORE INSERT ON approvals
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_customer_from_recommendation();
CREATE TRIGGER trg_workflow_steps_fill_customer BEFORE INSERT ON workflow_steps
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_customer_from_execution();
CREATE TRIGGER trg_workflow_artifacts_fill_customer BEFORE INSERT ON workflow_artifacts
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_customer_from_execution();
CREATE TRIGGER trg_workflow_transitions_fill_customer BEFORE INSERT ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_customer_from_execution();

-- updated_at moves for every real change except filling a missing customer_id.
CREATE OR REPLACE TRIGGER trg_approvals_updated_at BEFORE UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND NOT (OLD.customer_id IS NULL AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION optiinfra_set_updated_at();
CREATE OR REPLACE TRIGGER trg_workflow_steps_updated_at BEFORE UPDATE ON workflow_steps
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND NOT (OLD.customer_id IS NULL AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION optiinfra_set_updated_at();
CREATE OR REPLACE TRIGGER trg_workflow_artifacts_updated_at BEFORE UPDATE ON workflow_artifacts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND NOT (OLD.customer_id IS NULL AND NEW.customer_id IS NOT NULL))
    EXECUTE FUNCTION optiinfra_set_updated_at();

-- The log's triggers write the customer of the row they log (no lookup).
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
