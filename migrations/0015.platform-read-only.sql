-- What a customer scope may do to the platform's rows (issue: promises that
-- hold under attack).
--
-- Agents and their configs, states, capabilities and metrics are the
-- platform's: every customer's runs, recommendations and optimizations
-- refer to them. Row-level security does not reach a foreign key's cascade
-- (a scoped DELETE of an agent removed every customer's runs) nor its check,
-- so a policy is not enough. These tables are read-only to a transaction
-- that acts for a customer (optiinfra.customer_id set): a row trigger
-- refuses the insert, update or delete, and a trigger fires for a cascaded
-- change too (the SET NULL of agent_states.current_workflow_id when a scoped
-- session deletes a run an agent still points at is refused the same way).
-- The platform (agents, operators) writes them from a session with no
-- customer set. The library refuses the same calls before any SQL
-- (CustomerScopeError); this is the backstop for raw SQL.
--
-- The fill triggers of 0011 also check the parent whenever a customer is
-- set, even when the writer gave customer_id: a row under another customer's
-- execution is refused as a missing parent before any unique index is
-- consulted (an insert under B's run no longer tells a taken step_order
-- from a free one).
--
-- Locks: CREATE TRIGGER takes SHARE ROW EXCLUSIVE on each table, briefly
-- (no scan); lock_timeout makes a busy table fail the migration fast.
--
-- depends: 0014.tenant-indexes

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE FUNCTION optiinfra_platform_read_only() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'platform table "%" is read-only to a customer scope', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege',
              TABLE = TG_TABLE_NAME,
              HINT = 'agents and their configs, states, capabilities and metrics are written '
                     'by a session with no customer set';
END
$$;
COMMENT ON FUNCTION optiinfra_platform_read_only() IS 'BEFORE INSERT/UPDATE/DELETE on a platform table while a customer is set: refused.';

CREATE TRIGGER trg_agents_platform_read_only
    BEFORE INSERT OR UPDATE OR DELETE ON agents
    FOR EACH ROW WHEN (optiinfra_customer_id() IS NOT NULL)
    EXECUTE FUNCTION optiinfra_platform_read_only();
CREATE TRIGGER trg_agent_configs_platform_read_only
    BEFORE INSERT OR UPDATE OR DELETE ON agent_configs
    FOR EACH ROW WHEN (optiinfra_customer_id() IS NOT NULL)
    EXECUTE FUNCTION optiinfra_platform_read_only();
CREATE TRIGGER trg_agent_states_platform_read_only
    BEFORE INSERT OR UPDATE OR DELETE ON agent_states
    FOR EACH ROW WHEN (optiinfra_customer_id() IS NOT NULL)
    EXECUTE FUNCTION optiinfra_platform_read_only();
CREATE TRIGGER trg_agent_capabilities_platform_read_only
    BEFORE INSERT OR UPDATE OR DELETE ON agent_capabilities
    FOR EACH ROW WHEN (optiinfra_customer_id() IS NOT NULL)
    EXECUTE FUNCTION optiinfra_platform_read_only();
CREATE TRIGGER trg_agent_metrics_platform_read_only
    BEFORE INSERT OR UPDATE OR DELETE ON agent_metrics
    FOR EACH ROW WHEN (optiinfra_customer_id() IS NOT NULL)
    EXECUTE FUNCTION optiinfra_platform_read_only();

-- 0011's fill trigger of steps, artifacts and the log, now also checking the
-- parent when a customer is set (the log's own triggers give customer_id
-- from the execution they log: no second look-up there).
CREATE OR REPLACE FUNCTION optiinfra_fill_customer_from_execution() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    IF NEW.customer_id IS NULL
       OR (optiinfra_customer_id() IS NOT NULL AND TG_TABLE_NAME <> 'workflow_transitions') THEN
        SELECT e.customer_id INTO owner
        FROM workflow_executions AS e WHERE e.id = NEW.workflow_execution_id;
        IF NOT FOUND OR owner IS DISTINCT FROM coalesce(NEW.customer_id, owner) THEN
            RAISE EXCEPTION 'insert or update on table "%" violates foreign key constraint "%"',
                    TG_TABLE_NAME, format('fk_%s_execution', TG_TABLE_NAME)
                USING ERRCODE = 'foreign_key_violation',
                      TABLE = TG_TABLE_NAME,
                      CONSTRAINT = format('fk_%s_execution', TG_TABLE_NAME),
                      DETAIL = format('Key (workflow_execution_id)=(%s) is not present in table "workflow_executions".',
                                      NEW.workflow_execution_id);
        END IF;
        NEW.customer_id := owner;
    END IF;
    RETURN NEW;
END
$$;

CREATE OR REPLACE FUNCTION optiinfra_fill_customer_from_recommendation() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    IF NEW.customer_id IS NULL OR optiinfra_customer_id() IS NOT NULL THEN
        SELECT r.customer_id INTO owner
        FROM recommendations AS r WHERE r.id = NEW.recommendation_id;
        IF NOT FOUND OR owner IS DISTINCT FROM coalesce(NEW.customer_id, owner) THEN
            RAISE EXCEPTION 'insert or update on table "approvals" violates foreign key constraint "fk_approvals_recommendation"'
                USING ERRCODE = 'foreign_key_violation',
                      TABLE = 'approvals',
                      CONSTRAINT = 'fk_approvals_recommendation',
                      DETAIL = format('Key (recommendation_id)=(%s) is not present in table "recommendations".',
                                      NEW.recommendation_id);
        END IF;
        NEW.customer_id := owner;
    END IF;
    RETURN NEW;
END
$$;
