-- OptiInfra agent state (design FOUNDATION-0.2b): per-agent configuration,
-- current state, capabilities and metric samples. Every table hangs off
-- agents with ON DELETE CASCADE.
-- depends: 0001.core-schema

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

CREATE TYPE config_type AS ENUM ('string', 'integer', 'float', 'boolean', 'json');
COMMENT ON TYPE config_type IS 'How an agent_configs.config_value string is to be interpreted.';

CREATE TYPE agent_status_detail AS ENUM ('idle', 'busy', 'processing', 'waiting', 'error');
COMMENT ON TYPE agent_status_detail IS 'What an agent is doing right now.';

CREATE TYPE metric_type AS ENUM ('counter', 'gauge', 'histogram');
COMMENT ON TYPE metric_type IS 'Kind of metric sample.';

-- ---------------------------------------------------------------------------
-- agent_configs
-- ---------------------------------------------------------------------------

CREATE TABLE agent_configs (
    id           uuid         NOT NULL DEFAULT gen_random_uuid(),
    agent_id     uuid         NOT NULL,
    config_key   varchar(255) NOT NULL,
    config_value text         NOT NULL,
    config_type  config_type  NOT NULL DEFAULT 'string',
    description  text,
    created_at   timestamptz  NOT NULL DEFAULT now(),
    updated_at   timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_agent_configs PRIMARY KEY (id),
    CONSTRAINT fk_agent_configs_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    -- Also the index for "an agent's configuration" and for the cascade.
    CONSTRAINT uq_agent_configs_agent_key UNIQUE (agent_id, config_key)
);

CREATE TRIGGER trg_agent_configs_updated_at BEFORE UPDATE ON agent_configs
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE agent_configs IS 'Key/value configuration of each agent; one row per (agent, key).';
COMMENT ON COLUMN agent_configs.id IS 'Primary key.';
COMMENT ON COLUMN agent_configs.agent_id IS 'Agent configured (CASCADE).';
COMMENT ON COLUMN agent_configs.config_key IS 'Configuration key, unique per agent.';
COMMENT ON COLUMN agent_configs.config_value IS 'Value as text; config_type says how to read it.';
COMMENT ON COLUMN agent_configs.config_type IS 'Type of the value.';
COMMENT ON COLUMN agent_configs.description IS 'What the setting does, if described.';
COMMENT ON COLUMN agent_configs.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN agent_configs.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- agent_states
-- ---------------------------------------------------------------------------

CREATE TABLE agent_states (
    id               uuid                NOT NULL DEFAULT gen_random_uuid(),
    agent_id         uuid                NOT NULL,
    current_status   agent_status_detail NOT NULL DEFAULT 'idle',
    active_workflows jsonb               NOT NULL DEFAULT '[]'::jsonb,
    locks            jsonb               NOT NULL DEFAULT '{}'::jsonb,
    last_activity    timestamptz         NOT NULL DEFAULT now(),
    resource_usage   jsonb               NOT NULL DEFAULT '{}'::jsonb,
    metadata         jsonb               NOT NULL DEFAULT '{}'::jsonb,
    created_at       timestamptz         NOT NULL DEFAULT now(),
    updated_at       timestamptz         NOT NULL DEFAULT now(),
    CONSTRAINT pk_agent_states PRIMARY KEY (id),
    CONSTRAINT fk_agent_states_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    -- One state row per agent; also the index for lookups and the cascade.
    CONSTRAINT uq_agent_states_agent UNIQUE (agent_id),
    CONSTRAINT ck_agent_states_active_workflows_array CHECK (jsonb_typeof(active_workflows) = 'array'),
    CONSTRAINT ck_agent_states_locks_object CHECK (jsonb_typeof(locks) = 'object'),
    CONSTRAINT ck_agent_states_resource_usage_object CHECK (jsonb_typeof(resource_usage) = 'object'),
    CONSTRAINT ck_agent_states_metadata_object CHECK (jsonb_typeof(metadata) = 'object')
);

CREATE TRIGGER trg_agent_states_updated_at BEFORE UPDATE ON agent_states
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE agent_states IS 'Current runtime state of each agent; at most one row per agent.';
COMMENT ON COLUMN agent_states.id IS 'Primary key.';
COMMENT ON COLUMN agent_states.agent_id IS 'Agent (unique; CASCADE).';
COMMENT ON COLUMN agent_states.current_status IS 'What the agent is doing now.';
COMMENT ON COLUMN agent_states.active_workflows IS 'JSON array of the workflows the agent is working on.';
COMMENT ON COLUMN agent_states.locks IS 'JSON object of resources the agent holds locks on.';
COMMENT ON COLUMN agent_states.last_activity IS 'When the agent last did something.';
COMMENT ON COLUMN agent_states.resource_usage IS 'JSON object of CPU, memory and GPU usage as last reported.';
COMMENT ON COLUMN agent_states.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN agent_states.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN agent_states.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- agent_capabilities
-- ---------------------------------------------------------------------------

CREATE TABLE agent_capabilities (
    id                 uuid         NOT NULL DEFAULT gen_random_uuid(),
    agent_id           uuid         NOT NULL,
    capability_name    varchar(255) NOT NULL,
    capability_version varchar(50)  NOT NULL DEFAULT '1.0.0',
    enabled            boolean      NOT NULL DEFAULT true,
    config             jsonb        NOT NULL DEFAULT '{}'::jsonb,
    description        text,
    created_at         timestamptz  NOT NULL DEFAULT now(),
    updated_at         timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_agent_capabilities PRIMARY KEY (id),
    CONSTRAINT fk_agent_capabilities_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    -- An agent may hold several versions of one capability. Also the index for
    -- "an agent's capabilities" and for the cascade.
    CONSTRAINT uq_agent_capabilities_agent_name_version
        UNIQUE (agent_id, capability_name, capability_version),
    CONSTRAINT ck_agent_capabilities_config_object CHECK (jsonb_typeof(config) = 'object')
);

CREATE TRIGGER trg_agent_capabilities_updated_at BEFORE UPDATE ON agent_capabilities
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE agent_capabilities IS 'Capabilities (and their versions) each agent offers.';
COMMENT ON COLUMN agent_capabilities.id IS 'Primary key.';
COMMENT ON COLUMN agent_capabilities.agent_id IS 'Agent (CASCADE).';
COMMENT ON COLUMN agent_capabilities.capability_name IS 'Capability name.';
COMMENT ON COLUMN agent_capabilities.capability_version IS 'Capability version; (agent, name, version) is unique.';
COMMENT ON COLUMN agent_capabilities.enabled IS 'Whether the capability is switched on.';
COMMENT ON COLUMN agent_capabilities.config IS 'Capability settings (JSON object).';
COMMENT ON COLUMN agent_capabilities.description IS 'What the capability does, if described.';
COMMENT ON COLUMN agent_capabilities.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN agent_capabilities.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- agent_metrics
-- ---------------------------------------------------------------------------

CREATE TABLE agent_metrics (
    id           uuid             NOT NULL DEFAULT gen_random_uuid(),
    agent_id     uuid             NOT NULL,
    metric_name  varchar(255)     NOT NULL,
    metric_value double precision NOT NULL,
    metric_type  metric_type      NOT NULL DEFAULT 'gauge',
    tags         jsonb            NOT NULL DEFAULT '{}'::jsonb,
    recorded_at  timestamptz      NOT NULL DEFAULT now(),
    CONSTRAINT pk_agent_metrics PRIMARY KEY (id),
    CONSTRAINT fk_agent_metrics_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT ck_agent_metrics_tags_object CHECK (jsonb_typeof(tags) = 'object')
);
-- "One agent's series for one metric over a time range" (agent_metrics.series);
-- also serves the cascade from agents.
CREATE INDEX ix_agent_metrics_agent_name_recorded
    ON agent_metrics (agent_id, metric_name, recorded_at);

COMMENT ON TABLE agent_metrics IS 'Metric samples reported by agents (append-only time series).';
COMMENT ON COLUMN agent_metrics.id IS 'Primary key.';
COMMENT ON COLUMN agent_metrics.agent_id IS 'Agent that reported the sample (CASCADE).';
COMMENT ON COLUMN agent_metrics.metric_name IS 'Metric name.';
COMMENT ON COLUMN agent_metrics.metric_value IS 'Sample value.';
COMMENT ON COLUMN agent_metrics.metric_type IS 'Kind of metric.';
COMMENT ON COLUMN agent_metrics.tags IS 'Labels of the sample (JSON object).';
COMMENT ON COLUMN agent_metrics.recorded_at IS 'When the sample was taken.';
