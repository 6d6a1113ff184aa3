-- Undo 0011: policies, row-level security and the grants go. The roles stay
-- (they are the cluster's, and other databases may use them), and so does
-- the objects' owner.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

DROP POLICY IF EXISTS customer_isolation ON workflow_transitions;
ALTER TABLE workflow_transitions DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON workflow_artifacts;
ALTER TABLE workflow_artifacts DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON workflow_steps;
ALTER TABLE workflow_steps DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON approvals;
ALTER TABLE approvals DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON workflow_executions;
ALTER TABLE workflow_executions DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON optimizations;
ALTER TABLE optimizations DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON recommendations;
ALTER TABLE recommendations DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON events;
ALTER TABLE events DISABLE ROW LEVEL SECURITY;
DROP POLICY IF EXISTS customer_isolation ON customers;
ALTER TABLE customers DISABLE ROW LEVEL SECURITY;
DROP FUNCTION IF EXISTS optiinfra_customer_id();

DO $$
BEGIN
    IF pg_catalog.pg_has_role(current_user, 'optiinfra_owner', 'MEMBER') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE optiinfra_owner IN SCHEMA %I '
                       'REVOKE SELECT ON TABLES FROM optiinfra_readonly', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE optiinfra_owner IN SCHEMA %I '
                       'REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM optiinfra_app', current_schema());
    END IF;
END
$$;
REVOKE ALL ON
    customers, agents, events, recommendations, approvals, optimizations,
    agent_configs, agent_states, agent_capabilities, agent_metrics,
    workflow_executions, workflow_steps, workflow_artifacts, workflow_transitions
    FROM optiinfra_app, optiinfra_readonly;
DO $$
BEGIN
    EXECUTE format('REVOKE USAGE ON SCHEMA %I FROM optiinfra_app, optiinfra_readonly', current_schema());
END
$$;
