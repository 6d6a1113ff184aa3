-- OptiInfra workflow history (design FOUNDATION-0.2c): every workflow
-- execution, its ordered steps and the artifacts they produce, plus the
-- link from an agent's state to the workflow it is running.
-- depends: 0002.agent-state
--
-- Where this migration departs from the design, on purpose:
--   * No index on a primary key beside the key itself (the design asked for
--     index=True on every id), and no non-unique index whose columns are the
--     leading prefix of another index: the design's single-column indexes on
--     agent_id, customer_id, workflow_execution_id, workflow_step_id and
--     step_name are dropped; the composite indexes that start with those
--     columns serve the same lookups and the cascades.
--   * (workflow_execution_id, step_order) is UNIQUE and step_order >= 1.
--   * 0 <= retry_count <= max_retries, max_retries >= 0,
--     artifact_size_bytes >= 0, completed_at >= started_at where both are set.
--   * An artifact's step must belong to the artifact's execution: composite
--     foreign key (workflow_step_id, workflow_execution_id) referencing the
--     UNIQUE (id, workflow_execution_id) of workflow_steps.
--   * timestamptz instead of naive DateTime; database defaults for id,
--     created_at, updated_at and the JSONB columns so a hand-written INSERT works.
--   * agent_states (an existing table) gains current_workflow_id with its
--     foreign key NOT VALID; 0005 validates it and indexes it concurrently.
--   * No status/timestamp CHECKs: a row may be imported as running without
--     started_at; the library's lifecycle statements set the timestamps.

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

CREATE TYPE workflow_type AS ENUM (
    'cost_analysis', 'performance_tuning', 'resource_optimization', 'quality_check',
    'scaling_decision', 'configuration_update', 'health_check', 'anomaly_detection'
);
COMMENT ON TYPE workflow_type IS 'Kind of workflow an agent runs.';

CREATE TYPE workflow_status AS ENUM ('pending', 'running', 'completed', 'failed', 'cancelled', 'timeout');
COMMENT ON TYPE workflow_status IS 'Lifecycle status of a workflow execution.';

CREATE TYPE step_status AS ENUM ('pending', 'running', 'completed', 'failed', 'skipped', 'retrying');
COMMENT ON TYPE step_status IS 'Lifecycle status of a workflow step.';

CREATE TYPE artifact_type AS ENUM (
    'report', 'config', 'log', 'recommendation', 'chart', 'metrics', 'alert', 'diagnostic'
);
COMMENT ON TYPE artifact_type IS 'Kind of artifact a workflow produces.';

-- ---------------------------------------------------------------------------
-- workflow_executions
-- ---------------------------------------------------------------------------

CREATE TABLE workflow_executions (
    id            uuid            NOT NULL DEFAULT gen_random_uuid(),
    agent_id      uuid            NOT NULL,
    customer_id   uuid            NOT NULL,
    workflow_type workflow_type   NOT NULL,
    status        workflow_status NOT NULL DEFAULT 'pending',
    started_at    timestamptz,
    completed_at  timestamptz,
    input_data    jsonb           NOT NULL DEFAULT '{}'::jsonb,
    output_data   jsonb           NOT NULL DEFAULT '{}'::jsonb,
    error_details jsonb,
    metadata      jsonb           NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz     NOT NULL DEFAULT now(),
    updated_at    timestamptz     NOT NULL DEFAULT now(),
    CONSTRAINT pk_workflow_executions PRIMARY KEY (id),
    CONSTRAINT fk_workflow_executions_agent FOREIGN KEY (agent_id)
        REFERENCES agents (id) ON DELETE CASCADE,
    CONSTRAINT fk_workflow_executions_customer FOREIGN KEY (customer_id)
        REFERENCES customers (id) ON DELETE CASCADE,
    CONSTRAINT ck_workflow_executions_completed_after_started
        CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)
);

-- Design index: an agent's executions by status (list_for_agent with status,
-- the "what is this agent running" lookup); leads with agent_id, so it also
-- serves the cascade from agents.
CREATE INDEX ix_workflow_executions_agent_status ON workflow_executions (agent_id, status);
-- Design index: a customer's executions of one type; leads with customer_id,
-- so it also serves the cascade from customers.
CREATE INDEX ix_workflow_executions_customer_type ON workflow_executions (customer_id, workflow_type);
-- Design index: executions by start time (time-window reports).
CREATE INDEX ix_workflow_executions_started_at ON workflow_executions (started_at);
-- Design single-column indexes (whole-table filters by type or status).
CREATE INDEX ix_workflow_executions_workflow_type ON workflow_executions (workflow_type);
CREATE INDEX ix_workflow_executions_status ON workflow_executions (status);
-- Added for keyset listing (not in the design): a customer's / an agent's
-- executions newest first (list_for_customer, list_for_agent ORDER BY
-- created_at DESC, id DESC). Without them every page sorts all of the
-- customer's rows.
CREATE INDEX ix_workflow_executions_customer_created
    ON workflow_executions (customer_id, created_at DESC, id DESC);
CREATE INDEX ix_workflow_executions_agent_created
    ON workflow_executions (agent_id, created_at DESC, id DESC);
-- Added: all executions newest first (workflow_executions.list, the
-- operator's recent-runs view and `optiinfra-db runs list`).
CREATE INDEX ix_workflow_executions_created
    ON workflow_executions (created_at DESC, id DESC);

CREATE TRIGGER trg_workflow_executions_updated_at BEFORE UPDATE ON workflow_executions
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE workflow_executions IS 'One run of a workflow by an agent for a customer.';
COMMENT ON COLUMN workflow_executions.id IS 'Primary key.';
COMMENT ON COLUMN workflow_executions.agent_id IS 'Agent running the workflow (CASCADE).';
COMMENT ON COLUMN workflow_executions.customer_id IS 'Customer the workflow runs for (CASCADE).';
COMMENT ON COLUMN workflow_executions.workflow_type IS 'Kind of workflow.';
COMMENT ON COLUMN workflow_executions.status IS 'Lifecycle status.';
COMMENT ON COLUMN workflow_executions.started_at IS 'When it started running; NULL while pending.';
COMMENT ON COLUMN workflow_executions.completed_at IS 'When it reached a terminal status; NULL until then.';
COMMENT ON COLUMN workflow_executions.input_data IS 'Input parameters (JSON object).';
COMMENT ON COLUMN workflow_executions.output_data IS 'Results (JSON object).';
COMMENT ON COLUMN workflow_executions.error_details IS 'Error details when it failed; NULL means no error.';
COMMENT ON COLUMN workflow_executions.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN workflow_executions.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN workflow_executions.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- workflow_steps
-- ---------------------------------------------------------------------------

CREATE TABLE workflow_steps (
    id                    uuid         NOT NULL DEFAULT gen_random_uuid(),
    workflow_execution_id uuid         NOT NULL,
    step_name             varchar(255) NOT NULL,
    step_order            integer      NOT NULL,
    status                step_status  NOT NULL DEFAULT 'pending',
    started_at            timestamptz,
    completed_at          timestamptz,
    input_data            jsonb        NOT NULL DEFAULT '{}'::jsonb,
    output_data           jsonb        NOT NULL DEFAULT '{}'::jsonb,
    error_details         jsonb,
    retry_count           integer      NOT NULL DEFAULT 0,
    max_retries           integer      NOT NULL DEFAULT 3,
    metadata              jsonb        NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz  NOT NULL DEFAULT now(),
    updated_at            timestamptz  NOT NULL DEFAULT now(),
    CONSTRAINT pk_workflow_steps PRIMARY KEY (id),
    CONSTRAINT fk_workflow_steps_execution FOREIGN KEY (workflow_execution_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE,
    -- Target of the artifacts' composite foreign key (an artifact's step must
    -- belong to the artifact's execution). Not redundant with the primary key:
    -- a foreign key needs a unique constraint on exactly its referenced columns.
    CONSTRAINT uq_workflow_steps_id_execution UNIQUE (id, workflow_execution_id),
    CONSTRAINT ck_workflow_steps_step_order_positive CHECK (step_order >= 1),
    CONSTRAINT ck_workflow_steps_max_retries_nonnegative CHECK (max_retries >= 0),
    CONSTRAINT ck_workflow_steps_retry_count_range
        CHECK (retry_count >= 0 AND retry_count <= max_retries),
    CONSTRAINT ck_workflow_steps_completed_after_started
        CHECK (completed_at IS NULL OR started_at IS NULL OR completed_at >= started_at)
);

-- Design index, made UNIQUE: one step per position in an execution. Serves
-- "an execution's steps in order" (list_for_execution, get_detail) and the
-- cascade from workflow_executions.
CREATE UNIQUE INDEX ix_workflow_steps_execution_order
    ON workflow_steps (workflow_execution_id, step_order);
-- Design index: an execution's steps in one status (e.g. its failed step).
CREATE INDEX ix_workflow_steps_execution_status ON workflow_steps (workflow_execution_id, status);
-- Design index: failures (or any status) of one step name across executions.
CREATE INDEX ix_workflow_steps_name_status ON workflow_steps (step_name, status);
-- Design single-column index: whole-table filters by status.
CREATE INDEX ix_workflow_steps_status ON workflow_steps (status);

CREATE TRIGGER trg_workflow_steps_updated_at BEFORE UPDATE ON workflow_steps
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE workflow_steps IS 'Ordered steps of a workflow execution.';
COMMENT ON COLUMN workflow_steps.id IS 'Primary key.';
COMMENT ON COLUMN workflow_steps.workflow_execution_id IS 'Execution the step belongs to (CASCADE).';
COMMENT ON COLUMN workflow_steps.step_name IS 'Step name.';
COMMENT ON COLUMN workflow_steps.step_order IS 'Position in the execution, 1, 2, 3 ...; unique per execution.';
COMMENT ON COLUMN workflow_steps.status IS 'Lifecycle status.';
COMMENT ON COLUMN workflow_steps.started_at IS 'When the step (last) started running.';
COMMENT ON COLUMN workflow_steps.completed_at IS 'When the step ended; NULL while not ended.';
COMMENT ON COLUMN workflow_steps.input_data IS 'Input of the step (JSON object).';
COMMENT ON COLUMN workflow_steps.output_data IS 'Output of the step (JSON object).';
COMMENT ON COLUMN workflow_steps.error_details IS 'Error details of the last failure; NULL means no error.';
COMMENT ON COLUMN workflow_steps.retry_count IS 'Retries used so far, 0 to max_retries.';
COMMENT ON COLUMN workflow_steps.max_retries IS 'Retries allowed.';
COMMENT ON COLUMN workflow_steps.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN workflow_steps.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN workflow_steps.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- workflow_artifacts
-- ---------------------------------------------------------------------------

CREATE TABLE workflow_artifacts (
    id                    uuid          NOT NULL DEFAULT gen_random_uuid(),
    workflow_execution_id uuid          NOT NULL,
    workflow_step_id      uuid,
    artifact_type         artifact_type NOT NULL,
    artifact_name         varchar(255)  NOT NULL,
    artifact_path         text          NOT NULL,
    artifact_size_bytes   bigint,
    content_type          varchar(100),
    metadata              jsonb         NOT NULL DEFAULT '{}'::jsonb,
    created_at            timestamptz   NOT NULL DEFAULT now(),
    updated_at            timestamptz   NOT NULL DEFAULT now(),
    CONSTRAINT pk_workflow_artifacts PRIMARY KEY (id),
    CONSTRAINT fk_workflow_artifacts_execution FOREIGN KEY (workflow_execution_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE,
    -- The artifact's step must belong to the same execution. MATCH SIMPLE: a
    -- NULL workflow_step_id (an execution-level artifact) is not checked.
    CONSTRAINT fk_workflow_artifacts_step FOREIGN KEY (workflow_step_id, workflow_execution_id)
        REFERENCES workflow_steps (id, workflow_execution_id) ON DELETE CASCADE,
    CONSTRAINT ck_workflow_artifacts_size_nonnegative
        CHECK (artifact_size_bytes IS NULL OR artifact_size_bytes >= 0)
);

-- Design index: an execution's artifacts, optionally of one type
-- (list_for_execution); also serves the cascade from workflow_executions.
CREATE INDEX ix_workflow_artifacts_execution_type
    ON workflow_artifacts (workflow_execution_id, artifact_type);
-- Design index: a step's artifacts (list_for_step); leads with
-- workflow_step_id, so it serves the cascade from workflow_steps.
CREATE INDEX ix_workflow_artifacts_step_type ON workflow_artifacts (workflow_step_id, artifact_type);
-- Design single-column index: whole-table filters by artifact type.
CREATE INDEX ix_workflow_artifacts_artifact_type ON workflow_artifacts (artifact_type);

CREATE TRIGGER trg_workflow_artifacts_updated_at BEFORE UPDATE ON workflow_artifacts
    FOR EACH ROW WHEN (OLD.* IS DISTINCT FROM NEW.*) EXECUTE FUNCTION optiinfra_set_updated_at();

COMMENT ON TABLE workflow_artifacts IS 'Files and outputs produced by workflow executions and their steps.';
COMMENT ON COLUMN workflow_artifacts.id IS 'Primary key.';
COMMENT ON COLUMN workflow_artifacts.workflow_execution_id IS 'Execution that produced it (CASCADE).';
COMMENT ON COLUMN workflow_artifacts.workflow_step_id IS 'Step that produced it (same execution; CASCADE); NULL for an execution-level artifact.';
COMMENT ON COLUMN workflow_artifacts.artifact_type IS 'Kind of artifact.';
COMMENT ON COLUMN workflow_artifacts.artifact_name IS 'Artifact name.';
COMMENT ON COLUMN workflow_artifacts.artifact_path IS 'Where it is stored (S3 URI or file path).';
COMMENT ON COLUMN workflow_artifacts.artifact_size_bytes IS 'Size in bytes, if known (>= 0).';
COMMENT ON COLUMN workflow_artifacts.content_type IS 'MIME type, if known.';
COMMENT ON COLUMN workflow_artifacts.metadata IS 'Free-form JSON object.';
COMMENT ON COLUMN workflow_artifacts.created_at IS 'When the row was inserted.';
COMMENT ON COLUMN workflow_artifacts.updated_at IS 'When the row last changed (kept by trigger).';

-- ---------------------------------------------------------------------------
-- agent_states.current_workflow_id
-- ---------------------------------------------------------------------------

-- agent_states may be large and busy: the new column is nullable with no
-- default (no table rewrite), and its foreign key is added NOT VALID (no
-- scan under the lock); 0005.live-safe-followups validates it and builds its
-- index CONCURRENTLY, outside this transaction.
ALTER TABLE agent_states ADD COLUMN current_workflow_id uuid;
ALTER TABLE agent_states ADD CONSTRAINT fk_agent_states_current_workflow
    FOREIGN KEY (current_workflow_id) REFERENCES workflow_executions (id) ON DELETE SET NULL
    NOT VALID;
COMMENT ON COLUMN agent_states.current_workflow_id IS 'Workflow execution the agent is running now; NULL if none (SET NULL when the execution is deleted).';
