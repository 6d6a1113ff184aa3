-- Live progress: what watchers and idle workers read (see optiinfra_db/live.py).
--
-- A watch of one execution reads only the partitions between its
-- history_from and history_until (migrations 0025, 0027; run-time
-- pruning: these statements are planned per call, so a whole-log watch's
-- NULL execution id folds the bounds away, and they do not bend its
-- estimates); a watch of the whole
-- log probes every partition's writer index (a few empty index ranges).
--
-- How the log is read (migrations 0016/0017, optiinfra_db/aio/live.py): a
-- watcher keeps a snapshot, lo, and each read returns the transitions whose
-- writer (writer_xid, the writer's top-level transaction) lo did not see and
-- the reading statement's own snapshot does, with that snapshot: the next
-- lo. A writer lo did not see either was listed in lo as in progress
-- (pg_snapshot_xip) or began after it (>= pg_snapshot_xmax): both are index
-- ranges of ix_workflow_transitions_writer, whatever else runs on the
-- server. Nothing is held back, so a long transaction delays only its own
-- rows, and they arrive when it commits. A read cut at the batch size goes
-- on with read_rest, against the snapshot it was cut under.


-- name: listen_transitions :exec
-- op: LISTEN
-- Subscribe this session to the transition log's commit announcements.
LISTEN optiinfra_transitions;

-- name: listen_work :exec
-- op: LISTEN
-- Subscribe this session to "an execution became pending" announcements.
LISTEN optiinfra_work;

-- name: listen_cancel :exec
-- op: LISTEN
-- Subscribe this session to "a running run was taken from its holder"
-- announcements (the run's id as payload; migration 0024): run_worker's
-- listener, which stops that run's handler.
LISTEN optiinfra_cancel;

-- name: unlisten_all :exec
-- op: UNLISTEN
-- End every subscription of this session: a worker's connections go back to
-- the pool hearing nothing.
UNLISTEN *;

-- name: position :one
-- op: SELECT
-- Where the log stands for this session: its snapshot, and its own
-- transaction when that has an id (a snapshot does not list its own
-- transaction as in progress, yet its rows are not committed).
SELECT pg_current_snapshot()::text, pg_current_xact_id_if_assigned()::text;

-- name: read_new :one
-- op: SELECT workflow_transitions
-- plan: custom (never prepared: a watcher's connection prepares nothing)
-- The transitions whose writer %(lo)s did not see and this statement sees,
-- at most %(limit)s in id order, of one execution when %(execution_id)s is
-- given: (this statement's snapshot, the rows as a JSON array, how many).
-- The new rows are few: found through ix_workflow_transitions_writer, then
-- sorted (MATERIALIZED keeps the planner from walking the primary key in id
-- order past every older row to reach them).
WITH fresh AS MATERIALIZED (
    SELECT t.id, t.workflow_execution_id, t.workflow_step_id, t.from_status,
           t.to_status, t.at, t.worker_id, t.actor, t.attempt, t.reason, t.error_details
    FROM workflow_transitions AS t
    WHERE (t.writer_xid >= pg_snapshot_xmax(%(lo)s::pg_snapshot)
           OR t.writer_xid = ANY (ARRAY(SELECT pg_snapshot_xip(%(lo)s::pg_snapshot))))
      AND (%(execution_id)s::uuid IS NULL
           OR (t.workflow_execution_id = %(execution_id)s::uuid
               AND t.at >= coalesce((SELECT e.history_from FROM workflow_executions AS e
                                     WHERE e.id = %(execution_id)s::uuid), '-infinity')
               AND t.at < coalesce((SELECT e.history_until FROM workflow_executions AS e
                                    WHERE e.id = %(execution_id)s::uuid), 'infinity')))
), first AS (
    SELECT f.id, f.workflow_execution_id, f.workflow_step_id, f.from_status,
           f.to_status, f.at, f.worker_id, f.actor, f.attempt, f.reason, f.error_details
    FROM fresh AS f
    ORDER BY f.id
    LIMIT %(limit)s
)
SELECT pg_current_snapshot()::text,
       (SELECT coalesce(json_agg(first ORDER BY first.id), '[]'::json) FROM first)::text,
       (SELECT count(*) FROM first);

-- name: read_rest :one
-- op: SELECT workflow_transitions
-- plan: custom (never prepared: a watcher's connection prepares nothing)
-- The rest of a read that was cut: transitions whose writer %(lo)s did not
-- see and %(hi)s (the cut read's snapshot) did, after id %(last)s, at most
-- %(limit)s in id order: (the rows as a JSON array, how many).
WITH rest AS MATERIALIZED (
    SELECT t.id, t.workflow_execution_id, t.workflow_step_id, t.from_status,
                   t.to_status, t.at, t.worker_id, t.actor, t.attempt, t.reason, t.error_details
    FROM workflow_transitions AS t
    WHERE ((t.writer_xid >= pg_snapshot_xmax(%(lo)s::pg_snapshot)
            AND t.writer_xid < pg_snapshot_xmax(%(hi)s::pg_snapshot))
           OR t.writer_xid = ANY (ARRAY(SELECT pg_snapshot_xip(%(lo)s::pg_snapshot))))
      AND pg_visible_in_snapshot(t.writer_xid, %(hi)s::pg_snapshot)
      AND t.id > %(last)s
      AND (%(execution_id)s::uuid IS NULL
           OR (t.workflow_execution_id = %(execution_id)s::uuid
               AND t.at >= coalesce((SELECT e.history_from FROM workflow_executions AS e
                                     WHERE e.id = %(execution_id)s::uuid), '-infinity')
               AND t.at < coalesce((SELECT e.history_until FROM workflow_executions AS e
                                    WHERE e.id = %(execution_id)s::uuid), 'infinity')))
    ORDER BY t.id
    LIMIT %(limit)s
)
SELECT (SELECT coalesce(json_agg(rest ORDER BY rest.id), '[]'::json) FROM rest)::text,
       (SELECT count(*) FROM rest);

-- name: read_from_id :one
-- op: SELECT workflow_transitions
-- plan: custom (never prepared: a watcher's connection prepares nothing)
-- A watch resumed from a transition id (after=N): the transitions after id
-- %(last)s that %(hi)s (taken when it started) sees, rows logged before
-- migration 0016 included (no writer_xid: committed long before), at most
-- %(limit)s in id order. What %(hi)s did not see comes later through
-- read_new, whatever its id. Served by pk_workflow_transitions.
WITH rest AS MATERIALIZED (
    SELECT t.id, t.workflow_execution_id, t.workflow_step_id, t.from_status,
                   t.to_status, t.at, t.worker_id, t.actor, t.attempt, t.reason, t.error_details
    FROM workflow_transitions AS t
    WHERE t.id > %(last)s
      AND (t.writer_xid IS NULL OR pg_visible_in_snapshot(t.writer_xid, %(hi)s::pg_snapshot))
      AND (%(execution_id)s::uuid IS NULL
           OR (t.workflow_execution_id = %(execution_id)s::uuid
               AND t.at >= coalesce((SELECT e.history_from FROM workflow_executions AS e
                                     WHERE e.id = %(execution_id)s::uuid), '-infinity')
               AND t.at < coalesce((SELECT e.history_until FROM workflow_executions AS e
                                    WHERE e.id = %(execution_id)s::uuid), 'infinity')))
    ORDER BY t.id
    LIMIT %(limit)s
)
SELECT (SELECT coalesce(json_agg(rest ORDER BY rest.id), '[]'::json) FROM rest)::text,
       (SELECT count(*) FROM rest);

-- name: execution_status :one
-- op: SELECT workflow_executions
-- One execution's status (a watcher of a finished run stops at once).
SELECT status::text FROM workflow_executions WHERE id = %(id)s;
