-- Recommendations. Money columns are returned as text so they round-trip as
-- exact Decimals.

-- name: create :one
-- op: INSERT recommendations
-- Insert one recommendation and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO recommendations (
    customer_id, agent_id, type, title, description, estimated_savings,
    estimated_improvement, confidence_score, priority, status, data,
    approved_at, executed_at
) VALUES (
    %(customer_id)s, %(agent_id)s, %(type)s::recommendation_type,
    %(title)s, %(description)s, %(estimated_savings)s,
    %(estimated_improvement)s, %(confidence_score)s,
    %(priority)s::recommendation_priority,
    %(status)s::recommendation_status, %(data)s, %(approved_at)s,
    %(executed_at)s
)
RETURNING id, customer_id, agent_id, type, title, description,
          estimated_savings::text AS estimated_savings,
          estimated_improvement::text AS estimated_improvement,
          confidence_score, priority, status, data, created_at,
          updated_at, approved_at, executed_at;

-- name: get :one
-- op: SELECT recommendations
-- One recommendation by primary key.
SELECT id, customer_id, agent_id, type, title, description,
       estimated_savings::text AS estimated_savings,
       estimated_improvement::text AS estimated_improvement,
       confidence_score, priority, status, data, created_at, updated_at,
       approved_at, executed_at
FROM recommendations
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE recommendations
-- Partial update of one recommendation: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE recommendations SET
    title = CASE WHEN %(set_title)s THEN %(title)s ELSE title END,
    description = CASE WHEN %(set_description)s THEN %(description)s ELSE description END,
    estimated_savings = CASE WHEN %(set_estimated_savings)s THEN %(estimated_savings)s ELSE estimated_savings END,
    estimated_improvement = CASE WHEN %(set_estimated_improvement)s THEN %(estimated_improvement)s ELSE estimated_improvement END,
    confidence_score = CASE WHEN %(set_confidence_score)s THEN %(confidence_score)s ELSE confidence_score END,
    priority = CASE WHEN %(set_priority)s THEN %(priority)s::recommendation_priority ELSE priority END,
    status = CASE WHEN %(set_status)s THEN %(status)s::recommendation_status ELSE status END,
    data = CASE WHEN %(set_data)s THEN %(data)s ELSE data END,
    approved_at = CASE WHEN %(set_approved_at)s THEN %(approved_at)s ELSE approved_at END,
    executed_at = CASE WHEN %(set_executed_at)s THEN %(executed_at)s ELSE executed_at END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, customer_id, agent_id, type, title, description,
          estimated_savings::text AS estimated_savings,
          estimated_improvement::text AS estimated_improvement,
          confidence_score, priority, status, data, created_at,
          updated_at, approved_at, executed_at;

-- name: delete :execrows
-- op: DELETE recommendations
-- Delete one recommendation by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM recommendations WHERE id = %(id)s;

-- name: list :many
-- op: SELECT recommendations
-- A customer's recommendations, newest first. Keyset pagination: the first
-- page passes after_created_at = 'infinity' and after_id = the greatest
-- uuid; the next page passes the last row's created_at and id. Optional
-- filters are NULL when unused; since/until bound created_at as [since,
-- until) and default to -infinity/infinity. Served by
-- ix_recommendations_customer_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, customer_id, agent_id, type, title, description,
       estimated_savings::text AS estimated_savings,
       estimated_improvement::text AS estimated_improvement,
       confidence_score, priority, status, data, created_at, updated_at,
       approved_at, executed_at
FROM recommendations
WHERE customer_id = %(customer_id)s
  AND (%(status)s::recommendation_status IS NULL
       OR status = %(status)s::recommendation_status)
  AND (%(type)s::recommendation_type IS NULL
       OR type = %(type)s::recommendation_type)
  AND (%(priority)s::recommendation_priority IS NULL
       OR priority = %(priority)s::recommendation_priority)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_for_agent :many
-- op: SELECT recommendations
-- An agent's recommendations, newest first. Keyset pagination: the first
-- page passes after_created_at = 'infinity' and after_id = the greatest
-- uuid; the next page passes the last row's created_at and id. Optional
-- filters are NULL when unused; since/until bound created_at as [since,
-- until) and default to -infinity/infinity. Served by
-- ix_recommendations_agent_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, customer_id, agent_id, type, title, description,
       estimated_savings::text AS estimated_savings,
       estimated_improvement::text AS estimated_improvement,
       confidence_score, priority, status, data, created_at, updated_at,
       approved_at, executed_at
FROM recommendations
WHERE agent_id = %(agent_id)s
  AND (%(status)s::recommendation_status IS NULL
       OR status = %(status)s::recommendation_status)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
