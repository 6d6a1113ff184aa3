-- OptiInfra core schema (design FOUNDATION-0.2a): customers, agents, events,
-- recommendations, approvals, optimizations, and the shared updated_at trigger.
--
-- Conventions for every table in this project:
--   * id uuid PRIMARY KEY DEFAULT gen_random_uuid() (built in since PG 13, no extension);
--   * every timestamp is timestamptz; created_at NOT NULL DEFAULT now();
--   * updated_at is kept by the trigger function optiinfra_set_updated_at(), so a
--     hand-written UPDATE by a DBA keeps it too;
--   * every constraint and index is named (the library maps errors by constraint name);
--   * every foreign-key column leads some index (cascades and joins stay index-backed);
--   * JSONB columns are NOT NULL with a default, except those where NULL means "absent".

-- ---------------------------------------------------------------------------
-- The shared trigger function
-- ---------------------------------------------------------------------------

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

CREATE FUNCTION optiinfra_set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    -- clock_timestamp(), not now(): a row changed twice in one transaction still
    -- shows that it moved, and updated_at never precedes a lifecycle timestamp
    -- that the library sets with clock_timestamp().
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

COMMENT ON FUNCTION optiinfra_set_updated_at() IS
    'BEFORE UPDATE trigger function shared by every table with updated_at: sets it to clock_timestamp() when the row really changes.';

-- ---------------------------------------------------------------------------
-- Enums
-- ---------------------------------------------------------------------------

CREATE TYPE customer_plan AS ENUM ('free', 'startup', 'enterprise');
COMMENT ON TYPE customer_plan IS 'Billing plan of a customer.';

CREATE TYPE customer_status AS ENUM ('active', 'suspended', 'churned');
COMMENT ON TYPE customer_status IS 'Lifecycle status of a customer account.';

CREATE TYPE agent_type AS ENUM ('orchestrator', 'cost', 'performance', 'resource', 'application');
COMMENT ON TYPE agent_type IS 'Kind of OptiInfra agent.';

CREATE TYPE agent_status AS ENUM ('starting', 'healthy', 'degraded', 'failed', 'stopped');
COMMENT ON TYPE agent_status IS 'Health of an agent process as last reported.';

CREATE TYPE event_type AS ENUM (
    'agent_registered', 'agent_status_changed', 'agent_heartbeat_missed',
    'recommendation_created', 'recommendation_approved', 'recommendation_rejected',
    'optimization_started', 'optimization_completed', 'optimization_failed',
    'optimization_rolled_back', 'performance_degradation', 'cost_anomaly',
    'workflow_started', 'workflow_completed', 'workflow_failed'
);
COMMENT ON TYPE event_type IS 'What an event records.';

CREATE TYPE event_severity AS ENUM ('info', 'warning', 'error', 'critical');
COMMENT ON TYPE event_severity IS 'How urgent an event is.';

CREATE TYPE recommendation_type AS ENUM (
    'spot_migration', 'right_sizing', 'reserved_instances', 'kv_cache_tuning',
    'quantization', 'batch_optimization', 'gpu_optimization', 'auto_scaling',
    'resource_consolidation', 'quality_monitoring'
);
COMMENT ON TYPE recommendation_type IS 'Kind of change an agent recommends.';

CREATE TYPE recommendation_priority AS ENUM ('low', 'medium', 'high', 'critical');
COMMENT ON TYPE recommendation_priority IS 'Priority of a recommendation.';

CREATE TYPE recommendation_status AS ENUM (
    'pending', 'approved', 'rejected', 'executing', 'completed', 'failed', 'rolled_back'
);
COMMENT ON TYPE recommendation_status IS 'Where a recommendation is in its approve-and-execute lifecycle.';

CREATE TYPE approval_status AS ENUM ('pending', 'approved', 'rejected');
COMMENT ON TYPE approval_status IS 'Decision on an approval request.';

CREATE TYPE optimization_status AS ENUM ('queued', 'executing', 'completed', 'failed', 'rolled_back');
COMMENT ON TYPE optimization_status IS 'Progress of an optimization being carried out.';

-- ---------------------------------------------------------------------------
-- customers
-- ---------------------------------------------------------------------------

CREATE TABLE customers (
    id            uuid            NOT NULL DEFAULT gen_random_uuid(),
    name          varchar(255)    NOT NULL,
    email         varchar(255)    NOT NULL,
    api_key_hash  char(64)        NOT NULL,
    plan          customer_plan   NOT NULL DEFAULT 'free',
    status        customer_status NOT NULL DEFAULT 'active',
    metadata      jsonb           NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz     NOT NULL DEFAULT now(),
    updated_at    timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT pk_customers PRIMARY KEY (id),
    CONSTRAINT uq_customers_email UNIQUE (email),
    CONSTRAINT uq_customers_api_key_hash UNIQUE (api_key_hash),
    -- Fix over the design: the design stored the API key itself. Only its SHA-256 is kept.
    CONSTRAINT ck_customers_api_key_hash_hex CHECK (api_key_hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT ck_customers_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
-- Newest-first keyset listing of customers (customers.list).
CREATE INDEX ix_customers_created ON customers (created_at DESC, id DESC);

CREATE TRIGGER trg_customers_updated_at BEFORE UPDATE ON customers
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE customers IS 'Customers of OptiInfra whose AI infrastructure the agents analyse.';
COMMENT ON COLUMN customers.id IS 'Primary key.';
COMMENT ON COLUMN customers.name IS 'Display name of the customer.';
COMMENT ON COLUMN customers.email IS 'Contact e-mail; unique.';
COMMENT ON COLUMN customers.api_key_hash IS 'SHA-256 (lower-case hex) of the customer''s API key; the key itself is never stored.';
COMMENT ON COLUMN customers.plan IS 'Billing plan.';
COMMENT ON COLUMN customers.status IS 'Account status.';
COMMENT ON COLUMN customers.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN customers.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN customers.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- agents
-- ---------------------------------------------------------------------------

CREATE TABLE agents (
    id             uuid         NOT NULL DEFAULT gen_random_uuid(),
    type           agent_type   NOT NULL,
    name           varchar(255) NOT NULL,
    version        varchar(50),
    status         agent_status NOT NULL DEFAULT 'starting',
    endpoint       varchar(255),
    capabilities   jsonb        NOT NULL DEFAULT '[]'::jsonb,
    metadata       jsonb        NOT NULL DEFAULT '{}'::jsonb,
    last_heartbeat timestamptz,
    created_at     timestamptz  NOT NULL DEFAULT now(),
    updated_at     timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_agents PRIMARY KEY (id),
    CONSTRAINT uq_agents_type_name UNIQUE (type, name),
    CONSTRAINT ck_agents_capabilities_array CHECK (jsonb_typeof(capabilities) = 'array'),
    CONSTRAINT ck_agents_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);
-- Newest-first keyset listing of agents (agents.list).
CREATE INDEX ix_agents_created ON agents (created_at DESC, id DESC);

CREATE TRIGGER trg_agents_updated_at BEFORE UPDATE ON agents
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE agents IS 'Agent processes (orchestrator, cost, performance, resource, application).';
COMMENT ON COLUMN agents.id IS 'Primary key.';
COMMENT ON COLUMN agents.type IS 'Kind of agent; (type, name) is unique.';
COMMENT ON COLUMN agents.name IS 'Agent name, unique within its type.';
COMMENT ON COLUMN agents.version IS 'Software version the agent reported, if any.';
COMMENT ON COLUMN agents.status IS 'Health as last reported.';
COMMENT ON COLUMN agents.endpoint IS 'URL the agent listens on, if any.';
COMMENT ON COLUMN agents.capabilities IS 'JSON array of capability names the agent advertised at registration.';
COMMENT ON COLUMN agents.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN agents.last_heartbeat IS 'When the agent last sent a heartbeat; NULL if never.';
COMMENT ON COLUMN agents.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN agents.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- events
-- ---------------------------------------------------------------------------

CREATE TABLE events (
    id          uuid           NOT NULL DEFAULT gen_random_uuid(),
    customer_id uuid           NOT NULL,
    agent_id    uuid,
    event_type  event_type     NOT NULL,
    severity    event_severity NOT NULL DEFAULT 'info',
    data        jsonb          NOT NULL DEFAULT '{}'::jsonb,
    created_at  timestamptz    NOT NULL DEFAULT now(),
    CONSTRAINT pk_events PRIMARY KEY (id),
    CONSTRAINT fk_events_customer FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON DELETE CASCADE,
    CONSTRAINT fk_events_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE SET NULL,
    CONSTRAINT ck_events_data_object CHECK (jsonb_typeof(data) = 'object')
);
-- "A customer's events, newest first" (events.list by customer); also serves the cascade.
CREATE INDEX ix_events_customer_created ON events (customer_id, created_at DESC, id DESC);
-- "An agent's events, newest first"; also serves ON DELETE SET NULL from agents.
CREATE INDEX ix_events_agent_created ON events (agent_id, created_at DESC, id DESC);

COMMENT ON TABLE events IS 'Append-only log of what happened to customers, agents, recommendations and workflows.';
COMMENT ON COLUMN events.id IS 'Primary key.';
COMMENT ON COLUMN events.customer_id IS 'Customer the event concerns; deleting the customer deletes its events.';
COMMENT ON COLUMN events.agent_id IS 'Agent that raised the event; set to NULL when the agent is deleted.';
COMMENT ON COLUMN events.event_type IS 'What happened.';
COMMENT ON COLUMN events.severity IS 'How urgent it is.';
COMMENT ON COLUMN events.data IS 'Event payload (JSON object).';
COMMENT ON COLUMN events.created_at IS 'When the event was recorded.';

-- ---------------------------------------------------------------------------
-- recommendations
-- ---------------------------------------------------------------------------

CREATE TABLE recommendations (
    id                    uuid                    NOT NULL DEFAULT gen_random_uuid(),
    customer_id           uuid                    NOT NULL,
    agent_id              uuid                    NOT NULL,
    type                  recommendation_type     NOT NULL,
    title                 varchar(255)            NOT NULL,
    description           text,
    estimated_savings     numeric(12, 2),
    estimated_improvement numeric(10, 2),
    confidence_score      double precision        NOT NULL,
    priority              recommendation_priority NOT NULL DEFAULT 'medium',
    status                recommendation_status   NOT NULL DEFAULT 'pending',
    data                  jsonb                   NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz             NOT NULL DEFAULT now(),
    updated_at            timestamptz             NOT NULL DEFAULT now(),
    approved_at           timestamptz,
    executed_at           timestamptz,
    CONSTRAINT pk_recommendations PRIMARY KEY (id),
    CONSTRAINT fk_recommendations_customer FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON DELETE CASCADE,
    CONSTRAINT fk_recommendations_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT ck_recommendations_confidence_range
        CHECK (confidence_score >= 0 AND confidence_score <= 1),
    CONSTRAINT ck_recommendations_data_object CHECK (jsonb_typeof(data) = 'object')
);
-- A customer's recommendations, newest first (recommendations.list); serves the cascade.
CREATE INDEX ix_recommendations_customer_created
    ON recommendations (customer_id, created_at DESC, id DESC);
-- An agent's recommendations, newest first; serves the cascade from agents.
CREATE INDEX ix_recommendations_agent_created
    ON recommendations (agent_id, created_at DESC, id DESC);

CREATE TRIGGER trg_recommendations_updated_at BEFORE UPDATE ON recommendations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE recommendations IS 'Changes an agent recommends for a customer, with their approval and execution status.';
COMMENT ON COLUMN recommendations.id IS 'Primary key.';
COMMENT ON COLUMN recommendations.customer_id IS 'Customer the recommendation is for (CASCADE).';
COMMENT ON COLUMN recommendations.agent_id IS 'Agent that made it (CASCADE).';
COMMENT ON COLUMN recommendations.type IS 'Kind of change recommended.';
COMMENT ON COLUMN recommendations.title IS 'One-line summary.';
COMMENT ON COLUMN recommendations.description IS 'Longer explanation, if any.';
COMMENT ON COLUMN recommendations.estimated_savings IS 'Estimated savings in currency units (exact decimal), if known.';
COMMENT ON COLUMN recommendations.estimated_improvement IS 'Estimated performance improvement in percent, if known.';
COMMENT ON COLUMN recommendations.confidence_score IS 'Agent''s confidence, 0 to 1.';
COMMENT ON COLUMN recommendations.priority IS 'Priority.';
COMMENT ON COLUMN recommendations.status IS 'Lifecycle status.';
COMMENT ON COLUMN recommendations.data IS 'Details (JSON object).';
COMMENT ON COLUMN recommendations.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN recommendations.updated_at IS 'When the row last changed (kept by trigger).';
COMMENT ON COLUMN recommendations.approved_at IS 'When it was approved, if it was.';
COMMENT ON COLUMN recommendations.executed_at IS 'When its execution started, if it did.';

-- ---------------------------------------------------------------------------
-- approvals
-- ---------------------------------------------------------------------------

CREATE TABLE approvals (
    id                uuid            NOT NULL DEFAULT gen_random_uuid(),
    recommendation_id uuid            NOT NULL,
    approved_by       varchar(255)    NOT NULL,
    status            approval_status NOT NULL DEFAULT 'pending',
    comment           text,
    created_at        timestamptz     NOT NULL DEFAULT now(),
    updated_at        timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT pk_approvals PRIMARY KEY (id),
    CONSTRAINT fk_approvals_recommendation FOREIGN KEY (recommendation_id)
        REFERENCES recommendations (id) ON DELETE CASCADE
);
-- A recommendation's approvals, newest first (approvals.list); serves the cascade.
CREATE INDEX ix_approvals_recommendation_created
    ON approvals (recommendation_id, created_at DESC, id DESC);

CREATE TRIGGER trg_approvals_updated_at BEFORE UPDATE ON approvals
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE approvals IS 'Approval decisions on recommendations.';
COMMENT ON COLUMN approvals.id IS 'Primary key.';
COMMENT ON COLUMN approvals.recommendation_id IS 'Recommendation being decided (CASCADE).';
COMMENT ON COLUMN approvals.approved_by IS 'Who decides (user name or e-mail).';
COMMENT ON COLUMN approvals.status IS 'Decision.';
COMMENT ON COLUMN approvals.comment IS 'Reviewer''s comment, if any.';
COMMENT ON COLUMN approvals.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN approvals.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- optimizations
-- ---------------------------------------------------------------------------

CREATE TABLE optimizations (
    id                 uuid                NOT NULL DEFAULT gen_random_uuid(),
    recommendation_id  uuid                NOT NULL,
    customer_id        uuid                NOT NULL,
    agent_id           uuid                NOT NULL,
    status             optimization_status NOT NULL DEFAULT 'queued',
    progress           integer             NOT NULL DEFAULT 0,
    result             jsonb               NOT NULL DEFAULT '{}'::jsonb,
    error              text,
    actual_savings     numeric(12, 2),
    actual_improvement numeric(10, 2),
    started_at         timestamptz,
    completed_at       timestamptz,
    rolled_back_at     timestamptz,
    created_at         timestamptz         NOT NULL DEFAULT now(),
    updated_at         timestamptz         NOT NULL DEFAULT now(),
    CONSTRAINT pk_optimizations PRIMARY KEY (id),
    CONSTRAINT fk_optimizations_recommendation FOREIGN KEY (recommendation_id)
        REFERENCES recommendations (id) ON DELETE CASCADE,
    CONSTRAINT fk_optimizations_customer FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON DELETE CASCADE,
    CONSTRAINT fk_optimizations_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT ck_optimizations_progress_range CHECK (progress >= 0 AND progress <= 100),
    CONSTRAINT ck_optimizations_completed_after_started
        CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at),
    CONSTRAINT ck_optimizations_result_object CHECK (jsonb_typeof(result) = 'object')
);
-- The optimizations carrying out one recommendation; serves the cascade.
CREATE INDEX ix_optimizations_recommendation ON optimizations (recommendation_id);
-- A customer's optimizations, newest first (optimizations.list); serves the cascade.
CREATE INDEX ix_optimizations_customer_created
    ON optimizations (customer_id, created_at DESC, id DESC);
-- An agent's optimizations; serves the cascade from agents.
CREATE INDEX ix_optimizations_agent ON optimizations (agent_id);

CREATE TRIGGER trg_optimizations_updated_at BEFORE UPDATE ON optimizations
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE optimizations IS 'Executions of approved recommendations, with progress and measured outcome.';
COMMENT ON COLUMN optimizations.id IS 'Primary key.';
COMMENT ON COLUMN optimizations.recommendation_id IS 'Recommendation being carried out (CASCADE).';
COMMENT ON COLUMN optimizations.customer_id IS 'Customer (CASCADE).';
COMMENT ON COLUMN optimizations.agent_id IS 'Agent carrying it out (CASCADE).';
COMMENT ON COLUMN optimizations.status IS 'Progress status.';
COMMENT ON COLUMN optimizations.progress IS 'Percent done, 0 to 100.';
COMMENT ON COLUMN optimizations.result IS 'Outcome details (JSON object).';
COMMENT ON COLUMN optimizations.error IS 'Error message if it failed.';
COMMENT ON COLUMN optimizations.actual_savings IS 'Measured savings in currency units (exact decimal), if known.';
COMMENT ON COLUMN optimizations.actual_improvement IS 'Measured improvement in percent, if known.';
COMMENT ON COLUMN optimizations.started_at IS 'When execution started.';
COMMENT ON COLUMN optimizations.completed_at IS 'When execution ended.';
COMMENT ON COLUMN optimizations.rolled_back_at IS 'When it was rolled back, if it was.';
COMMENT ON COLUMN optimizations.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN optimizations.updated_at IS 'When the row last changed (kept by trigger).';
