-- Workflow runtime (issue #8): claims with leases, fencing, recovery, and a
-- transition log the database keeps itself.
--
-- * workflow_executions gains who holds a run (worker_id), until when
--   (lease_expires_at), its last heartbeat, how many times it was claimed
--   (attempt) and how many claims it may have (max_attempts >= 1). The new
--   columns are nullable or have constant defaults: no table rewrite (PG 11+
--   stores the default in the catalogue). The CHECKs are added NOT VALID (no
--   scan under the lock) and validated by 0008 outside this transaction.
-- * workflow_transitions: one row per status change of an execution or of a
--   step, including the first status at insert, written by triggers whatever
--   wrote the row (the library, COPY, or an UPDATE typed in psql). The
--   library's lifecycle statements pass the reason and the worker of the move
--   through the transaction-local setting optiinfra.transition, stamped with
--   statement_timestamp(): a later statement of the same transaction (a raw
--   UPDATE after a library call) does not inherit it.
--   workflow_step_id has no foreign key on purpose: the log is an audit trail
--   and keeps a deleted step's moves until its execution is deleted (then
--   ON DELETE CASCADE removes them).
-- * The log's triggers also announce on commit (NOTIFY, never for a
--   transaction that rolls back): optiinfra_transitions (empty payload, so
--   PostgreSQL folds them to one per transaction) whenever a statement logs
--   a transition, for watchers that then read the log from where they
--   stand; optiinfra_work, with the workflow type as payload, when an
--   execution becomes pending (inserted as pending, or requeued), so an idle
--   worker wakes to claim.
-- * The claim and reaper indexes are built CONCURRENTLY by 0008.
--
-- depends: 0006.plan-stability

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

-- The column types are the issue's contract (varchar(255) as the record
-- checks it; int4 counters, CHECK-bounded and small).
ALTER TABLE workflow_executions
    -- squawk-ignore prefer-text-field
    ADD COLUMN worker_id varchar(255),
    ADD COLUMN lease_expires_at timestamptz,
    ADD COLUMN heartbeat_at timestamptz,
    -- squawk-ignore prefer-bigint-over-int
    ADD COLUMN attempt integer NOT NULL DEFAULT 0,
    -- squawk-ignore prefer-bigint-over-int
    ADD COLUMN max_attempts integer NOT NULL DEFAULT 1;
ALTER TABLE workflow_executions ADD CONSTRAINT ck_workflow_executions_max_attempts_positive
    CHECK (max_attempts >= 1) NOT VALID;
ALTER TABLE workflow_executions ADD CONSTRAINT ck_workflow_executions_attempt_nonnegative
    CHECK (attempt >= 0) NOT VALID;

COMMENT ON COLUMN workflow_executions.worker_id IS 'Worker that claimed it (kept after it ends: who ran it); NULL if never claimed or requeued.';
COMMENT ON COLUMN workflow_executions.lease_expires_at IS 'While running: the claim holds until then; the reaper requeues or times out a run past it.';
COMMENT ON COLUMN workflow_executions.heartbeat_at IS 'Last claim or heartbeat of the worker holding it.';
COMMENT ON COLUMN workflow_executions.attempt IS 'How many times it was claimed (or started), 0 before the first.';
COMMENT ON COLUMN workflow_executions.max_attempts IS 'Claims allowed: past it, an expired lease times the run out instead of requeuing it (>= 1).';

CREATE TABLE workflow_transitions (
    id                    bigint       GENERATED ALWAYS AS IDENTITY,
    workflow_execution_id uuid         NOT NULL,
    workflow_step_id      uuid,
    from_status           text,
    to_status             text         NOT NULL,
    at                    timestamptz  NOT NULL DEFAULT clock_timestamp(),
    worker_id             text,
    attempt               bigint,
    reason                text,
    error_details         jsonb,
    CONSTRAINT pk_workflow_transitions PRIMARY KEY (id),
    CONSTRAINT fk_workflow_transitions_execution FOREIGN KEY (workflow_execution_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE
);
-- An execution's log in order (history, a step's attempts) and the cascade
-- from workflow_executions.
-- The table is created by this transaction: nothing else can write to it.
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX ix_workflow_transitions_execution ON workflow_transitions (workflow_execution_id, id);

COMMENT ON TABLE workflow_transitions IS 'Every status change of a workflow execution or step, written by triggers.';
COMMENT ON COLUMN workflow_transitions.id IS 'Assigned in order from a sequence (an execution''s moves are serialised by its row lock).';
COMMENT ON COLUMN workflow_transitions.workflow_execution_id IS 'Execution moved, or whose step moved (CASCADE).';
COMMENT ON COLUMN workflow_transitions.workflow_step_id IS 'Step moved; NULL for a move of the execution itself. No foreign key: the log outlives a deleted step.';
COMMENT ON COLUMN workflow_transitions.from_status IS 'Status before; NULL for the status a row was inserted with.';
COMMENT ON COLUMN workflow_transitions.to_status IS 'Status after.';
COMMENT ON COLUMN workflow_transitions.at IS 'When the move was written; for the first status of an inserted row, the row''s own time for it (created_at, started_at or completed_at).';
COMMENT ON COLUMN workflow_transitions.worker_id IS 'Worker of the call, else the worker holding the execution.';
COMMENT ON COLUMN workflow_transitions.attempt IS 'The execution''s attempt number at the move.';
COMMENT ON COLUMN workflow_transitions.reason IS 'Why, as the caller gave it (or claimed, lease_expired ...); NULL for a move made outside the library.';
COMMENT ON COLUMN workflow_transitions.error_details IS 'The error of this move: of a failed step attempt, a failed or timed-out run, a requeue.';

-- The reason and worker the current statement passed, or NULL (no library
-- call in this statement: a raw UPDATE, COPY, a later statement).
CREATE FUNCTION optiinfra_transition_context() RETURNS jsonb
    LANGUAGE plpgsql STABLE AS $$
DECLARE
    ctx jsonb := nullif(current_setting('optiinfra.transition', true), '')::jsonb;
BEGIN
    IF ctx IS NULL OR (ctx ->> 'at')::timestamptz <> statement_timestamp() THEN
        RETURN NULL;
    END IF;
    RETURN ctx;
END
$$;
COMMENT ON FUNCTION optiinfra_transition_context() IS 'The transition context (reason, worker_id, attempt) set by the current statement, else NULL.';

-- An execution's status change (row level: fires only when status changes).
CREATE FUNCTION optiinfra_log_execution_update() RETURNS trigger
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

-- The first status of inserted executions (statement level: one INSERT for
-- a whole COPY). Its time is the row's own for that status (created_at for
-- pending, started_at for running, completed_at for an ended run), so
-- imported history keeps when things happened; clock time when unset.
CREATE FUNCTION optiinfra_log_execution_insert() RETURNS trigger
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

-- A step's status change. Worker and attempt come from the statement's
-- context, else from the step's execution as it stands.
CREATE FUNCTION optiinfra_log_step_update() RETURNS trigger
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

-- The first status of inserted steps (statement level).
CREATE FUNCTION optiinfra_log_step_insert() RETURNS trigger
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

CREATE TRIGGER trg_workflow_executions_log_insert AFTER INSERT ON workflow_executions
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION optiinfra_log_execution_insert();
CREATE TRIGGER trg_workflow_executions_log_update AFTER UPDATE OF status ON workflow_executions
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION optiinfra_log_execution_update();
CREATE TRIGGER trg_workflow_steps_log_insert AFTER INSERT ON workflow_steps
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION optiinfra_log_step_insert();
CREATE TRIGGER trg_workflow_steps_log_update AFTER UPDATE OF status ON workflow_steps
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION optiinfra_log_step_update();
