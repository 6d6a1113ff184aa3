-- How long a run really took, and a step's restarts told from its retries
-- (issue: the record tells the truth).
--
-- * workflow_executions.first_started_at: when the run first started, kept
--   across requeues (started_at is reset on each claim, so a requeued run's
--   duration read from it was understated). A BEFORE trigger fills it from
--   started_at when started_at is set and it is still empty: every claim and
--   start, a run created as running, COPY and a DBA's raw UPDATE alike; it
--   fires only for the statements that set started_at, and its WHEN clause
--   keeps the function from being called once the column is filled. The rows
--   that existed before are filled by 0021 (in batches, from the log).
-- * the updated_at trigger of workflow_executions no longer fires for an
--   update whose only change is filling first_started_at (0021's backfill:
--   updated_at is what optimistic concurrency compares). The row is compared
--   as JSON only in that case, so the common update pays nothing more.
-- * workflow_steps.restart_count: how many times the step was started again
--   after its run was requeued (the reaper failed it with the dead worker's
--   attempt). A restart does not spend a retry: retry_count counts the
--   retries the step's own code asked for, restart_count the restarts.
-- * the step log's trigger keeps an attempt's error when the step goes from
--   running straight to retrying (workflow_steps.fail(..., retry=True)).
--
-- Locks: ADD COLUMN without a default (first_started_at) and with a constant
-- default (restart_count, PostgreSQL 11+) change the catalog only, no
-- rewrite, under brief ACCESS EXCLUSIVE locks bounded by lock_timeout; the
-- triggers are created or replaced under a SHARE ROW EXCLUSIVE lock, as
-- briefly; the functions are replaced in place.
--
-- depends: 0019.transition-actor

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS first_started_at timestamptz;
COMMENT ON COLUMN workflow_executions.first_started_at IS 'When the run first started, kept across requeues (started_at is the current attempt''s start); durations run from it. Filled by trg_workflow_executions_first_started.';

-- integer like retry_count beside it (a count of restarts stays small).
-- squawk-ignore prefer-bigint-over-int
ALTER TABLE workflow_steps ADD COLUMN IF NOT EXISTS restart_count integer NOT NULL DEFAULT 0;
COMMENT ON COLUMN workflow_steps.restart_count IS 'How many times the step was started again after its run was requeued (the reaper failed it); restarts do not spend retries (retry_count).';

CREATE OR REPLACE FUNCTION optiinfra_fill_first_started_at() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.first_started_at := NEW.started_at;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_first_started_at() IS 'BEFORE INSERT OR UPDATE OF started_at trigger function of workflow_executions: first_started_at takes the first started_at the run gets.';

CREATE OR REPLACE TRIGGER trg_workflow_executions_first_started
    BEFORE INSERT OR UPDATE OF started_at ON workflow_executions
    FOR EACH ROW WHEN (NEW.started_at IS NOT NULL AND NEW.first_started_at IS NULL)
    EXECUTE FUNCTION optiinfra_fill_first_started_at();

-- updated_at moves for every real change except filling first_started_at
-- alone.
CREATE OR REPLACE TRIGGER trg_workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND CASE WHEN OLD.first_started_at IS NOT DISTINCT FROM NEW.first_started_at
                                     OR OLD.first_started_at IS NOT NULL
                                THEN true
                                ELSE to_jsonb(OLD) - 'first_started_at'
                                     IS DISTINCT FROM to_jsonb(NEW) - 'first_started_at' END)
    EXECUTE FUNCTION optiinfra_set_updated_at();

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
        -- An attempt's error: a failure, or a failure that goes straight on
        -- to a retry.
        CASE WHEN NEW.status = 'failed'
                  OR (NEW.status = 'retrying' AND OLD.status = 'running')
             THEN NEW.error_details END,
        NEW.customer_id, ctx ->> 'actor'
    );
    PERFORM pg_notify('optiinfra_transitions', '');
    RETURN NULL;
END
$$;
