-- Workflow executions: one run of a workflow, its lifecycle and its history.
-- Lifecycle statements are single guarded UPDATEs; timestamps come from
-- clock_timestamp() so a run started and finished in one transaction still
-- has a real duration.

-- name: create :one
-- op: INSERT workflow_executions
-- Insert one workflow execution and return it (one round trip). Columns
-- not listed keep their database defaults.
INSERT INTO workflow_executions (
    agent_id, customer_id, workflow_type, status, started_at,
    completed_at, input_data, output_data, error_details, metadata, max_attempts,
    run_after, priority, idempotency_key
) VALUES (
    %(agent_id)s, %(customer_id)s, %(workflow_type)s::workflow_type,
    %(status)s::workflow_status, %(started_at)s, %(completed_at)s,
    %(input_data)s, %(output_data)s, %(error_details)s, %(metadata)s, %(max_attempts)s,
    %(run_after)s, %(priority)s, %(idempotency_key)s
)
-- A key the customer already used: nothing is written and no row comes
-- back (the library then reads that run: by_idempotency_key).
ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
          completed_at, input_data, output_data, error_details, metadata,
          created_at, updated_at,
          worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key;

-- name: create_with_steps :one
-- op: INSERT workflow_executions
-- Insert one execution and its ordered steps in one statement (one round
-- trip), and return the execution with its steps (in step order) as one JSON
-- document, shaped like get_detail, and whether it was created (false: its
-- idempotency key was used, nothing written). %(steps)s is a JSON array of objects with
-- step_name, step_order, status, input_data, max_retries and metadata. Either
-- everything is written or, on any violation, nothing.
WITH created AS (
    INSERT INTO workflow_executions (
        agent_id, customer_id, workflow_type, status, started_at,
        completed_at, input_data, output_data, error_details, metadata, max_attempts,
        run_after, priority, idempotency_key
    ) VALUES (
        %(agent_id)s, %(customer_id)s, %(workflow_type)s::workflow_type,
        %(status)s::workflow_status, %(started_at)s, %(completed_at)s,
        %(input_data)s, %(output_data)s, %(error_details)s, %(metadata)s, %(max_attempts)s,
        %(run_after)s, %(priority)s, %(idempotency_key)s
    )
    -- A used key: nothing is written (no steps either) and 'execution' is
    -- null (the library then reads that run: by_idempotency_key).
    ON CONFLICT (customer_id, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
              completed_at, input_data, output_data, error_details, metadata,
              created_at, updated_at,
              worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
),
steps AS (
    INSERT INTO workflow_steps (
        workflow_execution_id, customer_id, step_name, step_order, status, input_data,
        max_retries, metadata
    )
    -- customer_id given (the fill trigger cannot see an execution inserted
    -- by this same statement)
    SELECT created.id, created.customer_id, s.step_name, s.step_order, s.status, s.input_data,
           s.max_retries, s.metadata
    FROM created
    CROSS JOIN jsonb_to_recordset(%(steps)s::jsonb) AS s (
        step_name varchar(255), step_order integer, status step_status,
        input_data jsonb, max_retries integer, metadata jsonb
    )
    RETURNING id, workflow_execution_id, step_name, step_order, status, started_at,
              completed_at, input_data, output_data, error_details, retry_count,
              max_retries, metadata, created_at, updated_at, restart_count
)
SELECT json_build_object(
    'execution', (SELECT to_json(created) FROM created),
    'steps', coalesce((SELECT json_agg(steps ORDER BY steps.step_order) FROM steps),
                      '[]'::json),
    'artifacts', '[]'::json
)::text,
       EXISTS (SELECT 1 FROM created) AS created;

-- name: get :one
-- op: SELECT workflow_executions
-- One workflow execution by primary key.
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE id = %(id)s;

-- name: by_idempotency_key :one
-- op: SELECT workflow_executions
-- The run a customer created with this idempotency key, if it is still in
-- the database (what a create with a used key returns, when it asked for
-- the same). Served by ux_workflow_executions_idempotency.
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE customer_id = %(customer_id)s
  AND idempotency_key = %(idempotency_key)s;

-- name: update :one
-- op: UPDATE workflow_executions
-- Partial update of one workflow execution: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist, or (with
-- expected_updated_at, an optimistic check) the row changed since it was
-- read, or the execution is finished and the call would rewrite its
-- output_data or error_details (a finished run's result is history).
-- updated_at is kept by the trigger.
UPDATE workflow_executions SET
    input_data = CASE WHEN %(set_input_data)s THEN %(input_data)s ELSE input_data END,
    output_data = CASE WHEN %(set_output_data)s THEN %(output_data)s ELSE output_data END,
    error_details = CASE WHEN %(set_error_details)s THEN %(error_details)s ELSE error_details END,
    metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
  AND NOT ((%(set_output_data)s OR %(set_error_details)s)
           AND status IN ('completed', 'failed', 'cancelled', 'timeout'))
RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
          completed_at, input_data, output_data, error_details, metadata,
          created_at, updated_at,
          worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key;

-- name: merge_metadata :one
-- op: UPDATE workflow_executions
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE workflow_executions SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, agent_id, customer_id, workflow_type, status, started_at,
          completed_at, input_data, output_data, error_details, metadata,
          created_at, updated_at,
          worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key;

-- name: delete :execrows
-- op: DELETE workflow_executions
-- Delete one workflow execution by primary key (and, through ON DELETE,
-- what hangs off it).
DELETE FROM workflow_executions WHERE id = %(id)s;

-- name: list_for_customer :many
-- op: SELECT workflow_executions
-- A customer's executions, optionally of one type and status, newest first.
-- Keyset pagination: the first page passes after_created_at = 'infinity'
-- and after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; statuses is an
-- array (any of them); since/until bound created_at as [since, until) and
-- default to -infinity/infinity; finished_since/finished_until bound
-- completed_at the same way (ix_workflow_executions_completed).
-- Served by ix_workflow_executions_customer_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE customer_id = %(customer_id)s
  AND (%(workflow_type)s::workflow_type IS NULL
       OR workflow_type = %(workflow_type)s::workflow_type)
  AND (%(statuses)s::workflow_status[] IS NULL
       OR status = ANY (%(statuses)s::workflow_status[]))
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (%(finished_since)s::timestamptz IS NULL
       OR completed_at >= %(finished_since)s::timestamptz)
  AND (%(finished_until)s::timestamptz IS NULL
       OR completed_at < %(finished_until)s::timestamptz)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: page_for_customer :many
-- op: SELECT workflow_executions
-- One page of a customer's executions, newest first, with no filter: what
-- list_for_customer runs when no filter is in use (its first and next
-- pages, keyset as in list_for_customer). No optional filter, so it is
-- prepared: its generic plan reads ix_workflow_executions_customer_created
-- backwards from the keyset and stops after %(limit)s rows, however long the
-- customer's history.
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE customer_id = %(customer_id)s
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: page_for_agent :many
-- op: SELECT workflow_executions
-- One page of an agent's executions, newest first, with no filter: what
-- list_for_agent runs when no filter is in use. Prepared, like
-- page_for_customer; served by ix_workflow_executions_agent_created.
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE agent_id = %(agent_id)s
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_for_agent :many
-- op: SELECT workflow_executions
-- An agent's executions, optionally in one status, newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; statuses is an
-- array (any of them); since/until bound created_at as [since, until) and
-- default to -infinity/infinity; finished_since/finished_until bound
-- completed_at the same way (ix_workflow_executions_completed).
-- Served by ix_workflow_executions_agent_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE agent_id = %(agent_id)s
  AND (%(workflow_type)s::workflow_type IS NULL
       OR workflow_type = %(workflow_type)s::workflow_type)
  AND (%(statuses)s::workflow_status[] IS NULL
       OR status = ANY (%(statuses)s::workflow_status[]))
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (%(finished_since)s::timestamptz IS NULL
       OR completed_at >= %(finished_since)s::timestamptz)
  AND (%(finished_until)s::timestamptz IS NULL
       OR completed_at < %(finished_until)s::timestamptz)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list :many
-- op: SELECT workflow_executions
-- All executions (the operator's recent-runs view), newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; statuses is an
-- array (any of them); since/until bound created_at as [since, until) and
-- default to -infinity/infinity; finished_since/finished_until bound
-- completed_at the same way (ix_workflow_executions_completed).
-- Served by ix_workflow_executions_created.
-- A NULL limit means every row (the iterators stream them through a
-- server-side cursor).
-- plan: custom (never prepared: a generic plan can't tell which filters are
-- in use nor how much history the owner has, and would read all of it)
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE (%(workflow_type)s::workflow_type IS NULL
       OR workflow_type = %(workflow_type)s::workflow_type)
  AND (%(statuses)s::workflow_status[] IS NULL
       OR status = ANY (%(statuses)s::workflow_status[]))
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (%(finished_since)s::timestamptz IS NULL
       OR completed_at >= %(finished_since)s::timestamptz)
  AND (%(finished_until)s::timestamptz IS NULL
       OR completed_at < %(finished_until)s::timestamptz)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_active_for_agent :many
-- op: SELECT workflow_executions
-- What one agent has on its plate: its pending and running executions, oldest
-- first (a scheduler's concurrency check). Served by
-- ix_workflow_executions_agent_open (partial: open executions only).
SELECT id, agent_id, customer_id, workflow_type, status, started_at,
       completed_at, input_data, output_data, error_details, metadata,
       created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
FROM workflow_executions
WHERE agent_id = %(agent_id)s
  AND status IN ('pending', 'running')
ORDER BY created_at, id
LIMIT %(limit)s;

-- name: count_active_for_agent :one
-- op: SELECT workflow_executions
-- How many pending and running executions one agent has (a scheduler's
-- concurrency check). Served by ix_workflow_executions_agent_status
-- (index-only scan).
SELECT count(*)
FROM workflow_executions
WHERE agent_id = %(agent_id)s
  AND status IN ('pending', 'running');

-- name: count_by_type :many
-- op: SELECT workflow_executions
-- How many executions one customer has of each workflow type (a dashboard
-- tile). Served by ix_workflow_executions_customer_type (index-only scan).
SELECT workflow_type::text, count(*)
FROM workflow_executions
WHERE customer_id = %(customer_id)s
GROUP BY workflow_type
ORDER BY workflow_type;

-- name: claim :many
-- op: UPDATE workflow_executions
-- Claim up to %(limit)s pending executions that are due for one worker:
-- higher priority first, then by when each became claimable (run_after,
-- else created_at), oldest first, then id; a run whose run_after is still
-- ahead is never taken. FOR UPDATE SKIP LOCKED: concurrent claimers neither
-- wait for nor take the same row. Each claimed run moves to running with
-- started_at, worker_id, heartbeat_at, lease_expires_at = now + %(lease)s,
-- attempt + 1, and error_details cleared (a requeued run's last error stays
-- in the transition log). Optional filters are NULL when unused.
-- claim_limited is this claim with a per-customer limit. Served by
-- ix_workflow_executions_queue (partial: the queue only), read in order, a
-- run not yet due passed over inside the index. The rows come back as plain
-- columns, in claim order.
WITH ctx AS MATERIALIZED (
    -- The reason and actor of the claim (the claiming worker, unless an
    -- actor is given), for the transition log's trigger (transaction-local,
    -- stamped with this statement's start); the log takes the worker from
    -- the row.
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c
),
picked AS MATERIALIZED (
    SELECT q.id
    FROM workflow_executions AS q
    WHERE q.status = 'pending'
      AND coalesce(q.run_after, q.created_at) <= statement_timestamp()
      AND (%(workflow_types)s::workflow_type[] IS NULL
           OR q.workflow_type = ANY (%(workflow_types)s::workflow_type[]))
      AND (%(agent_id)s::uuid IS NULL OR q.agent_id = %(agent_id)s::uuid)
      AND (%(customer_id)s::uuid IS NULL OR q.customer_id = %(customer_id)s::uuid)
    ORDER BY q.priority DESC, coalesce(q.run_after, q.created_at), q.id
    LIMIT %(limit)s
    FOR UPDATE OF q SKIP LOCKED
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = 'running',
        started_at = clock_timestamp(),
        completed_at = NULL,
        worker_id = %(worker_id)s::text,
        heartbeat_at = clock_timestamp(),
        lease_expires_at = clock_timestamp() + %(lease)s::interval,
        attempt = e.attempt + 1,
        error_details = NULL
    FROM picked
    WHERE e.id = picked.id
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved
ORDER BY priority DESC, coalesce(run_after, created_at), id;

-- name: claim_one :many
-- op: UPDATE workflow_executions
-- claim's common case, one due run with no filter, as a static statement:
-- with a constant LIMIT its generic plan is costed for the one row it reads
-- and PostgreSQL keeps it after five executions, where claim's LIMIT
-- parameter (costed as a tenth of the queue) gets the statement planned
-- afresh on every call. Same order, same move, same log: the highest
-- priority due pending run, by when it became claimable (run_after, else
-- created_at), then id; never one whose run_after is ahead; FOR UPDATE SKIP
-- LOCKED. Served by ix_workflow_executions_queue, read in order.
WITH ctx AS MATERIALIZED (
    -- The reason and actor of the claim, as in claim.
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c
),
picked AS MATERIALIZED (
    SELECT q.id
    FROM workflow_executions AS q
    WHERE q.status = 'pending'
      AND coalesce(q.run_after, q.created_at) <= statement_timestamp()
    ORDER BY q.priority DESC, coalesce(q.run_after, q.created_at), q.id
    LIMIT 1
    FOR UPDATE OF q SKIP LOCKED
)
UPDATE workflow_executions AS e SET
    status = 'running',
    started_at = clock_timestamp(),
    completed_at = NULL,
    worker_id = %(worker_id)s::text,
    heartbeat_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + %(lease)s::interval,
    attempt = e.attempt + 1,
    error_details = NULL
FROM picked
WHERE e.id = picked.id
  AND (SELECT c FROM ctx) IS NOT NULL
RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
          e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
          e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
          e.attempt, e.max_attempts, e.first_started_at,
          e.run_after, e.priority, e.idempotency_key;

-- name: claim_limited :many
-- op: UPDATE workflow_executions
-- claim with a per-customer limit: up to %(limit)s due pending executions
-- for one worker, in claim's order:
-- higher priority first, then by when each became claimable (run_after,
-- else created_at), oldest first, then id; a run whose run_after is still
-- ahead is never taken. FOR UPDATE SKIP LOCKED: concurrent claimers neither
-- wait for nor take the same row. Each claimed run moves to running with
-- started_at, worker_id, heartbeat_at, lease_expires_at = now + %(lease)s,
-- attempt + 1, and error_details cleared (a requeued run's last error stays
-- in the transition log). Optional filters are NULL when unused.
-- %(per_customer_limit)s: a customer that has that many runs
-- running is passed over, and of one customer's picks only as many as it
-- has room for are claimed (the rest stay pending); a claim with a limit
-- runs after claim_lock in its transaction, so it counts every claim
-- committed before it. Served by ix_workflow_executions_queue (partial: the
-- queue only), read in order, a run not yet due passed over inside the
-- index; the running runs of a customer counted on
-- ix_workflow_executions_running_customer (at most the limit read).
WITH ctx AS MATERIALIZED (
    -- The reason and actor of the claim (the claiming worker, unless an
    -- actor is given), for the transition log's trigger (transaction-local,
    -- stamped with this statement's start); the log takes the worker from
    -- the row.
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', %(reason)s::text,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c
),
picked AS MATERIALIZED (
    -- Each candidate with its customer's running runs, counted once (at
    -- most the limit read): the count both passes over a customer at its
    -- limit here and decides below how many of its picks fit.
    SELECT q.id, q.customer_id, q.priority, coalesce(q.run_after, q.created_at) AS due,
           c.busy
    FROM workflow_executions AS q
    CROSS JOIN LATERAL (
        SELECT count(*) AS busy
        FROM (SELECT 1
              FROM workflow_executions AS r
              WHERE r.customer_id = q.customer_id AND r.status = 'running'
              LIMIT %(per_customer_limit)s::integer) AS running
    ) AS c
    WHERE q.status = 'pending'
      AND coalesce(q.run_after, q.created_at) <= statement_timestamp()
      AND (%(workflow_types)s::workflow_type[] IS NULL
           OR q.workflow_type = ANY (%(workflow_types)s::workflow_type[]))
      AND (%(agent_id)s::uuid IS NULL OR q.agent_id = %(agent_id)s::uuid)
      AND (%(customer_id)s::uuid IS NULL OR q.customer_id = %(customer_id)s::uuid)
      AND c.busy < %(per_customer_limit)s::integer
    ORDER BY q.priority DESC, coalesce(q.run_after, q.created_at), q.id
    LIMIT %(limit)s
    FOR UPDATE OF q SKIP LOCKED
),
kept AS (
    -- With a limit: a customer's picks in claim order, as many as it has
    -- room for beside its running runs (the statement's snapshot: the count
    -- picked took).
    SELECT k.id
    FROM (
        SELECT p.id, p.busy,
               row_number() OVER (PARTITION BY p.customer_id
                                  ORDER BY p.priority DESC, p.due, p.id) AS n
        FROM picked AS p
    ) AS k
    WHERE k.n + k.busy <= %(per_customer_limit)s::integer
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = 'running',
        started_at = clock_timestamp(),
        completed_at = NULL,
        worker_id = %(worker_id)s::text,
        heartbeat_at = clock_timestamp(),
        lease_expires_at = clock_timestamp() + %(lease)s::interval,
        attempt = e.attempt + 1,
        error_details = NULL
    FROM kept
    WHERE e.id = kept.id
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved
ORDER BY priority DESC, coalesce(run_after, created_at), id;

-- name: claim_lock :exec
-- op: SELECT
-- Taken before a claim with a per-customer limit, in its transaction:
-- claims with a limit run one at a time (each waits here until the one
-- before commits), so each counts the running runs every earlier claim
-- committed. Held to the end of the transaction: claim in a short one.
-- The key is this library's (two int4 halves: "oidb", "clm").
SELECT pg_advisory_xact_lock(1869177954, 6515821);

-- name: heartbeat :one
-- op: UPDATE workflow_executions
-- Extend the lease of a running execution held by %(worker_id)s to now +
-- %(lease)s. Matches no row unless the execution is running, held by that
-- worker and its lease has not expired (a lease once lost stays lost). One
-- UPDATE (a worker sends it every few seconds); the row comes back as JSON of
-- exactly these columns.
UPDATE workflow_executions AS e SET
    heartbeat_at = clock_timestamp(),
    lease_expires_at = clock_timestamp() + %(lease)s::interval
WHERE e.id = %(id)s
  AND e.status = 'running'
  AND e.worker_id = %(worker_id)s::text
  AND e.lease_expires_at > clock_timestamp()
RETURNING (
    SELECT to_json(r)::text
    FROM (SELECT e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
                 e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
                 e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
                 e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key) AS r);

-- name: start :one
-- op: UPDATE workflow_executions
-- pending -> running without a claim (no worker, no lease: the reaper never
-- touches it); sets started_at, attempt + 1, clears error_details.
-- Guarded: matches no row unless the execution is pending, so a refused
-- move raises nothing inside the server; under concurrency the row lock
-- makes exactly one of several racing callers win.
WITH ctx AS MATERIALIZED (
    -- The reason and actor of this move, for the transition log's trigger
    -- (transaction-local, stamped with this statement's start); without
    -- either, nothing is set.
    SELECT CASE WHEN %(reason)s::text IS NOT NULL OR %(actor)s::text IS NOT NULL
                THEN set_config('optiinfra.transition', json_build_object(
                         'at', statement_timestamp(), 'reason', %(reason)s::text,
                         'actor', %(actor)s::text)::text, true)
                ELSE '' END AS c
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = 'running',
        started_at = clock_timestamp(),
        attempt = e.attempt + 1,
        error_details = NULL
    WHERE e.id = %(id)s
      AND e.status = 'pending'
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved;

-- name: complete :one
-- op: UPDATE workflow_executions
-- running -> completed; sets completed_at, clears the lease and, if given,
-- sets output_data (NULL keeps the current output). Refused (no row) while a
-- step is pending, running or retrying (complete_skipping skips the pending
-- ones). With %(worker_id)s, refused unless that worker holds the run and its
-- lease has not expired (fencing, in this statement: no read before it). The
-- open-step check is one index probe of ix_workflow_steps_execution_status.
-- One UPDATE, no CTE around it (every worker finishes every run with it):
-- the reason and worker reach the transition log's trigger through a
-- transaction-local setting stamped with this statement's start, set by an
-- uncorrelated subquery in the WHERE (an InitPlan: run once, before the row
-- it lets through is updated); with neither, nothing is set (the trigger
-- ignores a context stamped by an earlier statement and finds the worker on
-- the row). The row comes back as JSON of exactly these columns.
UPDATE workflow_executions AS e SET
    status = 'completed',
    completed_at = clock_timestamp(),
    output_data = coalesce(%(output_data)s, e.output_data),
    lease_expires_at = NULL
WHERE e.id = %(id)s
  AND e.status = 'running'
  AND (%(worker_id)s::text IS NULL
       OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
  AND NOT EXISTS (
      SELECT 1
      FROM workflow_steps AS s
      WHERE s.workflow_execution_id = e.id
        AND s.status IN ('pending', 'running', 'retrying'))
  AND (SELECT CASE WHEN %(reason)s::text IS NOT NULL OR %(worker_id)s::text IS NOT NULL
                      OR %(actor)s::text IS NOT NULL
                   THEN set_config('optiinfra.transition', json_build_object(
                            'at', statement_timestamp(), 'reason', %(reason)s::text,
                            'worker_id', %(worker_id)s::text,
                         'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true)
                   ELSE '' END) IS NOT NULL
RETURNING (
    SELECT to_json(r)::text
    FROM (SELECT e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
                 e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
                 e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
                 e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key) AS r);

-- name: complete_skipping :one
-- op: UPDATE workflow_executions
-- complete(..., skip_remaining=True): running -> completed while no step is
-- running or retrying, and the pending steps are skipped in the same
-- statement. Otherwise as complete.
WITH ctx AS MATERIALIZED (
    -- The reason and worker of this move, for the transition log's trigger
    -- (transaction-local, stamped with this statement's start). With
    -- neither, nothing is set: the trigger ignores a context stamped by an
    -- earlier statement, and finds the worker on the row.
    SELECT CASE WHEN %(reason)s::text IS NOT NULL OR %(worker_id)s::text IS NOT NULL
                      OR %(actor)s::text IS NOT NULL
                THEN set_config('optiinfra.transition', json_build_object(
                         'at', statement_timestamp(), 'reason', %(reason)s::text,
                         'worker_id', %(worker_id)s::text,
                         'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true)
                ELSE '' END AS c
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = 'completed',
        completed_at = clock_timestamp(),
        output_data = coalesce(%(output_data)s, e.output_data),
        lease_expires_at = NULL
    WHERE e.id = %(id)s
      AND e.status = 'running'
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
      AND NOT EXISTS (
          SELECT 1
          FROM workflow_steps AS s
          WHERE s.workflow_execution_id = e.id
            AND s.status IN ('running', 'retrying'))
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
),
skipped AS (
    UPDATE workflow_steps AS s SET
        status = 'skipped',
        completed_at = clock_timestamp()
    FROM moved
    WHERE s.workflow_execution_id = moved.id
      AND s.status = 'pending'
    RETURNING s.id
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved;

-- name: finish :one
-- op: UPDATE workflow_executions
-- Ends a run unsuccessfully: %(from_statuses)s -> %(to_status)s (failed,
-- cancelled or timeout); sets completed_at, clears the lease, and sets
-- error_details when %(error_details)s is not NULL. The run's unfinished
-- steps are closed in the same statement: running and retrying ones ->
-- failed, with the move's reason as that attempt's error; pending ones ->
-- skipped. With %(worker_id)s, refused unless that worker holds the run and
-- its lease has not expired.
WITH ctx AS MATERIALIZED (
    -- The reason and worker of this move, for the transition log's trigger
    -- (transaction-local, stamped with this statement's start). With
    -- neither, nothing is set: the trigger ignores a context stamped by an
    -- earlier statement, and finds the worker on the row.
    SELECT CASE WHEN %(reason)s::text IS NOT NULL OR %(worker_id)s::text IS NOT NULL
                      OR %(actor)s::text IS NOT NULL
                THEN set_config('optiinfra.transition', json_build_object(
                         'at', statement_timestamp(), 'reason', %(reason)s::text,
                         'worker_id', %(worker_id)s::text,
                         'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true)
                ELSE '' END AS c
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = %(to_status)s::workflow_status,
        completed_at = clock_timestamp(),
        error_details = coalesce(%(error_details)s, e.error_details),
        lease_expires_at = NULL
    WHERE e.id = %(id)s
      AND e.status = ANY (%(from_statuses)s::workflow_status[])
      AND (%(worker_id)s::text IS NULL
           OR (e.worker_id = %(worker_id)s::text AND e.lease_expires_at > clock_timestamp()))
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
),
closed AS (
    UPDATE workflow_steps AS s SET
        status = CASE WHEN s.status = 'pending' THEN 'skipped' ELSE 'failed' END::step_status,
        completed_at = clock_timestamp(),
        error_details = CASE
            WHEN s.status = 'pending' THEN s.error_details
            ELSE jsonb_strip_nulls(jsonb_build_object(
                'reason', coalesce(%(reason)s::text, 'execution ' || moved.status::text),
                'execution_status', moved.status::text,
                'worker_id', moved.worker_id,
                'attempt', moved.attempt))
        END
    FROM moved
    WHERE s.workflow_execution_id = moved.id
      AND s.status IN ('pending', 'running', 'retrying')
    RETURNING s.id
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved;

-- name: reap_expired :many
-- op: UPDATE workflow_executions
-- Recover runs whose worker stopped heartbeating: up to %(limit)s running
-- executions whose lease has expired, FOR UPDATE SKIP LOCKED (two reapers
-- never move the same run; a run a worker is writing to right now is left
-- for the next pass). Each goes back to pending (worker, lease and
-- started_at cleared; claimable again after optiinfra_backoff(attempt),
-- as a requeue without a delay) while attempt < max_attempts, else to
-- timeout.
-- error_details says why: reason lease_expired, the worker, the attempt.
-- Its running and retrying steps are failed with that error (the attempt's
-- error, kept in the log); on timeout its pending steps are skipped. A
-- requeued run keeps its completed steps. Served by
-- ix_workflow_executions_running_lease (partial: running runs only).
WITH ctx AS MATERIALIZED (
    -- The reason and worker of this move, for the transition log's trigger
    -- (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', 'lease_expired',
               'worker_id', NULL::text,
               'actor', coalesce(%(actor)s::text, 'reaper'))::text, true) AS c
),
expired AS MATERIALIZED (
    SELECT id
    FROM workflow_executions
    WHERE status = 'running'
      -- statement_timestamp(), not clock_timestamp(): a stable value is an
      -- index condition (only the expired leases are read); a volatile one
      -- is a filter over every running execution.
      AND lease_expires_at < statement_timestamp()
    ORDER BY lease_expires_at
    LIMIT %(limit)s
    FOR UPDATE SKIP LOCKED
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = CASE WHEN e.attempt < e.max_attempts THEN 'pending' ELSE 'timeout' END::workflow_status,
        started_at = CASE WHEN e.attempt < e.max_attempts THEN NULL ELSE e.started_at END,
        completed_at = CASE WHEN e.attempt < e.max_attempts THEN NULL ELSE clock_timestamp() END,
        worker_id = CASE WHEN e.attempt < e.max_attempts THEN NULL ELSE e.worker_id END,
        -- requeued: claimable again after the default backoff (as requeue's)
        run_after = CASE WHEN e.attempt < e.max_attempts
                         THEN clock_timestamp() + optiinfra_backoff(e.attempt)
                         ELSE e.run_after END,
        lease_expires_at = NULL,
        error_details = jsonb_build_object(
            'reason', 'lease_expired',
            'worker_id', e.worker_id,
            'attempt', e.attempt,
            'lease_expired_at', e.lease_expires_at)
    FROM expired
    WHERE e.id = expired.id
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
),
closed AS (
    UPDATE workflow_steps AS s SET
        status = CASE WHEN s.status = 'pending' THEN 'skipped' ELSE 'failed' END::step_status,
        completed_at = clock_timestamp(),
        error_details = CASE WHEN s.status = 'pending' THEN s.error_details
                             ELSE moved.error_details END
    FROM moved
    WHERE s.workflow_execution_id = moved.id
      AND (s.status IN ('running', 'retrying')
           OR (s.status = 'pending' AND moved.status = 'timeout'))
    RETURNING s.id
)
SELECT to_json(moved)::text FROM moved ORDER BY moved.created_at, moved.id;

-- name: requeue :one
-- op: UPDATE workflow_executions
-- The holder gives a running run back: while attempt < max_attempts it goes
-- back to pending (worker, lease and started_at cleared), claimable again
-- at now + %(delay)s (NULL: optiinfra_backoff(attempt)), error_details as
-- given (kept in the log with the move); else it fails, its error_details
-- saying the attempts were exhausted. Without %(penalty)s (a worker
-- shutting down) the attempt is not spent: attempt one lower (the next
-- claim counts the same one again), pending whatever the budget, claimable
-- at once (or after %(delay)s). Its running and retrying steps fail with
-- that error (that attempt's, kept in the log; they restart on the next
-- claim); on failing, its pending steps are skipped. Refused (no row) unless
-- %(worker_id)s holds the run on a live lease (fencing, as every worker move).
WITH ctx AS MATERIALIZED (
    -- The reason and worker of this move, for the transition log's trigger
    -- (transaction-local, stamped with this statement's start).
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', coalesce(%(reason)s::text, 'requeue'),
               'worker_id', %(worker_id)s::text,
               'actor', coalesce(%(actor)s::text, %(worker_id)s::text))::text, true) AS c
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean) THEN 'pending' ELSE 'failed' END::workflow_status,
        started_at = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean) THEN NULL ELSE e.started_at END,
        completed_at = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean) THEN NULL ELSE clock_timestamp() END,
        worker_id = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean) THEN NULL ELSE e.worker_id END,
        run_after = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean)
                         THEN clock_timestamp()
                              + coalesce(%(delay)s::interval,
                                         CASE WHEN %(penalty)s::boolean
                                              THEN optiinfra_backoff(e.attempt)
                                              ELSE interval '0' END)
                         ELSE e.run_after END,
        lease_expires_at = NULL,
        attempt = e.attempt - (NOT %(penalty)s::boolean)::integer,
        error_details = CASE WHEN (e.attempt < e.max_attempts OR NOT %(penalty)s::boolean) THEN %(error_details)s::jsonb
                             ELSE coalesce(%(error_details)s::jsonb, '{}'::jsonb)
                                  || jsonb_build_object(
                                         'reason', 'attempts_exhausted',
                                         'attempt', e.attempt,
                                         'max_attempts', e.max_attempts) END
    WHERE e.id = %(id)s
      AND e.status = 'running'
      AND e.worker_id = %(worker_id)s::text
      AND e.lease_expires_at > clock_timestamp()
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
),
closed AS (
    UPDATE workflow_steps AS s SET
        status = CASE WHEN s.status = 'pending' THEN 'skipped' ELSE 'failed' END::step_status,
        completed_at = clock_timestamp(),
        error_details = CASE
            WHEN s.status = 'pending' THEN s.error_details
            ELSE coalesce(moved.error_details, '{}'::jsonb) || jsonb_build_object(
                'reason', coalesce(%(reason)s::text, 'requeue'),
                'worker_id', %(worker_id)s::text,
                'attempt', moved.attempt + (NOT %(penalty)s::boolean)::integer)
        END
    FROM moved
    WHERE s.workflow_execution_id = moved.id
      AND (s.status IN ('running', 'retrying')
           OR (s.status = 'pending' AND moved.status = 'failed'))
    RETURNING s.id
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved;

-- name: rerun :one
-- op: UPDATE workflow_executions
-- A run that failed, timed out or was cancelled goes round again: pending,
-- claimable now (run_after), with a fresh round of attempts: max_attempts =
-- attempt + %(max_attempts)s (NULL: the run's budget, attempt_budget, else
-- max_attempts as created; attempt keeps counting). completed_at, started_at,
-- worker and lease cleared; error_details stays (the last error, until the
-- next claim clears it). Its failed, skipped and unfinished steps go back to
-- pending (completed ones stay done). The history is kept; the move is
-- logged with its reason. Guarded: no row unless the run is failed, timeout
-- or cancelled.
WITH ctx AS MATERIALIZED (
    SELECT set_config('optiinfra.transition', json_build_object(
               'at', statement_timestamp(), 'reason', coalesce(%(reason)s::text, 'rerun'),
               'actor', %(actor)s::text)::text, true) AS c
),
moved AS (
    UPDATE workflow_executions AS e SET
        status = 'pending',
        started_at = NULL,
        completed_at = NULL,
        worker_id = NULL,
        lease_expires_at = NULL,
        heartbeat_at = NULL,
        run_after = clock_timestamp(),
        attempt_budget = coalesce(%(max_attempts)s::integer, e.attempt_budget, e.max_attempts),
        max_attempts = e.attempt
                       + coalesce(%(max_attempts)s::integer, e.attempt_budget, e.max_attempts)
    WHERE e.id = %(id)s
      AND e.status IN ('failed', 'timeout', 'cancelled')
      AND (SELECT c FROM ctx) IS NOT NULL
    RETURNING e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
              e.completed_at, e.input_data, e.output_data, e.error_details, e.metadata,
              e.created_at, e.updated_at, e.worker_id, e.lease_expires_at, e.heartbeat_at,
              e.attempt, e.max_attempts, e.first_started_at,
              e.run_after, e.priority, e.idempotency_key
),
reopened AS (
    UPDATE workflow_steps AS s SET
        status = 'pending',
        started_at = NULL,
        completed_at = NULL
    FROM moved
    WHERE s.workflow_execution_id = moved.id
      AND s.status IN ('failed', 'skipped', 'running', 'retrying')
    RETURNING s.id
)
SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
       input_data, output_data, error_details, metadata, created_at, updated_at,
       worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts,
       first_started_at, run_after, priority, idempotency_key
FROM moved;

-- name: next_due :one
-- op: SELECT workflow_executions
-- In how many seconds the next delayed pending run becomes due (NULL: none
-- is waiting), optionally of these workflow types, by the server's clock:
-- how long wait_for_work may sleep. Served by
-- ix_workflow_executions_delayed (its first entries after now).
SELECT extract(epoch FROM min(run_after) - statement_timestamp())::float8
FROM workflow_executions
WHERE status = 'pending'
  AND run_after IS NOT NULL
  AND run_after > statement_timestamp()
  AND (%(workflow_types)s::workflow_type[] IS NULL
       OR workflow_type = ANY (%(workflow_types)s::workflow_type[]));

-- name: state_of :one
-- op: SELECT workflow_executions
-- Why a guarded move matched no row: the execution's status, who holds it,
-- whether that lease is still live, and how many of its steps are pending
-- and running or retrying. No row: no such execution.
SELECT e.status::text,
       e.worker_id,
       coalesce(e.lease_expires_at > clock_timestamp(), false),
       e.lease_expires_at,
       (SELECT count(*) FROM workflow_steps AS s
        WHERE s.workflow_execution_id = e.id AND s.status = 'pending'),
       (SELECT count(*) FROM workflow_steps AS s
        WHERE s.workflow_execution_id = e.id AND s.status IN ('running', 'retrying'))
FROM workflow_executions AS e
WHERE e.id = %(id)s;

-- name: history :many
-- op: SELECT workflow_transitions
-- An execution's transitions and its steps', oldest first (the order the
-- log assigned). Served by ix_workflow_transitions_execution, in the
-- partitions between the execution's history_from and history_until only
-- (run-time pruning: the bounds are init plans; a NULL bound, for
-- executions older than migrations 0025/0027, reads on to that end).
SELECT id, workflow_execution_id, workflow_step_id, from_status, to_status, at,
       worker_id, actor, attempt, reason, error_details
FROM workflow_transitions
WHERE workflow_execution_id = %(id)s
  AND at >= coalesce((SELECT e.history_from FROM workflow_executions AS e
                      WHERE e.id = %(id)s), '-infinity')
  AND at < coalesce((SELECT e.history_until FROM workflow_executions AS e
                     WHERE e.id = %(id)s), 'infinity')
ORDER BY id;

-- name: get_detail :one
-- op: SELECT workflow_executions
-- One execution with its steps (in step order) and its artifacts (oldest
-- first) as one JSON document: one round trip. No row: no such execution.
-- The same document as get_details, for one id, kept apart: through
-- unnest() of a one-element array, make bench measured get_detail's server
-- CPU at 2.15x raw psycopg's, against about 1.0x for this form.
-- Steps are served by ix_workflow_steps_execution_order, artifacts by
-- ix_workflow_artifacts_execution_type.
SELECT json_build_object(
    'execution', to_json(e),
    'steps', coalesce((
        SELECT json_agg(s ORDER BY s.step_order)
        FROM (
            SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
                   completed_at, input_data, output_data, error_details, retry_count,
                   max_retries, metadata, created_at, updated_at, restart_count
            FROM workflow_steps
            WHERE workflow_execution_id = e.id
        ) AS s
    ), '[]'::json),
    'artifacts', coalesce((
        SELECT json_agg(a ORDER BY a.created_at, a.id)
        FROM (
            SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
                   artifact_path, artifact_size_bytes, content_type, metadata, created_at,
                   updated_at
            FROM workflow_artifacts
            WHERE workflow_execution_id = e.id
        ) AS a
    ), '[]'::json)
)::text
FROM (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
           input_data, output_data, error_details, metadata, created_at, updated_at,
           worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
    FROM workflow_executions
    WHERE id = %(id)s
) AS e;

-- name: get_details :many
-- op: SELECT workflow_executions
-- Executions with their steps (in step order) and artifacts (oldest first),
-- one JSON document each, in the order of %(ids)s (an array of up to 1,000
-- ids; an id with no execution is left out): one round trip for them all.
-- get_detail is the one-id form. Executions by pk_workflow_executions, steps
-- by ix_workflow_steps_execution_order, artifacts by
-- ix_workflow_artifacts_execution_type.
SELECT json_build_object(
    'execution', to_json(e),
    'steps', coalesce((
        SELECT json_agg(s ORDER BY s.step_order)
        FROM (
            SELECT id, workflow_execution_id, step_name, step_order, status, started_at,
                   completed_at, input_data, output_data, error_details, retry_count,
                   max_retries, metadata, created_at, updated_at, restart_count
            FROM workflow_steps
            WHERE workflow_execution_id = e.id
        ) AS s
    ), '[]'::json),
    'artifacts', coalesce((
        SELECT json_agg(a ORDER BY a.created_at, a.id)
        FROM (
            SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
                   artifact_path, artifact_size_bytes, content_type, metadata, created_at,
                   updated_at
            FROM workflow_artifacts
            WHERE workflow_execution_id = e.id
        ) AS a
    ), '[]'::json)
)::text
FROM unnest(%(ids)s::uuid[]) WITH ORDINALITY AS asked (id, n)
CROSS JOIN LATERAL (
    SELECT id, agent_id, customer_id, workflow_type, status, started_at, completed_at,
           input_data, output_data, error_details, metadata, created_at, updated_at,
           worker_id, lease_expires_at, heartbeat_at, attempt, max_attempts, first_started_at,
       run_after, priority, idempotency_key
    FROM workflow_executions
    WHERE id = asked.id
) AS e
ORDER BY asked.n;

-- name: count_by_status :many
-- op: SELECT workflow_executions
-- How many executions there are in each status, optionally of one customer
-- or agent, of the runs created in [since, until) (a monitor's tile: one
-- statement instead of listing and counting).
-- plan: custom (optional owner filters: each call is planned with its values)
SELECT status::text, count(*)
FROM workflow_executions
WHERE (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR agent_id = %(agent_id)s::uuid)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
GROUP BY status;

-- name: list_running :many
-- op: SELECT workflow_executions
-- Running executions newest first, each with its current step (the running
-- or retrying one, else the first pending one, by step order), its worker,
-- heartbeat and lease expiry; optionally of one customer or agent. Keyset
-- pagination as in the other lists. Served by
-- ix_workflow_executions_running_created (partial: running runs only); the
-- current step by ix_workflow_steps_execution_order.
-- plan: custom (optional owner filters: each call is planned with its values)
SELECT e.id, e.agent_id, e.customer_id, e.workflow_type, e.status, e.started_at,
       e.created_at, e.worker_id, e.heartbeat_at, e.lease_expires_at, e.attempt,
       e.max_attempts, e.first_started_at, cur.step_id AS current_step_id,
       cur.step_name AS current_step_name, cur.step_order AS current_step_order,
       cur.status AS current_step_status, cur.started_at AS current_step_started_at
FROM workflow_executions AS e
LEFT JOIN LATERAL (
    SELECT s.id AS step_id, s.step_name, s.step_order, s.status, s.started_at
    FROM workflow_steps AS s
    WHERE s.workflow_execution_id = e.id
      AND s.status IN ('pending', 'running', 'retrying')
    ORDER BY s.status = 'pending', s.step_order
    LIMIT 1
) AS cur ON true
WHERE e.status = 'running'
  AND (%(customer_id)s::uuid IS NULL OR e.customer_id = %(customer_id)s::uuid)
  AND (%(agent_id)s::uuid IS NULL OR e.agent_id = %(agent_id)s::uuid)
  AND (e.created_at, e.id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY e.created_at DESC, e.id DESC
LIMIT %(limit)s;

-- name: stats :many
-- op: SELECT workflow_executions
-- Per workflow type: counts in every status (pending included), success rate
-- (completed among the finished ones, in percent) and p50/p95 duration in
-- seconds of the finished runs (from each run's first start, so requeues
-- count), for the runs created in [since, until) (the
-- window every count of runs uses: count_by_status, reports.runs),
-- optionally of one customer. A report over the window: it reads every
-- execution in it (a sequential scan when the window is all of history;
-- ix_workflow_executions_created for a recent window).
-- plan: custom (the window's width decides between the index and a scan)
SELECT workflow_type,
       count(*) AS total,
       count(*) FILTER (WHERE status = 'pending') AS pending,
       count(*) FILTER (WHERE status = 'running') AS running,
       count(*) FILTER (WHERE status = 'completed') AS completed,
       count(*) FILTER (WHERE status = 'failed') AS failed,
       count(*) FILTER (WHERE status = 'cancelled') AS cancelled,
       count(*) FILTER (WHERE status = 'timeout') AS timeout,
       round(100.0 * count(*) FILTER (WHERE status = 'completed')
             / nullif(count(*) FILTER (WHERE status IN ('completed', 'failed',
                                                        'cancelled', 'timeout')), 0),
             1)::float8 AS success_rate_pct,
       percentile_cont(0.5) WITHIN GROUP (
           ORDER BY extract(epoch FROM completed_at - first_started_at))::float8 AS p50_s,
       percentile_cont(0.95) WITHIN GROUP (
           ORDER BY extract(epoch FROM completed_at - first_started_at))::float8 AS p95_s
FROM workflow_executions
WHERE created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (%(customer_id)s::uuid IS NULL OR customer_id = %(customer_id)s::uuid)
GROUP BY workflow_type
ORDER BY workflow_type;
