-- The raw psycopg contender of the benchmarks: the same work as the library's
-- queries, written the way a hand-tuned psycopg client would (plain column
-- lists, tuple rows). Loaded with the library's strict loader.

-- name: get :one
-- One execution by id, as a tuple.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at
FROM workflow_executions
WHERE id = %(id)s;

-- name: list_for_customer :many
-- A customer's executions newest first, as tuples.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at
FROM workflow_executions
WHERE customer_id = %(customer_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: insert_execution :one
-- One execution, returning its row.
INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, input_data, metadata)
VALUES (%(agent_id)s, %(customer_id)s, %(workflow_type)s, %(input_data)s, %(metadata)s)
RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
          input_data, output_data, error_details, metadata, created_at, updated_at;

-- name: insert_step :exec
-- One step (sent with executemany).
INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order, input_data)
VALUES (%(workflow_execution_id)s, %(step_name)s, %(step_order)s, %(input_data)s);

-- name: copy_steps :copy
-- Bulk steps, the same columns as the library's COPY.
COPY workflow_steps (workflow_execution_id, step_name, step_order, status, started_at,
                     completed_at, input_data, output_data, error_details, retry_count,
                     max_retries, metadata)
FROM STDIN;

-- name: detail_execution :one
-- get_detail by hand: the execution ...
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at
FROM workflow_executions WHERE id = %(id)s;

-- name: detail_steps :many
-- ... its steps in order ...
SELECT id, workflow_execution_id, step_name, step_order, status, started_at, completed_at,
       input_data, output_data, error_details, retry_count, max_retries, metadata,
       created_at, updated_at
FROM workflow_steps WHERE workflow_execution_id = %(id)s ORDER BY step_order;

-- name: detail_artifacts :many
-- ... and its artifacts.
SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
       artifact_path, artifact_size_bytes, content_type, metadata, created_at, updated_at
FROM workflow_artifacts WHERE workflow_execution_id = %(id)s ORDER BY created_at, id;

-- name: complete :one
-- The guarded transition by hand.
UPDATE workflow_executions
SET status = 'completed', completed_at = clock_timestamp()
WHERE id = %(id)s AND status = 'running'
RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
          input_data, output_data, error_details, metadata, created_at, updated_at;

-- name: reset_running :exec
-- Benchmark bookkeeping, not timed: put completed executions back to running.
UPDATE workflow_executions SET status = 'running', completed_at = NULL
WHERE id = ANY(%(ids)s);

-- name: export_for_customer :many
-- A customer's whole history newest first, for a server-side cursor.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at
FROM workflow_executions
WHERE customer_id = %(customer_id)s
ORDER BY created_at DESC, id DESC;
