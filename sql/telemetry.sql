-- What odb.instrument()'s observable instruments read from the database
-- (optiinfra_db/telemetry.py). Cheap by construction: they run every few
-- seconds for as long as a service lives.

-- name: runs :many
-- op: SELECT workflow_executions
-- The runs waiting and running, by status and workflow type (the
-- optiinfra.workflow.runs gauge, read at most every runs_every seconds).
-- Only the two live statuses: each half reads a partial index of its
-- status (the queue's, the running runs'), never the history; its cost
-- grows with the queue (a heap visit per run for its type), not with the
-- table. Ended runs are counted by the run-duration histogram as they end.
SELECT 'pending'::text AS status, workflow_type::text, count(*)::int
FROM workflow_executions
WHERE status = 'pending'
GROUP BY workflow_type
UNION ALL
SELECT 'running'::text, workflow_type::text, count(*)::int
FROM workflow_executions
WHERE status = 'running'
GROUP BY workflow_type;

-- name: statements_ready :one
-- op: SELECT
-- Whether pg_stat_statements can be read here, for `optiinfra-db top`: the
-- extension created in this database, and the library loaded at server
-- start (shared_preload_libraries; without it the view raises).
SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'),
       'pg_stat_statements' = ANY (string_to_array(
           replace(current_setting('shared_preload_libraries'), ' ', ''), ','));

-- name: statements :many
-- op: SELECT
-- Every statement pg_stat_statements tracks in this database, for
-- `optiinfra-db top`: its text as first seen (the library's start with
-- their origin comment, which attributes them), calls, total time (ms),
-- rows, shared blocks hit and read. Without pg_read_all_stats, other
-- roles' texts read '<insufficient privilege>'.
SELECT s.queryid, s.userid::int8, s.query, s.calls, s.total_exec_time, s.rows,
       s.shared_blks_hit, s.shared_blks_read
FROM pg_stat_statements AS s
WHERE s.dbid = (SELECT oid FROM pg_database WHERE datname = current_database());

-- name: statements_reset_at :one
-- op: SELECT
-- When pg_stat_statements was last reset (PostgreSQL 14 and later).
SELECT stats_reset FROM pg_stat_statements_info;
