-- Retention: removing finished history in short batches.

-- name: purge_batch :one
-- One batch of purge: up to %(batch_size)s finished executions (status in
-- %(statuses)s, never pending or running) that completed before
-- %(finished_before)s, optionally of one customer, oldest first after the
-- keyset (after_completed_at, after_id); FOR UPDATE SKIP LOCKED, so a run a
-- worker or another purge holds is left alone. Deletes them (their steps,
-- artifacts and transitions go by ON DELETE CASCADE) unless %(dry_run)s, and
-- returns how many executions, steps, artifacts and transitions that was,
-- the artifacts' paths (for the caller to delete the blobs) and the last
-- (completed_at, id) for the next batch's keyset. Served by
-- ix_workflow_executions_completed (partial: finished runs only).
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
counted AS MATERIALIZED (
    SELECT (SELECT count(*) FROM workflow_steps AS s
            WHERE s.workflow_execution_id IN (SELECT id FROM victims)) AS steps,
           (SELECT count(*) FROM workflow_transitions AS t
            WHERE t.workflow_execution_id IN (SELECT id FROM victims)) AS transitions,
           (SELECT coalesce(json_agg(a.artifact_path ORDER BY a.created_at, a.id), '[]'::json)
            FROM workflow_artifacts AS a
            WHERE a.workflow_execution_id IN (SELECT id FROM victims)) AS paths
),
gone AS (
    DELETE FROM workflow_executions AS e
    USING victims AS v
    WHERE e.id = v.id
      AND NOT %(dry_run)s::boolean
    RETURNING e.id
)
SELECT (SELECT count(*) FROM victims),
       counted.steps,
       json_array_length(counted.paths),
       counted.transitions,
       counted.paths::text,
       (SELECT max(completed_at) FROM victims),
       (SELECT id FROM victims ORDER BY completed_at DESC, id DESC LIMIT 1),
       (SELECT count(*) FROM gone)
FROM counted;

-- name: purge_count :one
-- How many executions a purge with these arguments would remove (for its
-- progress bar). Served by ix_workflow_executions_completed.
SELECT count(*)
FROM workflow_executions
WHERE completed_at IS NOT NULL
  AND completed_at < %(finished_before)s::timestamptz
  AND status = ANY (%(statuses)s::workflow_status[])
  AND status NOT IN ('pending', 'running')
  AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid);
