-- Retention: removing finished history in short batches.

-- name: purge_batch :one
-- op: DELETE workflow_executions
-- One batch of purge: up to %(batch_size)s finished executions (status in
-- %(statuses)s, never pending or running) that completed before
-- %(finished_before)s, optionally of one customer, oldest first after the
-- keyset (after_completed_at, after_id); FOR UPDATE SKIP LOCKED, so a run a
-- worker or another purge holds is left alone. Deletes their transitions,
-- artifacts and steps set-wise, then the executions (ON DELETE CASCADE then
-- finds nothing left to do), and returns how many rows of each went, the
-- artifacts' paths (for the caller to delete the blobs) and the last
-- (completed_at, id) for the next batch's keyset. Served by
-- ix_workflow_executions_completed (partial: finished runs only) and the
-- children's workflow_execution_id indexes.
WITH victims AS MATERIALIZED (
    SELECT id, completed_at
    FROM workflow_executions
    WHERE completed_at IS NOT NULL
      AND completed_at < %(finished_before)s::timestamptz
      AND status = ANY (%(statuses)s::workflow_status[])
      AND status NOT IN ('pending', 'running')
      AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid)
      AND (completed_at, id) > (%(after_completed_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY completed_at, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
),
gone_transitions AS (
    DELETE FROM workflow_transitions AS t
    USING victims AS v
    WHERE t.workflow_execution_id = v.id
    RETURNING t.id
),
gone_artifacts AS (
    DELETE FROM workflow_artifacts AS a
    USING victims AS v
    WHERE a.workflow_execution_id = v.id
    RETURNING a.artifact_path, a.created_at, a.id
),
gone_steps AS (
    DELETE FROM workflow_steps AS s
    USING victims AS v
    WHERE s.workflow_execution_id = v.id
    RETURNING s.id
),
gone AS (
    DELETE FROM workflow_executions AS e
    USING victims AS v
    WHERE e.id = v.id
    RETURNING e.id
)
SELECT (SELECT count(*) FROM gone),
       (SELECT count(*) FROM gone_steps),
       (SELECT count(*) FROM gone_artifacts),
       (SELECT count(*) FROM gone_transitions),
       (SELECT coalesce(json_agg(artifact_path ORDER BY created_at, id), '[]'::json)
        FROM gone_artifacts)::text,
       (SELECT max(completed_at) FROM victims),
       (SELECT id FROM victims ORDER BY completed_at DESC, id DESC LIMIT 1);

-- name: purge_preview :one
-- op: SELECT workflow_executions
-- purge_batch without deleting (a dry run): the same batch, and how many
-- steps, artifacts and transitions it holds, with the artifacts' paths.
WITH victims AS MATERIALIZED (
    SELECT id, completed_at
    FROM workflow_executions
    WHERE completed_at IS NOT NULL
      AND completed_at < %(finished_before)s::timestamptz
      AND status = ANY (%(statuses)s::workflow_status[])
      AND status NOT IN ('pending', 'running')
      AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid)
      AND (completed_at, id) > (%(after_completed_at)s::timestamptz, %(after_id)s::uuid)
    ORDER BY completed_at, id
    LIMIT %(batch_size)s
),
paths AS MATERIALIZED (
    SELECT a.artifact_path, a.created_at, a.id
    FROM workflow_artifacts AS a
    JOIN victims AS v ON a.workflow_execution_id = v.id
)
SELECT (SELECT count(*) FROM victims),
       (SELECT count(*) FROM workflow_steps AS s JOIN victims AS v
        ON s.workflow_execution_id = v.id),
       (SELECT count(*) FROM paths),
       (SELECT count(*) FROM workflow_transitions AS t JOIN victims AS v
        ON t.workflow_execution_id = v.id),
       (SELECT coalesce(json_agg(artifact_path ORDER BY created_at, id), '[]'::json)
        FROM paths)::text,
       (SELECT max(completed_at) FROM victims),
       (SELECT id FROM victims ORDER BY completed_at DESC, id DESC LIMIT 1);

-- name: purge_count :one
-- op: SELECT workflow_executions
-- How many executions a purge with these arguments would remove (for its
-- progress bar). Served by ix_workflow_executions_completed, or a scan when
-- the cutoff takes most of the history.
-- plan: custom (the cutoff decides between the index and a scan)
SELECT count(*)
FROM workflow_executions
WHERE completed_at IS NOT NULL
  AND completed_at < %(finished_before)s::timestamptz
  AND status = ANY (%(statuses)s::workflow_status[])
  AND status NOT IN ('pending', 'running')
  AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid);
