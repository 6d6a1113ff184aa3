-- Workflow executions: one run of a workflow, its lifecycle and its history.
-- Lifecycle statements are single guarded UPDATEs; timestamps come from
-- clock_timestamp() so a run started and finished in one transaction still
-- has a real duration.

-- name: create :one
-- Insert one workflow execution and return it as JSON text (one round
-- trip). Columns not listed keep their database defaults.
WITH created AS (
    INSERT INTO workflow_executions (
        agent_id, customer_id, workflow_type, status, started_at,
        completed_at, input_data, output_data, error_details, metadata
    ) VALUES (
        %(agent_id)s, %(customer_id)s, %(workflow_type)s::workflow_type,
        %(status)s::workflow_status, %(started_at)s, %(completed_at)s,
        %(input_data)s, %(output_data)s, %(error_details)s, %(metadata)s
    )
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
              completed_at, input_data, output_data, error_details, metadata,
              created_at, updated_at
)
SELECT to_json(created)::text FROM created;

-- name: create_with_steps :one
-- Insert one execution and its ordered steps in one statement (one round
-- trip), and return the execution with its steps (in step order) as one JSON
-- document, shaped like get_detail. %(steps)s is a JSON array of objects with
-- step_name, step_order, status, input_data, max_retries and metadata. Either
-- everything is written or, on any violation, nothing.
WITH created AS (
    INSERT INTO workflow_executions (
        agent_id, customer_id, workflow_type, status, started_at,
        completed_at, input_data, output_data, error_details, metadata
    ) VALUES (
        %(agent_id)s, %(customer_id)s, %(workflow_type)s::workflow_type,
        %(status)s::workflow_status, %(started_at)s, %(completed_at)s,
        %(input_data)s, %(output_data)s, %(error_details)s, %(metadata)s
    )
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
              completed_at, input_data, output_data, error_details, metadata,
              created_at, updated_at
),
steps AS (
    INSERT INTO workflow_steps (
        workflow_execution_id, step_name, step_order, status, input_data,
        max_retries, metadata
    )
    SELECT created.id, s.step_name, s.step_order, s.status, s.input_data,
           s.max_retries, s.metadata
    FROM created
    CROSS JOIN jsonb_to_recordset(%(steps)s::jsonb) AS s (
        step_name varchar(255), step_order integer, status step_status,
        input_data jsonb, max_retries integer, metadata jsonb
    )
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at
)
SELECT json_build_object(
    'execution', (SELECT to_json(created) FROM created),
    'steps', coalesce((SELECT json_agg(steps ORDER BY steps.step_order) FROM steps),
                      '[]'::json),
    'artifacts', '[]'::json
)::text;

-- name: get :one
-- One workflow execution by primary key, as JSON text.
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at
    FROM workflow_executions
    WHERE id = %(id)s
) AS r;

-- name: update :one
-- Partial update of one workflow execution: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist, or (with
-- expected_updated_at, an optimistic check) the row changed since it was
-- read, or the execution is finished and the call would rewrite its
-- output_data or error_details (a finished run's result is history).
-- updated_at is kept by the trigger.
WITH updated AS (
    UPDATE workflow_executions SET
        input_data = CASE WHEN %(set_input_data)s THEN %(input_data)s ELSE input_data END,
        output_data = CASE WHEN %(set_output_data)s THEN %(output_data)s ELSE output_data END,
        error_details = CASE WHEN %(set_error_details)s THEN %(error_details)s ELSE error_details END,
        metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END
    WHERE id = %(id)s
      AND (%(expected_updated_at)s::timestamptz IS NULL
           OR updated_at = %(expected_updated_at)s::timestamptz)
      AND NOT ((%(set_output_data)s OR %(set_error_details)s)
               AND status IN ('completed', 'failed', 'cancelled', 'timeout'))
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
              completed_at, input_data, output_data, error_details, metadata,
              created_at, updated_at
)
SELECT to_json(updated)::text FROM updated;

-- name: merge_metadata :one
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
WITH updated AS (
    UPDATE workflow_executions SET
        metadata = metadata || %(patch)s::jsonb
    WHERE id = %(id)s
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
              completed_at, input_data, output_data, error_details, metadata,
              created_at, updated_at
)
SELECT to_json(updated)::text FROM updated;

-- name: delete :execrows
-- Delete one workflow execution by primary key (and, through ON DELETE,
-- what hangs off it).
DELETE FROM workflow_executions WHERE id = %(id)s;

-- name: list_for_customer :many
-- A customer's executions, optionally of one type and status, newest first.
-- Keyset pagination: the first page passes after_created_at = 'infinity'
-- and after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by ix_workflow_executions_customer_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at
    FROM workflow_executions
    WHERE customer_id = %(customer_id)s
      AND (%(workflow_type)s::workflow_type IS NULL
           OR workflow_type = %(workflow_type)s::workflow_type)
      AND (%(status)s::workflow_status IS NULL
           OR status = %(status)s::workflow_status)
      AND created_at >= %(since)s::timestamptz
      AND created_at < %(until)s::timestamptz
      AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC;

-- name: list_for_agent :many
-- An agent's executions, optionally in one status, newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by ix_workflow_executions_agent_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at
    FROM workflow_executions
    WHERE agent_id = %(agent_id)s
      AND (%(workflow_type)s::workflow_type IS NULL
           OR workflow_type = %(workflow_type)s::workflow_type)
      AND (%(status)s::workflow_status IS NULL
           OR status = %(status)s::workflow_status)
      AND created_at >= %(since)s::timestamptz
      AND created_at < %(until)s::timestamptz
      AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC;

-- name: list :many
-- All executions (the operator's recent-runs view), newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by ix_workflow_executions_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at
    FROM workflow_executions
    WHERE (%(workflow_type)s::workflow_type IS NULL
           OR workflow_type = %(workflow_type)s::workflow_type)
      AND (%(status)s::workflow_status IS NULL
           OR status = %(status)s::workflow_status)
      AND created_at >= %(since)s::timestamptz
      AND created_at < %(until)s::timestamptz
      AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY created_at DESC, id DESC
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at DESC, r.id DESC;

-- name: list_active_for_agent :many
-- What one agent has on its plate: its pending and running executions, oldest
-- first (a scheduler's concurrency check). Served by
-- ix_workflow_executions_agent_open (partial: open executions only).
SELECT to_json(r)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at,
           completed_at, input_data, output_data, error_details, metadata,
           created_at, updated_at
    FROM workflow_executions
    WHERE agent_id = %(agent_id)s
      AND status IN ('pending', 'running')
    ORDER BY created_at, id
    LIMIT %(limit)s
) AS r
ORDER BY r.created_at, r.id;

-- name: count_active_for_agent :one
-- How many pending and running executions one agent has (a scheduler's
-- concurrency check). Served by ix_workflow_executions_agent_status
-- (index-only scan).
SELECT count(*)
FROM workflow_executions
WHERE agent_id = %(agent_id)s
  AND status IN ('pending', 'running');

-- name: count_by_type :many
-- How many executions one customer has of each workflow type (a dashboard
-- tile). Served by ix_workflow_executions_customer_type (index-only scan).
SELECT workflow_type::text, count(*)
FROM workflow_executions
WHERE customer_id = %(customer_id)s
GROUP BY workflow_type
ORDER BY workflow_type;

-- name: start :one
-- pending -> running; sets started_at.
-- Guarded: matches no row unless the execution is pending, so a
-- refused move raises nothing inside the server; under concurrency the row
-- lock makes exactly one of several racing callers win.
WITH moved AS (
    UPDATE workflow_executions SET
        status = 'running',
        started_at = clock_timestamp()
    WHERE id = %(id)s
      AND status IN ('pending')
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
              input_data, output_data, error_details, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: complete :one
-- running -> completed; sets completed_at and, if given, output_data
-- (NULL keeps the current output).
-- Guarded: matches no row unless the execution is running, so a
-- refused move raises nothing inside the server; under concurrency the row
-- lock makes exactly one of several racing callers win.
WITH moved AS (
    UPDATE workflow_executions SET
        status = 'completed',
        completed_at = clock_timestamp(),
        output_data = coalesce(%(output_data)s, output_data)
    WHERE id = %(id)s
      AND status IN ('running')
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
              input_data, output_data, error_details, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: fail :one
-- running -> failed; sets completed_at and error_details.
-- Guarded: matches no row unless the execution is running, so a
-- refused move raises nothing inside the server; under concurrency the row
-- lock makes exactly one of several racing callers win.
WITH moved AS (
    UPDATE workflow_executions SET
        status = 'failed',
        completed_at = clock_timestamp(),
        error_details = %(error_details)s
    WHERE id = %(id)s
      AND status IN ('running')
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
              input_data, output_data, error_details, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: cancel :one
-- pending or running -> cancelled; sets completed_at.
-- Guarded: matches no row unless the execution is pending or running, so a
-- refused move raises nothing inside the server; under concurrency the row
-- lock makes exactly one of several racing callers win.
WITH moved AS (
    UPDATE workflow_executions SET
        status = 'cancelled',
        completed_at = clock_timestamp()
    WHERE id = %(id)s
      AND status IN ('pending', 'running')
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
              input_data, output_data, error_details, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: time_out :one
-- running -> timeout; sets completed_at.
-- Guarded: matches no row unless the execution is running, so a
-- refused move raises nothing inside the server; under concurrency the row
-- lock makes exactly one of several racing callers win.
WITH moved AS (
    UPDATE workflow_executions SET
        status = 'timeout',
        completed_at = clock_timestamp()
    WHERE id = %(id)s
      AND status IN ('running')
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
              input_data, output_data, error_details, metadata, created_at, updated_at
)
SELECT to_json(moved)::text FROM moved;

-- name: status_of :one
-- The current status of one execution: after a guarded move matched no row,
-- tells "missing" (no row) from "wrong status".
SELECT status::text FROM workflow_executions WHERE id = %(id)s;

-- name: get_detail :one
-- One execution with its steps (in step order) and its artifacts (oldest
-- first) as one JSON document: one round trip. No row: no such execution.
-- Steps are served by ix_workflow_steps_execution_order, artifacts by
-- ix_workflow_artifacts_execution_type.
SELECT json_build_object(
    'execution', to_json(e),
    'steps', coalesce((
        SELECT json_agg(s ORDER BY s.step_order)
        FROM (
            SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
                   completed_at, input_data, output_data, error_details, retry_count,
                   max_retries, metadata, created_at, updated_at
            FROM workflow_steps
            WHERE workflow_execution_id = e.id
        ) AS s
    ), '[]'::json),
    'artifacts', coalesce((
        SELECT json_agg(a ORDER BY a.created_at, a.id)
        FROM (
            SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
                   artifact_path, artifact_size_bytes, content_type, metadata, created_at,
                   updated_at
            FROM workflow_artifacts
            WHERE workflow_execution_id = e.id
        ) AS a
    ), '[]'::json)
)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
           input_data, output_data, error_details, metadata, created_at, updated_at
    FROM workflow_executions
    WHERE id = %(id)s
) AS e;
