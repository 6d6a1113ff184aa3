-- Undo 0015: the fill triggers as 0011 wrote them, and the platform tables
-- writable from a customer scope again.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

CREATE OR REPLACE FUNCTION optiinfra_fill_customer_from_execution() RETURNS trigger
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

CREATE OR REPLACE FUNCTION optiinfra_fill_customer_from_recommendation() RETURNS trigger
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

DROP TRIGGER IF EXISTS trg_agent_metrics_platform_read_only ON agent_metrics;
DROP TRIGGER IF EXISTS trg_agent_capabilities_platform_read_only ON agent_capabilities;
DROP TRIGGER IF EXISTS trg_agent_states_platform_read_only ON agent_states;
DROP TRIGGER IF EXISTS trg_agent_configs_platform_read_only ON agent_configs;
DROP TRIGGER IF EXISTS trg_agents_platform_read_only ON agents;
DROP FUNCTION IF EXISTS optiinfra_platform_read_only();
