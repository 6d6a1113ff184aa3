-- Agent capabilities: an agent may hold several versions of one capability.

-- name: create :one
-- op: INSERT agent_capabilities
-- Insert one agent capability and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO agent_capabilities (
    agent_id, capability_name, capability_version, enabled, config,
    description
) VALUES (
    %(agent_id)s, %(capability_name)s, %(capability_version)s,
    %(enabled)s, %(config)s, %(description)s
)
RETURNING id, agent_id, capability_name, capability_version, enabled,
          config, description, created_at, updated_at;

-- name: get :one
-- op: SELECT agent_capabilities
-- One agent capability by primary key.
SELECT id, agent_id, capability_name, capability_version, enabled, config,
       description, created_at, updated_at
FROM agent_capabilities
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE agent_capabilities
-- Partial update of one agent capability: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE agent_capabilities SET
    capability_version = CASE WHEN %(set_capability_version)s THEN %(capability_version)s ELSE capability_version END,
    enabled = CASE WHEN %(set_enabled)s THEN %(enabled)s ELSE enabled END,
    config = CASE WHEN %(set_config)s THEN %(config)s ELSE config END,
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, agent_id, capability_name, capability_version, enabled,
          config, description, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE agent_capabilities
-- Delete one agent capability by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM agent_capabilities WHERE id = %(id)s;

-- name: list_for_agent :many
-- op: SELECT agent_capabilities
-- One agent's capabilities by name and version, optionally only the enabled
-- (true) or disabled (false) ones; NULL: all. Served by
-- uq_agent_capabilities_agent_name_version.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, agent_id, capability_name, capability_version, enabled, config,
       description, created_at, updated_at
FROM agent_capabilities
WHERE agent_id = %(agent_id)s
  AND (%(enabled)s::boolean IS NULL OR enabled = %(enabled)s::boolean)
ORDER BY capability_name, capability_version;
