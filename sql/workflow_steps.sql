-- Workflow steps: the ordered steps of an execution and their lifecycle.

-- name: create :one
-- op: INSERT workflow_steps
-- Insert one workflow step and return it (one round trip).
-- Columns not listed keep their database defaults.
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
          updated_at, restart_count;

-- name: get :one
-- op: SELECT workflow_steps
-- One workflow step by primary key.
SELECT id, workflow_execution_id, step_name, step_order, status,
       started_at, completed_at, input_data, output_data, error_details,
       retry_count, max_retries, metadata, created_at, updated_at, restart_count
FROM workflow_steps
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE workflow_steps
-- Partial update of one workflow step: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
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
          updated_at, restart_count;

-- name: merge_metadata :one
-- op: UPDATE workflow_steps
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE workflow_steps SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, workflow_execution_id, step_name, step_order, status,
          started_at, completed_at, input_data, output_data,
          error_details, retry_count, max_retries, metadata, created_at,
          updated_at, restart_count;

-- name: delete :execrows
-- op: DELETE workflow_steps
-- Delete one workflow step by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM workflow_steps WHERE id = %(id)s;

-- name: list_by_name :many
-- op: SELECT workflow_steps
-- Steps of one name in one status across executions (e.g. "every failure of
-- the apply_kv_cache_config step"), newest first. Keyset pagination as in the
-- other lists. Served by ix_workflow_steps_name_status (both columns); under
-- a customer scope by ix_workflow_steps_name_customer_created (the name, the
-- policy's customer_id, in page order; the enum's = is not leakproof, so
-- status is filtered, not an index key, there).
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count,
       max_retries, metadata, created_at, updated_at, restart_count
FROM workflow_steps
WHERE step_name = %(step_name)s
  AND status = %(status)s::step_status
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_for_execution :many
-- op: SELECT workflow_steps
-- All steps of one execution in step order (served by
-- ix_workflow_steps_execution_order).
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count,
       max_retries, metadata, created_at, updated_at, restart_count
FROM workflow_steps
WHERE workflow_execution_id = %(workflow_execution_id)s
ORDER BY step_order;

-- name: copy :copy
-- op: COPY workflow_steps
-- Bulk insert of steps (COPY, text format); id, created_at and updated_at
-- take their defaults.
COPY workflow_steps (workflow_execution_id, step_name, step_order, status, started_at,
                     completed_at, input_data, output_data, error_details, retry_count,
                     max_retries, metadata)
FROM STDIN;

-- name: state_of :one
-- op: SELECT workflow_steps
-- Why a guarded move matched no row: the step's status and retry budget,
-- whether it failed before its execution's current attempt started (it may
-- start again), and its execution's status, holder and lease. No row: no
-- such step.
SELECT s.status::text, s.retry_count, s.max_retries,
       coalesce(s.status = 'failed' AND s.completed_at < e.started_at, false),
       e.id, e.status::text, e.worker_id,
       coalesce(e.lease_expires_at > clock_timestamp(), false), e.lease_expires_at
FROM workflow_steps AS s
JOIN workflow_executions AS e ON e.id = s.workflow_execution_id
WHERE s.id = %(id)s;

-- name: start :one
-- op: UPDATE workflow_steps
-- pending or retrying -> running, or failed -> running when the step failed in
-- an earlier attempt of its execution (a requeued run resumes there: a
-- restart, counted in restart_count, which spends no retry); sets
-- started_at and clears completed_at and error_details (the log tells a
-- retry, from retrying, from a restart, from failed).
-- Every move needs the step's execution running; with %(worker_id)s, held
-- by that worker on a live lease (fencing, in this statement).
WITH held AS MATERIALIZED (
    -- The step's execution, if it is running (and, with %(worker_id)s, held
    -- by that worker on a live lease), share-locked until this transaction
    -- ends: a reaper skips it meanwhile, a finish waits for it.
    SELECT e.id, e.worker_id, e.attempt, e.started_at
    FROM workflow_steps AS s0
    JOIN workflow_executions AS e ON e.id = s0.workflow_execution_id
    WHERE s0.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
    FOR SHARE OF e
),
ctx AS MATERIALIZED (
    -- The reason, worker and attempt of this move, for the transition log's
    -- trigger (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'worker_id', coalesce(%(worker_id)s::text, held.worker_id),
               'attempt', held.attempt,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c,
           held.started_at AS run_started_at
    FROM held
),
moved AS (
    UPDATE workflow_steps AS s SET
        status = 'running',
        started_at = clock_timestamp(),
        completed_at = NULL,
        error_details = NULL,
        restart_count = s.restart_count + (s.status = 'failed')::integer
    FROM ctx
    WHERE s.id = %(id)s
      AND (s.status IN ('pending', 'retrying')
           OR (s.status = 'failed' AND s.completed_at < ctx.run_started_at))
      AND ctx.c IS NOT NULL
    RETURNING s.id, s.workflow_execution_id, s.step_name, s.step_order, s.status, s.started_at,
              s.completed_at, s.input_data, s.output_data, s.error_details, s.retry_count,
              s.max_retries, s.metadata, s.created_at, s.updated_at, s.restart_count
)
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count, max_retries,
       metadata, created_at, updated_at, restart_count
FROM moved;

-- name: complete :one
-- op: UPDATE workflow_steps
-- running -> completed; sets completed_at and, if given, output_data.
-- Every move needs the step's execution running; with %(worker_id)s, held
-- by that worker on a live lease (fencing, in this statement).
WITH held AS MATERIALIZED (
    -- The step's execution, if it is running (and, with %(worker_id)s, held
    -- by that worker on a live lease), share-locked until this transaction
    -- ends: a reaper skips it meanwhile, a finish waits for it.
    SELECT e.id, e.worker_id, e.attempt, e.started_at
    FROM workflow_steps AS s0
    JOIN workflow_executions AS e ON e.id = s0.workflow_execution_id
    WHERE s0.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
    FOR SHARE OF e
),
ctx AS MATERIALIZED (
    -- The reason, worker and attempt of this move, for the transition log's
    -- trigger (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'worker_id', coalesce(%(worker_id)s::text, held.worker_id),
               'attempt', held.attempt,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c,
           held.started_at AS run_started_at
    FROM held
),
moved AS (
    UPDATE workflow_steps AS s SET
        status = 'completed',
        completed_at = clock_timestamp(),
        output_data = coalesce(%(output_data)s, s.output_data)
    FROM ctx
    WHERE s.id = %(id)s
      AND s.status = 'running'
      AND ctx.c IS NOT NULL
    RETURNING s.id, s.workflow_execution_id, s.step_name, s.step_order, s.status, s.started_at,
              s.completed_at, s.input_data, s.output_data, s.error_details, s.retry_count,
              s.max_retries, s.metadata, s.created_at, s.updated_at, s.restart_count
)
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count, max_retries,
       metadata, created_at, updated_at, restart_count
FROM moved;

-- name: fail :one
-- op: UPDATE workflow_steps
-- running -> failed; sets completed_at and error_details (that attempt's
-- error: the transition log keeps it after a later success). With
-- %(retry)s, running -> retrying instead, in this one statement, while the
-- step has retries left (retry_count < max_retries; retry_count + 1);
-- without any left it fails.
-- Every move needs the step's execution running; with %(worker_id)s, held
-- by that worker on a live lease (fencing, in this statement).
WITH held AS MATERIALIZED (
    -- The step's execution, if it is running (and, with %(worker_id)s, held
    -- by that worker on a live lease), share-locked until this transaction
    -- ends: a reaper skips it meanwhile, a finish waits for it.
    SELECT e.id, e.worker_id, e.attempt, e.started_at
    FROM workflow_steps AS s0
    JOIN workflow_executions AS e ON e.id = s0.workflow_execution_id
    WHERE s0.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
    FOR SHARE OF e
),
ctx AS MATERIALIZED (
    -- The reason, worker and attempt of this move, for the transition log's
    -- trigger (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'worker_id', coalesce(%(worker_id)s::text, held.worker_id),
               'attempt', held.attempt,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c,
           held.started_at AS run_started_at
    FROM held
),
moved AS (
    UPDATE workflow_steps AS s SET
        status = CASE WHEN %(retry)s::boolean AND s.retry_count < s.max_retries
                      THEN 'retrying' ELSE 'failed' END::step_status,
        retry_count = s.retry_count
                      + (%(retry)s::boolean AND s.retry_count < s.max_retries)::integer,
        completed_at = clock_timestamp(),
        error_details = %(error_details)s
    FROM ctx
    WHERE s.id = %(id)s
      AND s.status = 'running'
      AND ctx.c IS NOT NULL
    RETURNING s.id, s.workflow_execution_id, s.step_name, s.step_order, s.status, s.started_at,
              s.completed_at, s.input_data, s.output_data, s.error_details, s.retry_count,
              s.max_retries, s.metadata, s.created_at, s.updated_at, s.restart_count
)
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count, max_retries,
       metadata, created_at, updated_at, restart_count
FROM moved;

-- name: skip :one
-- op: UPDATE workflow_steps
-- pending -> skipped; sets completed_at.
-- Every move needs the step's execution running; with %(worker_id)s, held
-- by that worker on a live lease (fencing, in this statement).
WITH held AS MATERIALIZED (
    -- The step's execution, if it is running (and, with %(worker_id)s, held
    -- by that worker on a live lease), share-locked until this transaction
    -- ends: a reaper skips it meanwhile, a finish waits for it.
    SELECT e.id, e.worker_id, e.attempt, e.started_at
    FROM workflow_steps AS s0
    JOIN workflow_executions AS e ON e.id = s0.workflow_execution_id
    WHERE s0.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
    FOR SHARE OF e
),
ctx AS MATERIALIZED (
    -- The reason, worker and attempt of this move, for the transition log's
    -- trigger (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'worker_id', coalesce(%(worker_id)s::text, held.worker_id),
               'attempt', held.attempt,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c,
           held.started_at AS run_started_at
    FROM held
),
moved AS (
    UPDATE workflow_steps AS s SET
        status = 'skipped',
        completed_at = clock_timestamp()
    FROM ctx
    WHERE s.id = %(id)s
      AND s.status = 'pending'
      AND ctx.c IS NOT NULL
    RETURNING s.id, s.workflow_execution_id, s.step_name, s.step_order, s.status, s.started_at,
              s.completed_at, s.input_data, s.output_data, s.error_details, s.retry_count,
              s.max_retries, s.metadata, s.created_at, s.updated_at, s.restart_count
)
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count, max_retries,
       metadata, created_at, updated_at, restart_count
FROM moved;

-- name: retry :one
-- op: UPDATE workflow_steps
-- failed or running -> retrying; retry_count + 1. Refused once retry_count
-- would pass max_retries.
-- Every move needs the step's execution running; with %(worker_id)s, held
-- by that worker on a live lease (fencing, in this statement).
WITH held AS MATERIALIZED (
    -- The step's execution, if it is running (and, with %(worker_id)s, held
    -- by that worker on a live lease), share-locked until this transaction
    -- ends: a reaper skips it meanwhile, a finish waits for it.
    SELECT e.id, e.worker_id, e.attempt, e.started_at
    FROM workflow_steps AS s0
    JOIN workflow_executions AS e ON e.id = s0.workflow_execution_id
    WHERE s0.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
    FOR SHARE OF e
),
ctx AS MATERIALIZED (
    -- The reason, worker and attempt of this move, for the transition log's
    -- trigger (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'worker_id', coalesce(%(worker_id)s::text, held.worker_id),
               'attempt', held.attempt,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c,
           held.started_at AS run_started_at
    FROM held
),
moved AS (
    UPDATE workflow_steps AS s SET
        status = 'retrying',
        retry_count = s.retry_count + 1
    FROM ctx
    WHERE s.id = %(id)s
      AND s.status IN ('failed', 'running')
      AND s.retry_count < s.max_retries
      AND ctx.c IS NOT NULL
    RETURNING s.id, s.workflow_execution_id, s.step_name, s.step_order, s.status, s.started_at,
              s.completed_at, s.input_data, s.output_data, s.error_details, s.retry_count,
              s.max_retries, s.metadata, s.created_at, s.updated_at, s.restart_count
)
SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
       completed_at, input_data, output_data, error_details, retry_count, max_retries,
       metadata, created_at, updated_at, restart_count
FROM moved;

-- name: attempts :one
-- op: SELECT workflow_transitions
-- Every run of one step as a JSON array, oldest first: each move into
-- running starts an attempt (numbered from 1), the step's next move ends it
-- (its status is how it ended, its error_details that attempt's error).
-- kind tells how it started: first, retry (from retrying: the step asked
-- for it) or restart (from failed: its run was requeued).
-- NULL: no such step. Reads the execution's log through
-- ix_workflow_transitions_execution, in the partitions between its run's
-- history_from and history_until only (run-time pruning).
SELECT coalesce((
    SELECT json_agg(json_build_object(
               'step_id', a.workflow_step_id,
               'attempt', a.n,
               'execution_attempt', a.attempt,
               'worker_id', a.worker_id,
               'started_at', a.at,
               'ended_at', a.ended_at,
               'kind', a.kind,
               'outcome', a.outcome,
               'error_details', a.ended_error,
               'reason', a.ended_reason) ORDER BY a.n)
    FROM (
        SELECT t.workflow_step_id, t.attempt, t.worker_id, t.at, t.next_at AS ended_at,
               t.next_status AS outcome, t.next_error AS ended_error,
               t.next_reason AS ended_reason,
               CASE t.from_status WHEN 'retrying' THEN 'retry'
                                  WHEN 'failed' THEN 'restart'
                                  ELSE 'first' END AS kind,
               row_number() OVER (ORDER BY t.id) AS n
        FROM (
            SELECT id, workflow_step_id, attempt, worker_id, at, from_status, to_status,
                   lead(at) OVER w AS next_at,
                   lead(to_status) OVER w AS next_status,
                   lead(error_details) OVER w AS next_error,
                   lead(reason) OVER w AS next_reason
            FROM workflow_transitions
            WHERE workflow_execution_id = s.workflow_execution_id
              AND workflow_step_id = s.id
              AND at >= coalesce((SELECT e.history_from FROM workflow_executions AS e
                                  WHERE e.id = s.workflow_execution_id), '-infinity')
              AND at < coalesce((SELECT e.history_until FROM workflow_executions AS e
                                 WHERE e.id = s.workflow_execution_id), 'infinity')
            WINDOW w AS (ORDER BY id)
        ) AS t
        WHERE t.to_status = 'running'
    ) AS a
), '[]'::json)::text
FROM workflow_steps AS s
WHERE s.id = %(id)s;

-- name: failure_summary :many
-- op: SELECT workflow_transitions
-- Per step name and workflow type: how many attempts failed in the window
-- [since, until) (from the transition log), how many runs those failures
-- ended (the run failed or timed out with that step failed), the latest
-- error and when; optionally of one customer or one workflow type. Most
-- failures first. Served by ix_workflow_transitions_step_failures (partial:
-- failed step moves only), then the steps' and executions' primary keys.
-- plan: custom (optional filters and the window: planned with their values)
SELECT s.step_name,
       e.workflow_type,
       count(*) AS failed_attempts,
       count(DISTINCT e.id) FILTER (
           WHERE e.status IN ('failed', 'timeout') AND s.status = 'failed') AS runs_ended,
       (array_agg(t.error_details ORDER BY t.id DESC))[1] AS latest_error,
       max(t.at) AS latest_at
FROM workflow_transitions AS t
-- one primary-key probe per failure (LATERAL ... LIMIT 1 keeps the
-- planner from hashing all of workflow_executions for a short window)
CROSS JOIN LATERAL (
    SELECT step_name, status FROM workflow_steps WHERE id = t.workflow_step_id LIMIT 1
) AS s
CROSS JOIN LATERAL (
    SELECT id, workflow_type, status, customer_id
    FROM workflow_executions
    WHERE id = t.workflow_execution_id
    LIMIT 1
) AS e
WHERE t.to_status = 'failed'
  AND t.workflow_step_id IS NOT NULL
  AND t.at >= %(since)s::timestamptz
  AND t.at < %(until)s::timestamptz
  AND (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s::uuid)
  AND (%(workflow_type)s::workflow_type IS NULL
       OR e.workflow_type = %(workflow_type)s::workflow_type)
GROUP BY s.step_name, e.workflow_type
ORDER BY failed_attempts DESC, step_name, workflow_type;
