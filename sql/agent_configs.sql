-- Agent configuration: one row per (agent, key).

-- name: create :one
-- op: INSERT agent_configs
-- Insert one agent config and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO agent_configs (
    agent_id, config_key, config_value, config_type, description
) VALUES (
    %(agent_id)s, %(config_key)s, %(config_value)s,
    %(config_type)s::config_type, %(description)s
)
RETURNING id, agent_id, config_key, config_value, config_type,
          description, created_at, updated_at;

-- name: get :one
-- op: SELECT agent_configs
-- One agent config by primary key.
SELECT id, agent_id, config_key, config_value, config_type, description,
       created_at, updated_at
FROM agent_configs
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE agent_configs
-- Partial update of one agent config: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE agent_configs SET
    config_value = CASE WHEN %(set_config_value)s THEN %(config_value)s ELSE config_value END,
    config_type = CASE WHEN %(set_config_type)s THEN %(config_type)s::config_type ELSE config_type END,
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, agent_id, config_key, config_value, config_type,
          description, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE agent_configs
-- Delete one agent config by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM agent_configs WHERE id = %(id)s;

-- name: list_for_agent :many
-- op: SELECT agent_configs
-- All of one agent's settings, by key (served by uq_agent_configs_agent_key).
SELECT id, agent_id, config_key, config_value, config_type, description,
       created_at, updated_at
FROM agent_configs
WHERE agent_id = %(agent_id)s
ORDER BY config_key;

-- name: get_for_agent :one
-- op: SELECT agent_configs
-- One setting of one agent (served by uq_agent_configs_agent_key).
SELECT id, agent_id, config_key, config_value, config_type, description,
       created_at, updated_at
FROM agent_configs
WHERE agent_id = %(agent_id)s AND config_key = %(config_key)s;

-- name: upsert :one
-- op: INSERT agent_configs
-- Set one setting of one agent: insert it, or overwrite value, type and
-- description of the existing (agent, key) row. One statement, race-free.
INSERT INTO agent_configs (agent_id, config_key, config_value, config_type, description)
VALUES (%(agent_id)s, %(config_key)s, %(config_value)s, %(config_type)s::config_type,
        %(description)s)
ON CONFLICT ON CONSTRAINT uq_agent_configs_agent_key DO UPDATE SET
    config_value = EXCLUDED.config_value,
    config_type = EXCLUDED.config_type,
    description = EXCLUDED.description
RETURNING id, agent_id, config_key, config_value, config_type, description,
          created_at, updated_at;
