-- Live progress: what watchers and idle workers read (see optiinfra_db/live.py).

-- name: listen_transitions :exec
-- Subscribe this session to the transition log's commit announcements.
LISTEN optiinfra_transitions;

-- name: listen_work :exec
-- Subscribe this session to "an execution became pending" announcements.
LISTEN optiinfra_work;

-- name: read_log :one
-- One read of the transition log after %(after)s, with the snapshot it was
-- read under: the snapshot (pg_current_snapshot(), whose in-progress list
-- names the transactions that may still commit rows with lower ids), the
-- highest id this read covers (at most %(limit)s rows past after), the rows
-- in (after, that id] as a JSON array in id order (of one execution when
-- %(execution_id)s is given), and how many rows the range held in all.
-- Served by pk_workflow_transitions and, for one execution,
-- ix_workflow_transitions_execution.
WITH upto AS MATERIALIZED (
    SELECT max(id) AS id, count(*) AS n
    FROM (
        SELECT id
        FROM workflow_transitions
        WHERE id > %(after)s
        ORDER BY id
        LIMIT %(limit)s
    ) AS next_rows
)
SELECT pg_current_snapshot()::text,
       (SELECT id FROM upto),
       (SELECT coalesce(json_agg(r ORDER BY r.id), '[]'::json)
        FROM (
            SELECT t.id, t.workflow_execution_id, t.workflow_step_id, t.from_status,
                   t.to_status, t.at, t.worker_id, t.attempt, t.reason, t.error_details
            FROM workflow_transitions AS t
            WHERE t.id > %(after)s
              AND t.id <= (SELECT id FROM upto)
              AND (%(execution_id)s::uuid IS NULL
                   OR t.workflow_execution_id = %(execution_id)s::uuid)
        ) AS r)::text,
       (SELECT n FROM upto);

-- name: read_range :one
-- The transitions in (%(after)s, %(upto)s] as a JSON array in id order, of
-- one execution when %(execution_id)s is given: a watcher's second read of
-- a range once the transactions that could still add to it have ended.
SELECT coalesce(json_agg(r ORDER BY r.id), '[]'::json)::text
FROM (
    SELECT t.id, t.workflow_execution_id, t.workflow_step_id, t.from_status, t.to_status,
           t.at, t.worker_id, t.attempt, t.reason, t.error_details
    FROM workflow_transitions AS t
    WHERE t.id > %(after)s
      AND t.id <= %(upto)s
      AND (%(execution_id)s::uuid IS NULL OR t.workflow_execution_id = %(execution_id)s::uuid)
) AS r;

-- name: still_running :one
-- How many of these transactions (xid8 text, from a snapshot's in-progress
-- list) are still in progress.
SELECT count(*)
FROM unnest(%(xids)s::xid8[]) AS x
WHERE pg_xact_status(x) = 'in progress';

-- name: last_id :one
-- The highest transition id now (where a watcher without after= starts).
SELECT coalesce(max(id), 0) FROM workflow_transitions;

-- name: execution_status :one
-- One execution's status (a watcher of a finished run stops at once).
SELECT status::text FROM workflow_executions WHERE id = %(id)s;
