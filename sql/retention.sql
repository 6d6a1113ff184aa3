-- Retention: removing finished history in short batches.

-- name: batch_by_index :exec
-- op: SELECT
-- In the transaction of one purge batch (or dry-run batch): its runs' log
-- found by index probes, each run's within its bounds, not by hashing the
-- whole log, and no JIT compilation. The planner costs a join to the
-- partitioned log as if every partition were probed for every run (run-time
-- pruning is not costed), so left free it hashed all of it (1,000 runs over
-- a year of weekly partitions: 590 ms a batch at 300,000 runs, growing with
-- the log), and the cost it sees for probing exceeds jit_above_cost: JIT
-- then compiled the statement on each batch (+115 ms of a 140 ms batch).
-- Transaction-local: nothing leaks through a pooler.
SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true),
       set_config('jit', 'off', true);

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
WITH said AS MATERIALIZED (
    -- This statement deletes its runs' log itself (gone_transitions, which
    -- counts it): the log trigger of workflow_executions (migration 0026)
    -- need not look for it again (transaction-local).
    SELECT set_config('optiinfra.log_deleted', 'on', true) AS s
),
victims AS MATERIALIZED (
    SELECT id, completed_at, history_from, history_until
    FROM workflow_executions
    WHERE completed_at IS NOT NULL
      AND completed_at < %(finished_before)s::timestamptz
      AND status = ANY (%(statuses)s::workflow_status[])
      AND status NOT IN ('pending', 'running')
      AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid)
      AND (completed_at, id) > (%(after_completed_at)s::timestamptz, %(after_id)s::uuid)
      AND (SELECT s FROM said) = 'on'
    ORDER BY completed_at, id
    LIMIT %(batch_size)s
    FOR UPDATE SKIP LOCKED
),
gone_transitions AS (
    -- each run's log within its bounds [history_from, history_until) (a
    -- partition outside them: never read)
    DELETE FROM workflow_transitions AS t
    USING victims AS v
    WHERE t.workflow_execution_id = v.id
      AND t.at >= coalesce(v.history_from, '-infinity')
      AND t.at < coalesce(v.history_until, 'infinity')
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
-- The transitions of the log's partitions named in %(dropped)s (those the
-- dry run counted as dropped whole) are not counted again.
WITH victims AS MATERIALIZED (
    SELECT id, completed_at, history_from, history_until
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
        ON t.workflow_execution_id = v.id AND t.at >= coalesce(v.history_from, '-infinity')
           AND t.at < coalesce(v.history_until, 'infinity')
        WHERE t.tableoid::regclass::text <> ALL (%(dropped)s::text[])),
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

-- name: partition_rows :one
-- op: SELECT
-- One partition's rows, and how many of them belong to a run this purge
-- keeps (any execution that is not finished before %(finished_before)s
-- with a status in %(statuses)s, or of another customer than
-- %(customer_id)s): the partition is dropped only when that is 0. {partition}
-- is an identifier read from the catalog (partitions.list), composed with
-- psycopg.sql.Identifier. A scan of the partition, each row's execution
-- found by its primary key or a hash of them.
SELECT count(*),
       count(*) FILTER (
           WHERE e.id IS NULL
              OR NOT (e.completed_at IS NOT NULL
                      AND e.completed_at < %(finished_before)s::timestamptz
                      AND e.status = ANY (%(statuses)s::workflow_status[])
                      AND e.status NOT IN ('pending', 'running')
                      AND (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s::uuid)))
FROM {partition} AS t
LEFT JOIN workflow_executions AS e ON e.id = t.workflow_execution_id;

-- name: detach_lock_timeout :exec
-- op: SET
-- A plain DETACH, in the transaction this opens, waits at most 2 s for the
-- log's lock (then purge retries).
SET LOCAL lock_timeout = '2s';

-- name: backend_pid :one
-- op: SELECT
-- The server process this session runs on: another pid than the one the
-- connection announced means a pooler stands between (a DETACH
-- CONCURRENTLY must not go through one).
SELECT pg_backend_pid();

-- name: detach_partition_concurrently :exec
-- op: ALTER workflow_transitions
-- Detach one partition without blocking the log's readers and writers (two
-- transactions of its own: never in a transaction block, never through a
-- transaction pooler). Refused by PostgreSQL while a DEFAULT partition
-- exists; then detach_partition. {partition}: as in partition_rows.
ALTER TABLE workflow_transitions DETACH PARTITION {partition} CONCURRENTLY;

-- name: detach_partition :exec
-- op: ALTER workflow_transitions
-- Detach one partition: a catalog change under a moment's ACCESS EXCLUSIVE
-- lock on the log (waited for at most lock_timeout). Used while a DEFAULT
-- partition exists, where CONCURRENTLY is refused. {partition}: as in
-- partition_rows.
ALTER TABLE workflow_transitions DETACH PARTITION {partition};

-- name: finish_detach :exec
-- op: ALTER workflow_transitions
-- Finish a DETACH CONCURRENTLY that an interrupted purge (or a DBA) left
-- pending. {partition}: as in partition_rows.
ALTER TABLE workflow_transitions DETACH PARTITION {partition} FINALIZE;

-- name: drop_detached :exec
-- op: DROP
-- Drop a detached partition whose rows were checked again after the detach
-- (partition_rows on it). {partition}: as in partition_rows.
DROP TABLE {partition};
