-- Workflow artifacts: files and outputs of executions and their steps.

-- name: create :one
-- op: INSERT workflow_artifacts
-- Insert one workflow artifact and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO workflow_artifacts (
    workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
    artifact_path, artifact_size_bytes, content_type, metadata
) VALUES (
    %(workflow_execution_id)s, %(workflow_step_id)s,
    %(artifact_type)s::artifact_type, %(artifact_name)s,
    %(artifact_path)s, %(artifact_size_bytes)s, %(content_type)s,
    %(metadata)s
)
RETURNING id, workflow_execution_id, workflow_step_id, artifact_type,
          artifact_name, artifact_path, artifact_size_bytes, content_type,
          metadata, created_at, updated_at;

-- name: create_fenced :one
-- op: INSERT workflow_artifacts
-- create for a worker: inserts the artifact only while its execution is
-- running, held by %(worker_id)s, on a live lease (fencing, in this
-- statement); the execution is share-locked until the transaction ends, so
-- a reaper can't requeue it under the write. No row: refused.
WITH held AS MATERIALIZED (
    SELECT id
    FROM workflow_executions
    WHERE id = %(workflow_execution_id)s
      AND status = 'running'
      AND worker_id = %(worker_id)s::text
      AND lease_expires_at > clock_timestamp()
    FOR SHARE
),
created AS (
    INSERT INTO workflow_artifacts (
        workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
        artifact_path, artifact_size_bytes, content_type, metadata
    )
    SELECT held.id, %(workflow_step_id)s, %(artifact_type)s::artifact_type,
           %(artifact_name)s, %(artifact_path)s, %(artifact_size_bytes)s,
           %(content_type)s, %(metadata)s
    FROM held
    RETURNING id, workflow_execution_id, workflow_step_id, artifact_type,
              artifact_name, artifact_path, artifact_size_bytes, content_type,
              metadata, created_at, updated_at
)
SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
       artifact_path, artifact_size_bytes, content_type, metadata, created_at,
       updated_at
FROM created;

-- name: get :one
-- op: SELECT workflow_artifacts
-- One workflow artifact by primary key.
SELECT id, workflow_execution_id, workflow_step_id, artifact_type,
       artifact_name, artifact_path, artifact_size_bytes, content_type,
       metadata, created_at, updated_at
FROM workflow_artifacts
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE workflow_artifacts
-- Partial update of one workflow artifact: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE workflow_artifacts SET
    artifact_name = CASE WHEN %(set_artifact_name)s THEN %(artifact_name)s ELSE artifact_name END,
    artifact_path = CASE WHEN %(set_artifact_path)s THEN %(artifact_path)s ELSE artifact_path END,
    artifact_size_bytes = CASE WHEN %(set_artifact_size_bytes)s THEN %(artifact_size_bytes)s ELSE artifact_size_bytes END,
    content_type = CASE WHEN %(set_content_type)s THEN %(content_type)s ELSE content_type END,
    metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, workflow_execution_id, workflow_step_id, artifact_type,
          artifact_name, artifact_path, artifact_size_bytes, content_type,
          metadata, created_at, updated_at;

-- name: merge_metadata :one
-- op: UPDATE workflow_artifacts
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE workflow_artifacts SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, workflow_execution_id, workflow_step_id, artifact_type,
          artifact_name, artifact_path, artifact_size_bytes, content_type,
          metadata, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE workflow_artifacts
-- Delete one workflow artifact by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM workflow_artifacts WHERE id = %(id)s;

-- name: list_for_execution :many
-- op: SELECT workflow_artifacts
-- One execution's artifacts, optionally of one type, oldest first (creation
-- order). Served by ix_workflow_artifacts_execution_type.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
       artifact_path, artifact_size_bytes, content_type, metadata, created_at,
       updated_at
FROM workflow_artifacts
WHERE workflow_execution_id = %(workflow_execution_id)s
  AND (%(artifact_type)s::artifact_type IS NULL
       OR artifact_type = %(artifact_type)s::artifact_type)
ORDER BY created_at, id;

-- name: list_for_step :many
-- op: SELECT workflow_artifacts
-- One step's artifacts, oldest first. Served by ix_workflow_artifacts_step_type.
SELECT id, workflow_execution_id, workflow_step_id, artifact_type, artifact_name,
       artifact_path, artifact_size_bytes, content_type, metadata, created_at,
       updated_at
FROM workflow_artifacts
WHERE workflow_step_id = %(workflow_step_id)s
ORDER BY created_at, id;
