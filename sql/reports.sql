-- Read-only reports across tables: what `optiinfra-db runs list` and
-- `runs show` print, read through ReportRepository (both sides), so a
-- service can show the same. Each returns its record as JSON text, like the
-- table files.

-- name: runs :many
-- op: SELECT workflow_executions
-- Executions newest first with their customer and agent names, duration
-- (from the run's first start, so a requeued run's counts its waits) and
-- step counts, its scheduling (priority, run_after, idempotency key) and
-- attempts (a RunSummary each). Filters are NULL when unused (statuses:
-- any of them); the window is the runs created in [since, until), as in
-- every count of runs; limit NULL: every match (streamed by iter_runs).
-- Served by ix_workflow_executions_created (or the customer/agent indexes
-- when those filters are given); the step counts by
-- ix_workflow_steps_execution_status.
-- plan: custom (optional filters: each call is planned with its values)
SELECT e.id, e.created_at, e.workflow_type, e.status,
       c.name AS customer, a.name AS agent,
       e.started_at, e.first_started_at, e.completed_at,
       extract(epoch FROM e.completed_at - e.first_started_at)::float8 AS duration_s,
       (SELECT count(*) FROM workflow_steps AS s
        WHERE s.workflow_execution_id = e.id) AS steps,
       (SELECT count(*) FROM workflow_steps AS s
        WHERE s.workflow_execution_id = e.id AND s.status = 'failed') AS failed_steps,
       e.priority, e.run_after, e.idempotency_key, e.attempt, e.max_attempts
FROM workflow_executions AS e
JOIN customers AS c ON c.id = e.customer_id
JOIN agents AS a ON a.id = e.agent_id
WHERE (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR e.agent_id = %(agent_id)s::uuid)
  AND (%(workflow_type)s::workflow_type IS NULL
       OR e.workflow_type = %(workflow_type)s::workflow_type)
  AND (%(statuses)s::workflow_status[] IS NULL
       OR e.status = ANY(%(statuses)s::workflow_status[]))
  AND e.created_at >= %(since)s::timestamptz
  AND e.created_at < %(until)s::timestamptz
ORDER BY e.created_at DESC, e.id DESC
LIMIT %(limit)s;

-- name: run_parties :one
-- op: SELECT workflow_executions
-- The customer and agent of one execution (a RunParties), for the
-- `runs show` header.
SELECT json_build_object(
           'customer_name', c.name, 'customer_email', c.email,
           'agent_name', a.name, 'agent_type', a.type)::text
FROM workflow_executions AS e
JOIN customers AS c ON c.id = e.customer_id
JOIN agents AS a ON a.id = e.agent_id
WHERE e.id = %(id)s;

-- name: latest_failed :one
-- op: SELECT workflow_executions
-- The id of the most recent failed execution (the demo shows its
-- timeline). Served by ix_workflow_executions_created, filtering on status.
SELECT id FROM workflow_executions
WHERE status = 'failed'
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: find_customers :many
-- op: SELECT customers
-- Customers whose id, e-mail or name is the given text (a NameMatch each;
-- at most two: one is an answer, two say the text is ambiguous).
SELECT json_build_object('id', id, 'name', name)::text FROM customers
WHERE id::text = %(key)s OR email = %(key)s OR name = %(key)s
ORDER BY name
LIMIT 2;

-- name: find_agents :many
-- op: SELECT agents
-- Agents whose id or name is the given text (a NameMatch each, at most two).
SELECT json_build_object('id', id, 'name', name)::text FROM agents
WHERE id::text = %(key)s OR name = %(key)s
ORDER BY name
LIMIT 2;
