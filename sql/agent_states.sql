-- Agent states: at most one row per agent.

-- name: create :one
-- op: INSERT agent_states
-- Insert one agent state and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO agent_states (
    agent_id, current_status, active_workflows, locks, last_activity,
    resource_usage, metadata, current_workflow_id
) VALUES (
    %(agent_id)s, %(current_status)s::agent_status_detail,
    %(active_workflows)s, %(locks)s,
    coalesce(%(last_activity)s::timestamptz, now()), %(resource_usage)s,
    %(metadata)s, %(current_workflow_id)s
)
RETURNING id, agent_id, current_status, active_workflows, locks,
          last_activity, resource_usage, metadata, current_workflow_id,
          created_at, updated_at;

-- name: get :one
-- op: SELECT agent_states
-- One agent state by primary key.
SELECT id, agent_id, current_status, active_workflows, locks,
       last_activity, resource_usage, metadata, current_workflow_id,
       created_at, updated_at
FROM agent_states
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE agent_states
-- Partial update of one agent state: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE agent_states SET
    current_status = CASE WHEN %(set_current_status)s THEN %(current_status)s::agent_status_detail ELSE current_status END,
    active_workflows = CASE WHEN %(set_active_workflows)s THEN %(active_workflows)s ELSE active_workflows END,
    locks = CASE WHEN %(set_locks)s THEN %(locks)s ELSE locks END,
    last_activity = CASE WHEN %(set_last_activity)s THEN coalesce(%(last_activity)s::timestamptz, now()) ELSE last_activity END,
    resource_usage = CASE WHEN %(set_resource_usage)s THEN %(resource_usage)s ELSE resource_usage END,
    metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END,
    current_workflow_id = CASE WHEN %(set_current_workflow_id)s THEN %(current_workflow_id)s ELSE current_workflow_id END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, agent_id, current_status, active_workflows, locks,
          last_activity, resource_usage, metadata, current_workflow_id,
          created_at, updated_at;

-- name: merge_metadata :one
-- op: UPDATE agent_states
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE agent_states SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, agent_id, current_status, active_workflows, locks,
          last_activity, resource_usage, metadata, current_workflow_id,
          created_at, updated_at;

-- name: delete :execrows
-- op: DELETE agent_states
-- Delete one agent state by primary key (and, through ON DELETE, what hangs
-- off it).
DELETE FROM agent_states WHERE id = %(id)s;

-- name: list :many
-- op: SELECT agent_states
-- Agent states, optionally in one current status, newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by a scan of this small table (one row per agent).
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, agent_id, current_status, active_workflows, locks,
       last_activity, resource_usage, metadata, current_workflow_id,
       created_at, updated_at
FROM agent_states
WHERE (%(current_status)s::agent_status_detail IS NULL
       OR current_status = %(current_status)s::agent_status_detail)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: get_for_agent :one
-- op: SELECT agent_states
-- The state of one agent (served by uq_agent_states_agent).
SELECT id, agent_id, current_status, active_workflows, locks, last_activity,
       resource_usage, metadata, current_workflow_id, created_at, updated_at
FROM agent_states
WHERE agent_id = %(agent_id)s;

-- name: set_current_workflow :one
-- op: INSERT agent_states
-- Point an agent's state at the execution it runs now (NULL: none), creating
-- the state row if the agent has none. last_activity moves too.
INSERT INTO agent_states (agent_id, current_workflow_id, last_activity)
VALUES (%(agent_id)s, %(current_workflow_id)s, clock_timestamp())
ON CONFLICT ON CONSTRAINT uq_agent_states_agent DO UPDATE SET
    current_workflow_id = EXCLUDED.current_workflow_id,
    last_activity = EXCLUDED.last_activity
RETURNING id, agent_id, current_status, active_workflows, locks, last_activity,
          resource_usage, metadata, current_workflow_id, created_at, updated_at;
