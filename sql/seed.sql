-- Demo and scale data for `optiinfra-db seed`: bulk COPY of executions with
-- their steps and artifacts (ids and timestamps supplied by the seeder).

-- name: is_seeded :one
-- op: SELECT customers
-- Whether the demo customers are already there (seed refuses to run twice).
SELECT EXISTS (SELECT 1 FROM customers WHERE email = 'ops@acme-corp.example');

-- name: counts :one
-- op: SELECT workflow_executions
-- Row counts of the workflow tables (progress and tests).
SELECT (SELECT count(*) FROM workflow_executions),
       (SELECT count(*) FROM workflow_steps),
       (SELECT count(*) FROM workflow_artifacts);

-- name: copy_executions :copy
-- op: COPY workflow_executions
-- Bulk insert of executions with explicit ids and timestamps.
COPY workflow_executions (id, agent_id, customer_id, workflow_type, status, started_at,
                          completed_at, input_data, output_data, error_details, metadata,
                          created_at, updated_at)
FROM STDIN;

-- name: copy_steps :copy
-- op: COPY workflow_steps
-- Bulk insert of steps with explicit ids and timestamps.
COPY workflow_steps (id, workflow_execution_id, step_name, step_order, status, started_at,
                     completed_at, input_data, output_data, error_details, retry_count,
                     max_retries, metadata, created_at, updated_at)
FROM STDIN;

-- name: copy_artifacts :copy
-- op: COPY workflow_artifacts
-- Bulk insert of artifacts with explicit ids and timestamps.
COPY workflow_artifacts (id, workflow_execution_id, workflow_step_id, artifact_type,
                         artifact_name, artifact_path, artifact_size_bytes, content_type,
                         metadata, created_at, updated_at)
FROM STDIN;

-- name: vacuum_analyze :exec
-- op: VACUUM
-- After a bulk load: refresh planner statistics and the visibility map (so
-- index-only scans work at once, as they would after autovacuum). Runs
-- outside a transaction.
VACUUM (ANALYZE) workflow_executions, workflow_steps, workflow_artifacts;
