-- Events: an append-only log (no update statement).

-- name: create :one
-- op: INSERT events
-- Insert one event and return it (one round trip). Columns not
-- listed keep their database defaults.
INSERT INTO events (
    customer_id, agent_id, event_type, severity, data
) VALUES (
    %(customer_id)s, %(agent_id)s, %(event_type)s::event_type,
    %(severity)s::event_severity, %(data)s
)
RETURNING id, customer_id, agent_id, event_type, severity, data,
          created_at;

-- name: get :one
-- op: SELECT events
-- One event by primary key.
SELECT id, customer_id, agent_id, event_type, severity, data, created_at
FROM events
WHERE id = %(id)s;

-- name: delete :execrows
-- op: DELETE events
-- Delete one event by primary key (and, through ON DELETE, what hangs off
-- it).
DELETE FROM events WHERE id = %(id)s;

-- name: list :many
-- op: SELECT events
-- A customer's events, newest first. Keyset pagination: the first page
-- passes after_created_at = 'infinity' and after_id = the greatest uuid;
-- the next page passes the last row's created_at and id. Optional filters
-- are NULL when unused; since/until bound created_at as [since, until) and
-- default to -infinity/infinity. Served by ix_events_customer_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, customer_id, agent_id, event_type, severity, data, created_at
FROM events
WHERE customer_id = %(customer_id)s
  AND (%(event_type)s::event_type IS NULL
       OR event_type = %(event_type)s::event_type)
  AND (%(severity)s::event_severity IS NULL
       OR severity = %(severity)s::event_severity)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_for_agent :many
-- op: SELECT events
-- An agent's events, newest first. Keyset pagination: the first page passes
-- after_created_at = 'infinity' and after_id = the greatest uuid; the next
-- page passes the last row's created_at and id. Optional filters are NULL
-- when unused; since/until bound created_at as [since, until) and default
-- to -infinity/infinity. Served by ix_events_agent_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, customer_id, agent_id, event_type, severity, data, created_at
FROM events
WHERE agent_id = %(agent_id)s
  AND (%(event_type)s::event_type IS NULL
       OR event_type = %(event_type)s::event_type)
  AND (%(severity)s::event_severity IS NULL
       OR severity = %(severity)s::event_severity)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
