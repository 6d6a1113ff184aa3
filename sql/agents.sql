-- Agents: one row per agent process, unique by (type, name).

-- name: create :one
-- op: INSERT agents
-- Insert one agent and return it (one round trip). Columns not
-- listed keep their database defaults.
INSERT INTO agents (
    type, name, version, status, endpoint, capabilities, metadata,
    last_heartbeat
) VALUES (
    %(type)s::agent_type, %(name)s, %(version)s, %(status)s::agent_status,
    %(endpoint)s, %(capabilities)s, %(metadata)s, %(last_heartbeat)s
)
RETURNING id, type, name, version, status, endpoint, capabilities,
          metadata, last_heartbeat, created_at, updated_at;

-- name: get :one
-- op: SELECT agents
-- One agent by primary key.
SELECT id, type, name, version, status, endpoint, capabilities, metadata,
       last_heartbeat, created_at, updated_at
FROM agents
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE agents
-- Partial update of one agent: a column changes only when its set_<column>
-- flag is true, so one static statement serves every combination. No row
-- back means the id does not exist or (with expected_updated_at, an
-- optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE agents SET
    name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
    version = CASE WHEN %(set_version)s THEN %(version)s ELSE version END,
    status = CASE WHEN %(set_status)s THEN %(status)s::agent_status ELSE status END,
    endpoint = CASE WHEN %(set_endpoint)s THEN %(endpoint)s ELSE endpoint END,
    capabilities = CASE WHEN %(set_capabilities)s THEN %(capabilities)s ELSE capabilities END,
    metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END,
    last_heartbeat = CASE WHEN %(set_last_heartbeat)s THEN %(last_heartbeat)s ELSE last_heartbeat END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, type, name, version, status, endpoint, capabilities,
          metadata, last_heartbeat, created_at, updated_at;

-- name: merge_metadata :one
-- op: UPDATE agents
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE agents SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, type, name, version, status, endpoint, capabilities,
          metadata, last_heartbeat, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE agents
-- Delete one agent by primary key (and, through ON DELETE, what hangs off
-- it).
DELETE FROM agents WHERE id = %(id)s;

-- name: list :many
-- op: SELECT agents
-- Agents, optionally of one type and status, newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by ix_agents_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, type, name, version, status, endpoint, capabilities, metadata,
       last_heartbeat, created_at, updated_at
FROM agents
WHERE (%(type)s::agent_type IS NULL OR type = %(type)s::agent_type)
  AND (%(status)s::agent_status IS NULL
       OR status = %(status)s::agent_status)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: get_by_type_and_name :one
-- op: SELECT agents
-- One agent by its natural key (served by uq_agents_type_name).
SELECT id, type, name, version, status, endpoint, capabilities, metadata,
       last_heartbeat, created_at, updated_at
FROM agents
WHERE type = %(type)s::agent_type AND name = %(name)s;

-- name: heartbeat :one
-- op: UPDATE agents
-- Record a heartbeat: last_heartbeat = clock_timestamp(), and the status if
-- one is given (NULL keeps it).
UPDATE agents SET
    last_heartbeat = clock_timestamp(),
    status = coalesce(%(status)s::agent_status, status)
WHERE id = %(id)s
RETURNING id, type, name, version, status, endpoint, capabilities, metadata,
          last_heartbeat, created_at, updated_at;
