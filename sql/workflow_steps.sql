-- Workflow steps: the ordered steps of an execution and their lifecycle.

-- name: create :one
-- Insert one workflow step and return it as JSON text (one round trip).
-- Columns not listed keep their database defaults.
WITH created AS (
    INSERT INTO workflow_steps (
        workflow_execution_id, step_name, step_order, status, started_at,
        completed_at, input_data, output_data, error_details, retry_count,
        max_retries, metadata
    ) VALUES (
        %(workflow_execution_id)s, %(step_name)s, %(step_order)s,
        %(status)s::step_status, %(started_at)s, %(completed_at)s,
        %(input_data)s, %(output_data)s, %(error_details)s, %(retry_count)s,
        %(max_retries)s, %(metadata)s
    )
    RETURNING id, workflow_execution_id, step_name, step_order, status,
              started_at, completed_at, input_data, output_data,
              error_details, retry_count, max_retries, metadata, created_at,
              updated_at
)
SELECT to_json(created)::text FROM created;

-- name: get :one
-- One workflow step by primary key, as JSON text.
SELECT to_json(r)::text
FROM (
    SELECT id, workflow_execution_id, step_name, step_order, status,
           started_at, completed_at, input_data, output_data, error_details,
           retry_count, max_retries, metadata, created_at, updated_at
    FROM workflow_steps
    WHERE id = %(id)s
) AS r;

-- name: update :one
-- Partial update of one workflow step: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
WITH updated AS (
    UPDATE workflow_steps SET
        step_name = CASE WHEN %(set_step_name)s THEN %(step_name)s ELSE step_name END,
        input_data = CASE WHEN %(set_input_data)s THEN %(input_data)s ELSE input_data END,
        output_data = CASE WHEN %(set_output_data)s THEN %(output_data)s ELSE output_data END,
        error_details = CASE WHEN %(set_error_details)s THEN %(error_details)s ELSE error_details END,
        metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END,
        max_retries = CASE WHEN %(set_max_retries)s THEN %(max_retries)s ELSE max_retries END
    WHERE id = %(id)s
      AND (%(expected_updated_at)s::timestamptz IS NULL
           OR updated_at = %(expected_updated_at)s::timestamptz)
    RETURNING id, workflow_execution_id, step_name, step_order, status,
              started_at, completed_at, input_data, output_data,
              error_details, retry_count, max_retries, metadata, created_at,
              updated_at
)
SELECT to_json(updated)::text FROM updated;

-- name: merge_metadata :one
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
WITH updated AS (
    UPDATE workflow_steps SET
        metadata = metadata || %(patch)s::jsonb
    WHERE id = %(id)s
    RETURNING id, workflow_execution_id, step_name, step_order, status,
              started_at, completed_at, input_data, output_data,
              error_details, retry_count, max_retries, metadata, created_at,
              updated_at
)
SELECT to_json(updated)::text FROM updated;

-- name: delete :execrows
-- Delete one workflow step by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM workflow_steps WHERE id = %(id)s;

-- name: list_by_name :many
-- Steps of one name in one status across executions (e.g. "every failure of
-- the apply_kv_cache_config step"), newest first. Keyset pagination as in the
-- other lists. Served by ix_workflow_steps_name_status (both columns).
SELECT to_json(r)::text
FROM (
    SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
           completed_at, input_data, output_data, error_details, retry_count,
           max_retries, metadata, created_at, updated_at
    FROM workflow_steps
    WHERE step_name = %(step_name)s
      AND status = %(status)s::step_status
      AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC;

-- name: list_for_execution :many
-- All steps of one execution in step order (served by
-- ix_workflow_steps_execution_order).
SELECT to_json(r)::text
FROM (
    SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
           completed_at, input_data, output_data, error_details, retry_count,
           max_retries, metadata, created_at, updated_at
    FROM workflow_steps
    WHERE workflow_execution_id = %(workflow_execution_id)s
    ORDER BY step_order
) AS r
ORDER BY r.step_order;

-- name: copy :copy
-- Bulk insert of steps (COPY, text format); id, created_at and updated_at
-- take their defaults.
COPY workflow_steps (workflow_execution_id, step_name, step_order, status, started_at,
                     completed_at, input_data, output_data, error_details, retry_count,
                     max_retries, metadata)
FROM STDIN;

-- name: state_of :one
-- Status and retry budget of one step: after a guarded move matched no row,
-- tells "missing" (no row) from "wrong status" or "retries exhausted".
SELECT status::text, retry_count, max_retries FROM workflow_steps WHERE id = %(id)s;

-- name: start :one
-- pending or retrying -> running; sets started_at and clears completed_at
-- and error_details (a step starting again after a retry).
-- Guarded: matches no row unless the step is pending or retrying.
WITH moved AS (
    UPDATE workflow_steps SET
        status = 'running',
        started_at = clock_timestamp(),
        completed_at = NULL,
        error_details = NULL
    WHERE id = %(id)s
      AND status IN ('pending', 'retrying')
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: complete :one
-- running -> completed; sets completed_at and, if given, output_data.
-- Guarded: matches no row unless the step is running.
WITH moved AS (
    UPDATE workflow_steps SET
        status = 'completed',
        completed_at = clock_timestamp(),
        output_data = coalesce(%(output_data)s, output_data)
    WHERE id = %(id)s
      AND status IN ('running')
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: fail :one
-- running -> failed; sets completed_at and error_details.
-- Guarded: matches no row unless the step is running.
WITH moved AS (
    UPDATE workflow_steps SET
        status = 'failed',
        completed_at = clock_timestamp(),
        error_details = %(error_details)s
    WHERE id = %(id)s
      AND status IN ('running')
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: skip :one
-- pending -> skipped; sets completed_at.
-- Guarded: matches no row unless the step is pending.
WITH moved AS (
    UPDATE workflow_steps SET
        status = 'skipped',
        completed_at = clock_timestamp()
    WHERE id = %(id)s
      AND status IN ('pending')
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: retry :one
-- failed or running -> retrying; retry_count + 1. Refused once retry_count
-- would pass max_retries.
-- Guarded: matches no row unless the step is failed or running and retries remain.
WITH moved AS (
    UPDATE workflow_steps SET
        status = 'retrying',
        retry_count = retry_count + 1
    WHERE id = %(id)s
      AND status IN ('failed', 'running')
      AND retry_count < max_retries
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;
