-- Read-only reports behind the command line (runs list, runs show, stats).

-- name: runs :many
-- Executions newest first with their customer and agent names, duration and
-- step counts, for `optiinfra-db runs list`. Filters are NULL when unused;
-- created_at >= since. Served by ix_workflow_executions_created (or the
-- customer/agent indexes when those filters are given); the step counts by
-- ix_workflow_steps_execution_status.
-- plan: custom (optional filters: each call is planned with its values)
SELECT e.id, e.created_at, e.workflow_type::text, e.status::text,
       c.name AS customer, a.name AS agent,
       e.started_at, e.completed_at,
       extract(epoch FROM e.completed_at - e.started_at)::float8 AS duration_s,
       (SELECT count(*) FROM workflow_steps AS s WHERE s.workflow_execution_id = e.id) AS steps,
       (SELECT count(*) FROM workflow_steps AS s
        WHERE s.workflow_execution_id = e.id AND s.status = 'failed') AS failed_steps
FROM workflow_executions AS e
JOIN customers AS c ON c.id = e.customer_id
JOIN agents AS a ON a.id = e.agent_id
WHERE (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR e.agent_id = %(agent_id)s::uuid)
  AND (%(workflow_type)s::workflow_type IS NULL
       OR e.workflow_type = %(workflow_type)s::workflow_type)
  AND (%(status)s::workflow_status IS NULL OR e.status = %(status)s::workflow_status)
  AND e.created_at >= %(since)s::timestamptz
ORDER BY e.created_at DESC, e.id DESC
LIMIT %(limit)s;

-- name: run_names :one
-- Customer and agent names of one execution, for the `runs show` header.
SELECT c.name, c.email, a.name, a.type::text
FROM workflow_executions AS e
JOIN customers AS c ON c.id = e.customer_id
JOIN agents AS a ON a.id = e.agent_id
WHERE e.id = %(id)s;

-- name: latest_failed :one
-- The most recent failed execution (the demo shows its timeline). Served by
-- ix_workflow_executions_created, filtering on status.
SELECT id FROM workflow_executions
WHERE status = 'failed'
ORDER BY created_at DESC, id DESC
LIMIT 1;

-- name: find_customer :many
-- Customers whose id, e-mail or name is the given text (for --customer).
SELECT id, name FROM customers
WHERE id::text = %(key)s OR email = %(key)s OR name = %(key)s
ORDER BY name
LIMIT 2;

-- name: find_agent :many
-- Agents whose id or name is the given text (for --agent).
SELECT id, name FROM agents
WHERE id::text = %(key)s OR name = %(key)s
ORDER BY name
LIMIT 2;
