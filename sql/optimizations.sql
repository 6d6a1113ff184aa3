-- Optimizations: executions of approved recommendations. Money columns are
-- returned as text so they round-trip as exact Decimals.

-- name: create :one
-- op: INSERT optimizations
-- Insert one optimization and return it (one round trip).
-- Columns not listed keep their database defaults.
INSERT INTO optimizations (
    recommendation_id, customer_id, agent_id, status, progress, result,
    error, actual_savings, actual_improvement, started_at, completed_at,
    rolled_back_at
) VALUES (
    %(recommendation_id)s, %(customer_id)s, %(agent_id)s,
    %(status)s::optimization_status, %(progress)s, %(result)s, %(error)s,
    %(actual_savings)s, %(actual_improvement)s, %(started_at)s,
    %(completed_at)s, %(rolled_back_at)s
)
RETURNING id, recommendation_id, customer_id, agent_id, status, progress,
          result, error, actual_savings::text AS actual_savings,
          actual_improvement::text AS actual_improvement, started_at,
          completed_at, rolled_back_at, created_at, updated_at;

-- name: get :one
-- op: SELECT optimizations
-- One optimization by primary key.
SELECT id, recommendation_id, customer_id, agent_id, status, progress,
       result, error, actual_savings::text AS actual_savings,
       actual_improvement::text AS actual_improvement, started_at,
       completed_at, rolled_back_at, created_at, updated_at
FROM optimizations
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE optimizations
-- Partial update of one optimization: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE optimizations SET
    status = CASE WHEN %(set_status)s THEN %(status)s::optimization_status ELSE status END,
    progress = CASE WHEN %(set_progress)s THEN %(progress)s ELSE progress END,
    result = CASE WHEN %(set_result)s THEN %(result)s ELSE result END,
    error = CASE WHEN %(set_error)s THEN %(error)s ELSE error END,
    actual_savings = CASE WHEN %(set_actual_savings)s THEN %(actual_savings)s ELSE actual_savings END,
    actual_improvement = CASE WHEN %(set_actual_improvement)s THEN %(actual_improvement)s ELSE actual_improvement END,
    started_at = CASE WHEN %(set_started_at)s THEN %(started_at)s ELSE started_at END,
    completed_at = CASE WHEN %(set_completed_at)s THEN %(completed_at)s ELSE completed_at END,
    rolled_back_at = CASE WHEN %(set_rolled_back_at)s THEN %(rolled_back_at)s ELSE rolled_back_at END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, recommendation_id, customer_id, agent_id, status, progress,
          result, error, actual_savings::text AS actual_savings,
          actual_improvement::text AS actual_improvement, started_at,
          completed_at, rolled_back_at, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE optimizations
-- Delete one optimization by primary key (and, through ON DELETE, what
-- hangs off it).
DELETE FROM optimizations WHERE id = %(id)s;

-- name: list :many
-- op: SELECT optimizations
-- A customer's optimizations, newest first. Keyset pagination: the first
-- page passes after_created_at = 'infinity' and after_id = the greatest
-- uuid; the next page passes the last row's created_at and id. Optional
-- filters are NULL when unused; since/until bound created_at as [since,
-- until) and default to -infinity/infinity. Served by
-- ix_optimizations_customer_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, recommendation_id, customer_id, agent_id, status, progress,
       result, error, actual_savings::text AS actual_savings,
       actual_improvement::text AS actual_improvement, started_at,
       completed_at, rolled_back_at, created_at, updated_at
FROM optimizations
WHERE customer_id = %(customer_id)s
  AND (%(status)s::optimization_status IS NULL
       OR status = %(status)s::optimization_status)
  AND created_at >= %(since)s::timestamptz
  AND created_at < %(until)s::timestamptz
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: list_for_recommendation :many
-- op: SELECT optimizations
-- The optimizations of one recommendation, newest first. Keyset pagination:
-- the first page passes after_created_at = 'infinity' and after_id = the
-- greatest uuid; the next page passes the last row's created_at and id.
-- Optional filters are NULL when unused; since/until bound created_at as
-- [since, until) and default to -infinity/infinity. Served by
-- ix_optimizations_recommendation (then a sort of that recommendation's few
-- rows).
SELECT id, recommendation_id, customer_id, agent_id, status, progress,
       result, error, actual_savings::text AS actual_savings,
       actual_improvement::text AS actual_improvement, started_at,
       completed_at, rolled_back_at, created_at, updated_at
FROM optimizations
WHERE recommendation_id = %(recommendation_id)s
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
