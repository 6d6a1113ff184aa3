-- The history-at-scale benchmark's own statements (benchmarks/history_scale.py):
-- a bulk seed of executions and their transitions, and what it measures.
-- Not the library's: it loads with session_replication_role = replica (no
-- triggers, no foreign-key checks: the rows are consistent by construction)
-- and with the secondary indexes dropped and rebuilt after, as a DBA loads.

-- name: seed_customers :exec
-- op: INSERT customers
INSERT INTO customers (id, name, email, api_key_hash)
SELECT gen_random_uuid(), 'bench customer ' || n, 'bench' || n || '@example.test', md5(n::text) || md5(n::text)
FROM generate_series(1, %(customers)s) AS n;

-- name: seed_agent :exec
-- op: INSERT agents
INSERT INTO agents (id, type, name) VALUES (gen_random_uuid(), 'cost', 'bench-agent');

-- name: seed_executions :exec
-- op: INSERT workflow_executions
-- Runs %(lo)s..%(hi)s of %(total)s, spread evenly over the %(weeks)s weeks
-- before now (run n at now - weeks * (1 - n / total)), all finished: three
-- in four completed, the rest failed. Their log's bounds as the triggers
-- keep them for a run made at its created_at (history_from: created;
-- history_until: completed + a day).
INSERT INTO workflow_executions (
    id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
    created_at, updated_at, attempt, first_started_at, history_from, history_until)
SELECT uuid_in(md5('run' || n)::cstring), a.id, c.ids[1 + n %% array_length(c.ids, 1)],
       'cost_analysis', CASE WHEN n %% 4 = 0 THEN 'failed' ELSE 'completed' END::workflow_status,
       t + interval '1 second', t + interval '40 seconds', t, t + interval '40 seconds', 1,
       t + interval '1 second', t, t + interval '40 seconds' + interval '1 day'
FROM generate_series(%(lo)s::bigint, %(hi)s::bigint) AS n
CROSS JOIN (SELECT id FROM agents WHERE name = 'bench-agent') AS a
CROSS JOIN (SELECT array_agg(id ORDER BY id) AS ids FROM customers) AS c
CROSS JOIN LATERAL (
    SELECT now() - %(weeks)s * interval '1 week' * (1 - n::float8 / %(total)s) AS t
) AS tt;

-- name: seed_transitions :exec
-- op: INSERT workflow_transitions
-- Six moves per run, as a run of one step writes them: the run pending,
-- running, finished; its step pending, running, finished.
INSERT INTO workflow_transitions (
    workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
    attempt, reason, customer_id, actor)
SELECT e.id, CASE WHEN m.step THEN uuid_in(md5('step' || e.id)::cstring) END,
       m.from_status, m.to_status, e.created_at + m.k * interval '5 seconds',
       'bench-worker', 1, m.reason, e.customer_id, 'bench-worker'
FROM workflow_executions AS e
CROSS JOIN (VALUES (1, false, NULL, 'pending', NULL), (2, false, 'pending', 'running', 'claimed'),
                   (3, true, NULL, 'pending', NULL), (4, true, 'pending', 'running', NULL),
                   (5, true, 'running', 'completed', NULL), (6, false, 'running', 'completed', NULL))
    AS m (k, step, from_status, to_status, reason)
WHERE e.created_at >= %(lo)s::timestamptz AND e.created_at < %(hi)s::timestamptz;

-- name: plain_history_until :exec
-- op: ALTER workflow_executions
-- The plain log's database keeps 0027's column (purge reads it), not its
-- triggers: the seed fills it.
ALTER TABLE workflow_executions ADD COLUMN history_until timestamptz;

-- name: secondary_indexes :many
-- op: SELECT
-- The indexes of the two big tables that back no constraint: dropped
-- before the load and built again after it (CREATE INDEX sorts once; the
-- load then writes no index entry row by row).
SELECT i.relname::text, pg_get_indexdef(i.oid)
FROM pg_index AS x
JOIN pg_class AS i ON i.oid = x.indexrelid
WHERE x.indrelid IN ('workflow_executions'::regclass, 'workflow_transitions'::regclass)
  AND NOT EXISTS (SELECT FROM pg_constraint AS c WHERE c.conindid = x.indexrelid);

-- name: sizes :one
-- op: SELECT
-- The log's and the runs' size with their indexes (every partition).
SELECT (SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0)::bigint
        FROM pg_class AS c
        WHERE c.oid = 'workflow_transitions'::regclass
           OR c.oid IN (SELECT inhrelid FROM pg_inherits
                        WHERE inhparent = 'workflow_transitions'::regclass)),
       pg_total_relation_size('workflow_executions')::bigint;

-- name: wal_lsn :one
-- op: SELECT
-- Where the WAL stands (the difference of two is the bytes written between).
SELECT pg_current_wal_lsn()::text;

-- name: wal_bytes :one
-- op: SELECT
SELECT pg_wal_lsn_diff(%(b)s::pg_lsn, %(a)s::pg_lsn)::bigint;

-- name: some_runs :many
-- op: SELECT workflow_executions
-- Finished runs to read the history of, spread over the whole history
-- (a scan: once per run of the benchmark).
SELECT id FROM workflow_executions WHERE status <> 'pending'
ORDER BY md5(id::text) LIMIT %(n)s;
