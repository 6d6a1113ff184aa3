-- The raw psycopg contender of the benchmarks: the same work as the library's
-- queries, written the way a hand-tuned psycopg client would (plain column
-- lists, tuple rows). Loaded with the library's strict loader.

-- name: get :one
-- op: SELECT workflow_executions
-- One execution by id, as a tuple.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts
FROM workflow_executions
WHERE id = %(id)s;

-- name: list_for_customer :many
-- op: SELECT workflow_executions
-- A customer's executions newest first, as tuples.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE customer_id = %(customer_id)s
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: insert_execution :one
-- op: INSERT workflow_executions
-- One execution, returning its row.
INSERT INTO workflow_executions (agent_id, customer_id, workflow_type, input_data, metadata)
VALUES (%(agent_id)s, %(customer_id)s, %(workflow_type)s, %(input_data)s, %(metadata)s)
RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
          input_data, output_data, error_details, metadata, created_at, updated_at,
          worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key;

-- name: insert_step :exec
-- op: INSERT workflow_steps
-- One step (sent with executemany).
INSERT INTO workflow_steps (workflow_execution_id, step_name, step_order, input_data)
VALUES (%(workflow_execution_id)s, %(step_name)s, %(step_order)s, %(input_data)s);

-- name: copy_steps :copy
-- op: COPY workflow_steps
-- Bulk steps, the same columns as the library's COPY.
COPY workflow_steps (workflow_execution_id, step_name, step_order, status, started_at,
                     completed_at, input_data, output_data, error_details, retry_count,
                     max_retries, metadata)
FROM STDIN;

-- name: detail_execution :one
-- op: SELECT workflow_executions
-- get_detail by hand: the execution ...
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts
FROM workflow_executions WHERE id = %(id)s;

-- name: detail_steps :many
-- op: SELECT workflow_steps
-- ... its steps in order ...
SELECT id, workflow_execution_id, step_name, step_order, status, started_at, completed_at,
       input_data, output_data, error_details, retry_count, max_retries, metadata,
       created_at, updated_at
FROM workflow_steps WHERE workflow_execution_id = %(id)s ORDER BY step_order;

-- name: detail_artifacts :many
-- op: SELECT workflow_artifacts
-- ... and its artifacts.
SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
       artifact_path, artifact_size_bytes, content_type, metadata, created_at, updated_at
FROM workflow_artifacts WHERE workflow_execution_id = %(id)s ORDER BY created_at, id;

-- name: complete :one
-- op: UPDATE workflow_executions
-- The guarded transition by hand, doing the library's work: running ->
-- completed, the lease cleared, refused while a step is still open.
UPDATE workflow_executions AS e
SET status = 'completed', completed_at = clock_timestamp(), lease_expires_at = NULL
WHERE e.id = %(id)s AND e.status = 'running'
  AND NOT EXISTS (SELECT 1 FROM workflow_steps AS s
                  WHERE s.workflow_execution_id = e.id
                    AND s.status IN ('pending', 'running', 'retrying'))
RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
          input_data, output_data, error_details, metadata, created_at, updated_at,
          worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key;

-- name: reset_running :exec
-- op: UPDATE workflow_executions
-- Benchmark bookkeeping, not timed: put completed executions back to running,
-- held by the bench worker on a live lease.
UPDATE workflow_executions
SET status = 'running', completed_at = NULL, worker_id = 'bench-worker',
    lease_expires_at = now() + interval '1 hour'
WHERE id = ANY(%(ids)s);

-- name: claim :many
-- op: UPDATE workflow_executions
-- The claim a hand-written worker would send: the due pending runs, higher
-- priority first, then by when each became claimable, FOR UPDATE SKIP
-- LOCKED, moved to running under a lease in the same statement (served by
-- the library's ix_workflow_executions_queue, as the library's claim). One
-- run, with LIMIT 1 written out as the library's claim_one has it: a LIMIT
-- parameter is costed as a tenth of the queue, so PostgreSQL would plan the
-- statement afresh on every call (measured: raw with the parameter 1.00,
-- the library 0.85x wall, 0.76x server CPU) and the ratio would flatter us.
WITH picked AS (
    SELECT id FROM workflow_executions
    WHERE status = 'pending'
      AND coalesce(run_after, created_at) <= statement_timestamp()
    ORDER BY priority DESC, coalesce(run_after, created_at), id
    LIMIT 1
    FOR UPDATE SKIP LOCKED
)
UPDATE workflow_executions AS e
SET status = 'running', started_at = clock_timestamp(), worker_id = %(worker_id)s,
    heartbeat_at = clock_timestamp(), lease_expires_at = clock_timestamp() + %(lease)s,
    attempt = e.attempt + 1, error_details = NULL
FROM picked
WHERE e.id = picked.id
RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
          e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
          e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
          e.attempt, e.max_attempts, e.first_started_at, e.run_after, e.priority,
          e.idempotency_key;

-- name: spread_pending :exec
-- op: UPDATE workflow_executions
-- Benchmark set-up, not timed: the claim queue as a scheduler has it, a
-- spread of priorities (-2..2) and a tenth of the runs delayed a day.
UPDATE workflow_executions
SET priority = (abs(hashtext(id::text)) %% 5) - 2,
    run_after = CASE WHEN abs(hashtext(id::text)) %% 10 = 0
                     THEN now() + interval '1 day' END
WHERE status = 'pending';

-- name: limit_customer :one
-- op: INSERT customers
-- Benchmark set-up, not timed: a customer of its own for the per-customer
-- limit's runs (the other customers' counts are what other operations read).
INSERT INTO customers (name, email, api_key_hash)
VALUES ('Bench limit', 'limit@example.test', repeat('ab', 32))
RETURNING id;

-- name: add_pending_for :exec
-- op: INSERT workflow_executions
-- Benchmark set-up, not timed: pending runs of one customer.
INSERT INTO workflow_executions (agent_id, customer_id, workflow_type)
SELECT %(agent)s, %(customer)s, 'cost_analysis' FROM generate_series(1, %(n)s);

-- name: export_for_customer :many
-- op: SELECT workflow_executions
-- A customer's whole history newest first, for a server-side cursor.
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE customer_id = %(customer_id)s
ORDER BY created_at DESC, id DESC;

-- name: make_app_login :exec
-- op: DO
-- Benchmark set-up, not timed: the login the scoped contender runs as, a
-- member of optiinfra_app (row-level security applies), made once per cluster.
DO $$
BEGIN
    CREATE ROLE optiinfra_bench_app LOGIN IN ROLE optiinfra_app;
EXCEPTION WHEN duplicate_object OR unique_violation THEN
    NULL;
END
$$;

-- name: list_for_customer_to_json :many
-- op: SELECT workflow_executions
-- The library's list_for_customer as it was before the client assembled each
-- row's JSON: the same filters, planned per call, every row built by the
-- server with to_json(r) (benchmarks/designs.py, the "before" contender).
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at,
           worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
    FROM workflow_executions
    WHERE customer_id = %(customer_id)s
      AND (%(workflow_type)s::workflow_type IS NULL
           OR workflow_type = %(workflow_type)s::workflow_type)
      AND (%(statuses)s::workflow_status[] IS NULL
           OR status = ANY (%(statuses)s::workflow_status[]))
      AND created_at >= %(since)s::timestamptz
      AND created_at < %(until)s::timestamptz
      AND (%(finished_since)s::timestamptz IS NULL
           OR completed_at >= %(finished_since)s::timestamptz)
      AND (%(finished_until)s::timestamptz IS NULL
           OR completed_at < %(finished_until)s::timestamptz)
      AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC;
