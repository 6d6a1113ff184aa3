-- An upper bound per run on the times of its log (issue: history that
-- scales).
--
-- With only history_from (0025) known, a run's log was read, and deleted
-- by purge, from its week to now: every later partition's index probed,
-- per run. At 10 M runs over a year that made purge's batches after the
-- partition drop 5.6x slower than on the plain log (make bench-history).
-- workflow_executions.history_until bounds the log from above:
--
-- * set when the run is inserted: its latest own time (created, run_after,
--   started, completed) plus a day (a run imported with its past times
--   gets bounds around them: its later moves, if any, raise them);
-- * raised by the log's insert trigger (which already reads the run FOR KEY
--   SHARE) when a move at or past it is written: to the move's time plus a
--   day, so a run that lives long updates its row at most once a day of
--   its life. The same trigger now also lowers history_from (it replaces
--   0026's trg_workflow_transitions_history_from), and runs on an UPDATE of
--   a log row's time or run too (a DBA's edit keeps the bounds true);
-- * NULL (runs older than this migration): no upper bound, read to now.
--
-- Every transition of a run R then has R.history_from <= at <
-- R.history_until (a NULL bound: unbounded), in the same transaction that
-- writes it: history, attempts, a watch of one run, purge and the log's
-- delete trigger read [history_from, history_until) only, so one or two
-- weekly partitions per run.
--
-- The bounds are bookkeeping: moving them alone does not move updated_at
-- (trg_workflow_executions_updated_at gains that exception, as 0020 gave
-- first_started_at).
--
-- Locks: ADD COLUMN without a default is a catalog change (a moment's
-- ACCESS EXCLUSIVE on workflow_executions under lock_timeout); the triggers
-- are replaced under SHARE ROW EXCLUSIVE of each table (writers wait, for
-- a moment). Tables locked in the order writers take them: workflow_executions,
-- then the log.
--
-- depends: 0026.transition-partitions

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS history_until timestamptz;
COMMENT ON COLUMN workflow_executions.history_until IS 'Upper bound (exclusive) on "at" of the execution''s transition log, kept by the log''s insert trigger (the log is read below it: partition pruning); NULL for executions older than migration 0027: no bound.';

CREATE OR REPLACE FUNCTION optiinfra_fill_history_from() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_from := least(NEW.history_from, NEW.created_at, NEW.started_at,
                              NEW.completed_at, now());
    NEW.history_until := greatest(NEW.history_until,
                                  greatest(NEW.created_at, NEW.run_after, NEW.started_at,
                                           NEW.completed_at) + interval '1 day');
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_history_from() IS 'BEFORE INSERT on workflow_executions: history_from and history_until, the bounds of the times its log holds as it is made (its own times, or now; a day past the latest); the log''s insert trigger widens them for a move outside.';

-- The insert check of 0026, keeping the bounds as well.
CREATE OR REPLACE FUNCTION optiinfra_check_transition_execution() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
    run_from timestamptz;
    run_until timestamptz;
BEGIN
    SELECT e.customer_id, e.history_from, e.history_until INTO owner, run_from, run_until
    FROM workflow_executions AS e WHERE e.id = NEW.workflow_execution_id
    FOR KEY SHARE;
    IF NOT FOUND OR owner IS DISTINCT FROM coalesce(NEW.customer_id, owner) THEN
        RAISE EXCEPTION 'insert or update on table "workflow_transitions" violates foreign key constraint "%"',
                CASE WHEN FOUND THEN 'fk_workflow_transitions_execution_customer'
                     ELSE 'fk_workflow_transitions_execution' END
            USING ERRCODE = 'foreign_key_violation',
                  TABLE = 'workflow_transitions',
                  CONSTRAINT = CASE WHEN FOUND THEN 'fk_workflow_transitions_execution_customer'
                                    ELSE 'fk_workflow_transitions_execution' END,
                  DETAIL = format('Key (workflow_execution_id)=(%s) is not present in table "workflow_executions".',
                                  NEW.workflow_execution_id);
    END IF;
    NEW.customer_id := owner;
    -- A bound the move falls outside of moves. Monotone (least/greatest),
    -- so two writers widening it at once agree. A NULL bound (a run older
    -- than 0025/0027: its log unbounded on that side) stays NULL: least and
    -- greatest skip NULLs, and would bound it by this move alone.
    IF NEW.at < run_from OR NEW.at >= run_until THEN
        UPDATE workflow_executions
        SET history_from = CASE WHEN history_from IS NOT NULL
                                THEN least(history_from, NEW.at) END,
            history_until = CASE WHEN history_until IS NOT NULL
                                 THEN greatest(history_until, NEW.at + interval '1 day') END
        WHERE id = NEW.workflow_execution_id;
    END IF;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_check_transition_execution() IS 'BEFORE INSERT OR UPDATE OF at, workflow_execution_id on workflow_transitions: the execution exists (read FOR KEY SHARE) and is the row''s customer''s; fills customer_id; widens the execution''s history_from/history_until to hold the row. Replaces the foreign keys fk_workflow_transitions_execution(_customer) (migration 0026).';

-- Only an edit of the bounds: updated_at stays (as for first_started_at).
CREATE OR REPLACE TRIGGER trg_workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND CASE WHEN (OLD.first_started_at IS NOT DISTINCT FROM NEW.first_started_at
                                      OR OLD.first_started_at IS NOT NULL)
                                     AND OLD.history_from IS NOT DISTINCT FROM NEW.history_from
                                     AND OLD.history_until IS NOT DISTINCT FROM NEW.history_until
                                THEN true
                                ELSE to_jsonb(OLD) - ARRAY['first_started_at', 'history_from', 'history_until']
                                     IS DISTINCT FROM
                                     to_jsonb(NEW) - ARRAY['first_started_at', 'history_from', 'history_until'] END)
    EXECUTE FUNCTION optiinfra_set_updated_at();

DROP TRIGGER IF EXISTS trg_workflow_transitions_history_from ON workflow_transitions;
-- Only the trigger just dropped called it (its work is the check's now).
-- squawk-ignore ban-drop-function
DROP FUNCTION IF EXISTS optiinfra_lower_history_from();
CREATE OR REPLACE TRIGGER trg_workflow_transitions_fill_customer
    BEFORE INSERT OR UPDATE OF at, workflow_execution_id ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_check_transition_execution();

-- The log of deleted runs, read within their bounds, and never JIT-compiled:
-- the planner costs the probes as if every partition were read for every
-- run (run-time pruning is not costed), which passes jit_above_cost, and
-- JIT then spent about 115 ms compiling a join that runs in 10.
CREATE OR REPLACE FUNCTION optiinfra_delete_execution_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
    SET enable_hashjoin = off SET enable_mergejoin = off SET jit = off AS $$
BEGIN
    -- purge deletes (and counts) the log itself in the same statement, and
    -- says so: its runs' log is not looked for a second time.
    IF current_setting('optiinfra.log_deleted', true) = 'on' THEN
        RETURN NULL;
    END IF;
    DELETE FROM workflow_transitions AS t
    USING old_rows AS o
    WHERE t.workflow_execution_id = o.id
      AND t.at >= coalesce(o.history_from, '-infinity')
      AND t.at < coalesce(o.history_until, 'infinity');
    RETURN NULL;
END
$$;
