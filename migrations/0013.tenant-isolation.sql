-- Tenant isolation (issue #11): PostgreSQL itself keeps one customer's rows
-- from another's, so a forgotten WHERE or a guessed id cannot leak.
--
-- * Roles (cluster-wide, so made only where missing; never LOGIN, never a
--   password: a deployer grants LOGIN to real users, see the README):
--   optiinfra_owner  owns the objects and runs migrations (a table's owner
--                    is not subject to its policies: the operator's view);
--   optiinfra_app    what services log in as: DML on the tables, subject to
--                    row-level security; on workflow_transitions only
--                    SELECT and INSERT (the triggers write it; an audit
--                    trail is not edited);
--   optiinfra_readonly SELECT only, subject to row-level security too.
-- * The objects pass to optiinfra_owner when the runner may do that (a
--   superuser, or a member of optiinfra_owner); otherwise a NOTICE says so and
--   they keep their owner.
-- * Row-level security on every customer-owned table, keyed on the
--   transaction-local setting optiinfra.customer_id (set_config(..., true),
--   sent by a scoped optiinfra_db.Repositories), read by
--   optiinfra_customer_id(). A session that has not set it sees no
--   customer-owned row and can write none.
--   Agents and their configs, states, capabilities and metrics are the
--   platform's, shared by all customers: no policy.
--   FORCE ROW LEVEL SECURITY is not set: the owner (and a superuser, or a
--   BYPASSRLS role) sees every row, which is the operator's view.
--
-- Locks: ENABLE ROW LEVEL SECURITY, CREATE POLICY and ALTER ... OWNER take an
-- ACCESS EXCLUSIVE lock each, held briefly (no scan, no rewrite) but until
-- the commit, and one transaction does all of it: no service ever sees a
-- table with row-level security on and its policy missing. lock_timeout
-- makes a busy table fail the migration fast instead of queueing traffic
-- behind it; apply again.
--
-- depends: 0012.customer-on-children-backfill

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

-- Roles, where missing (a migration of another database of the cluster may
-- create one at the same moment: that is no error).
DO $$
DECLARE
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['optiinfra_owner', 'optiinfra_app', 'optiinfra_readonly'] LOOP
        IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = name) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', name);
            EXCEPTION WHEN duplicate_object OR unique_violation THEN
                NULL;
            END;
        END IF;
    END LOOP;
END
$$;

-- Schema privileges, and optiinfra_owner's on yoyo's bookkeeping tables so
-- it can run the next migrations.
DO $$
BEGIN
    EXECUTE format('GRANT USAGE, CREATE ON SCHEMA %I TO optiinfra_owner', current_schema());
    EXECUTE format('GRANT USAGE ON SCHEMA %I TO optiinfra_app, optiinfra_readonly', current_schema());
END
$$;
GRANT SELECT, INSERT, UPDATE, DELETE ON _yoyo_migration, _yoyo_log, _yoyo_version, yoyo_lock
    TO optiinfra_owner;

-- Ownership of the library's tables, types and functions.
DO $$
DECLARE
    obj record;
BEGIN
    IF NOT pg_catalog.pg_has_role(current_user, 'optiinfra_owner', 'MEMBER') THEN
        RAISE NOTICE 'optiinfra: % is not a member of optiinfra_owner; objects keep their owner', current_user;
        RETURN;
    END IF;
    FOR obj IN
        SELECT format('ALTER TABLE %I OWNER TO optiinfra_owner', c.relname) AS ddl
        FROM pg_catalog.pg_class AS c
        WHERE c.relnamespace = current_schema()::regnamespace
          AND c.relkind IN ('r', 'p')
          AND c.relname NOT IN ('_yoyo_migration', '_yoyo_log', '_yoyo_version', 'yoyo_lock')
          AND c.relowner <> 'optiinfra_owner'::regrole
        UNION ALL
        SELECT format('ALTER TYPE %I OWNER TO optiinfra_owner', t.typname)
        FROM pg_catalog.pg_type AS t
        WHERE t.typnamespace = current_schema()::regnamespace
          AND t.typtype = 'e'
          AND t.typowner <> 'optiinfra_owner'::regrole
        UNION ALL
        SELECT format('ALTER FUNCTION %s OWNER TO optiinfra_owner', p.oid::regprocedure)
        FROM pg_catalog.pg_proc AS p
        WHERE p.pronamespace = current_schema()::regnamespace
          AND p.proname LIKE 'optiinfra\_%'
          AND p.proowner <> 'optiinfra_owner'::regrole
    LOOP
        EXECUTE obj.ddl;
    END LOOP;
END
$$;

-- What services and readers may do (row-level security then decides which
-- rows). Tables a later migration adds get these by default when
-- optiinfra_owner creates them.
GRANT SELECT, INSERT, UPDATE, DELETE ON
    customers, agents, events, recommendations, approvals, optimizations,
    agent_configs, agent_states, agent_capabilities, agent_metrics,
    workflow_executions, workflow_steps, workflow_artifacts
    TO optiinfra_app;
GRANT SELECT, INSERT ON workflow_transitions TO optiinfra_app;
GRANT SELECT ON
    customers, agents, events, recommendations, approvals, optimizations,
    agent_configs, agent_states, agent_capabilities, agent_metrics,
    workflow_executions, workflow_steps, workflow_artifacts, workflow_transitions
    TO optiinfra_readonly;
DO $$
BEGIN
    IF pg_catalog.pg_has_role(current_user, 'optiinfra_owner', 'MEMBER') THEN
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE optiinfra_owner IN SCHEMA %I '
                       'GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO optiinfra_app', current_schema());
        EXECUTE format('ALTER DEFAULT PRIVILEGES FOR ROLE optiinfra_owner IN SCHEMA %I '
                       'GRANT SELECT ON TABLES TO optiinfra_readonly', current_schema());
    END IF;
END
$$;

-- The customer the current transaction acts for, or NULL. A plain SQL
-- function: the planner inlines it, and as a STABLE expression it is an
-- index key (customer_id = ...), evaluated once per scan.
CREATE FUNCTION optiinfra_customer_id() RETURNS uuid
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT nullif(current_setting('optiinfra.customer_id', true), '')::uuid $$;
COMMENT ON FUNCTION optiinfra_customer_id() IS 'The customer of the current transaction (setting optiinfra.customer_id), NULL when unset: then row-level security shows no customer-owned row.';

-- The policies: a row is the transaction's customer's, or invisible and
-- unwritable (USING filters what is read, updated and deleted; WITH CHECK
-- refuses a new or changed row for another customer). Every customer-owned
-- row carries its customer_id (0011/0012; approvals, steps, artifacts and
-- transitions equal to their parent's by foreign key), so a policy is one
-- equality on the row itself: no lookup, and an index key where an index
-- leads with customer_id.
ALTER TABLE customers ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON customers
    USING (id = optiinfra_customer_id())
    WITH CHECK (id = optiinfra_customer_id());
ALTER TABLE events ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON events
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE recommendations ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON recommendations
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE approvals ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON approvals
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE optimizations ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON optimizations
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE workflow_executions ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON workflow_executions
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE workflow_steps ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON workflow_steps
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE workflow_artifacts ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON workflow_artifacts
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
ALTER TABLE workflow_transitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON workflow_transitions
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
