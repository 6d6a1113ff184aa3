-- Undo 0027: the bounds' triggers of 0026 and 0020 back, history_until
-- dropped (bookkeeping only: the log keeps every row). Locks as 0027 takes
-- them.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

LOCK TABLE workflow_executions IN ACCESS EXCLUSIVE MODE;
LOCK TABLE workflow_transitions IN SHARE ROW EXCLUSIVE MODE;

CREATE OR REPLACE FUNCTION optiinfra_delete_execution_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
    SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    IF current_setting('optiinfra.log_deleted', true) = 'on' THEN
        RETURN NULL;
    END IF;
    DELETE FROM workflow_transitions AS t
    USING old_rows AS o
    WHERE t.workflow_execution_id = o.id
      AND t.at >= coalesce(o.history_from, '-infinity');
    RETURN NULL;
END
$$;

CREATE OR REPLACE TRIGGER trg_workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*
                       AND CASE WHEN OLD.first_started_at IS NOT DISTINCT FROM NEW.first_started_at
                                     OR OLD.first_started_at IS NOT NULL
                                THEN true
                                ELSE to_jsonb(OLD) - 'first_started_at'
                                     IS DISTINCT FROM to_jsonb(NEW) - 'first_started_at' END)
    EXECUTE FUNCTION optiinfra_set_updated_at();

CREATE OR REPLACE TRIGGER trg_workflow_transitions_fill_customer BEFORE INSERT ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_check_transition_execution();
CREATE OR REPLACE FUNCTION optiinfra_check_transition_execution() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    SELECT e.customer_id INTO owner
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
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_check_transition_execution() IS 'BEFORE INSERT on workflow_transitions: the execution exists (read FOR KEY SHARE) and is the row''s customer''s; fills customer_id. Replaces the foreign keys fk_workflow_transitions_execution(_customer) (migration 0026).';

CREATE FUNCTION optiinfra_lower_history_from() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_executions SET history_from = NEW.at
    WHERE id = NEW.workflow_execution_id AND history_from > NEW.at;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_lower_history_from() IS 'BEFORE INSERT on workflow_transitions, for a move dated before its transaction began: lowers its execution''s history_from to it.';
CREATE TRIGGER trg_workflow_transitions_history_from BEFORE INSERT ON workflow_transitions
    FOR EACH ROW WHEN (NEW.at < now()) EXECUTE FUNCTION optiinfra_lower_history_from();
DO $$
BEGIN
    EXECUTE format('ALTER FUNCTION optiinfra_lower_history_from() OWNER TO %s',
                   (SELECT relowner::regrole FROM pg_class
                    WHERE oid = 'workflow_transitions'::regclass));
END
$$;

CREATE OR REPLACE FUNCTION optiinfra_fill_history_from() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_from := least(NEW.history_from, NEW.created_at, NEW.started_at,
                              NEW.completed_at, now());
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_history_from() IS 'BEFORE INSERT on workflow_executions: history_from, the earliest time its log can hold (its own times, or now).';

ALTER TABLE workflow_executions DROP COLUMN IF EXISTS history_until;
