-- Approvals of recommendations.

-- name: create :one
-- op: INSERT approvals
-- Insert one approval and return it (one round trip). Columns
-- not listed keep their database defaults.
INSERT INTO approvals (
    recommendation_id, approved_by, status, comment
) VALUES (
    %(recommendation_id)s, %(approved_by)s, %(status)s::approval_status,
    %(comment)s
)
RETURNING id, recommendation_id, approved_by, status, comment, created_at,
          updated_at;

-- name: get :one
-- op: SELECT approvals
-- One approval by primary key.
SELECT id, recommendation_id, approved_by, status, comment, created_at,
       updated_at
FROM approvals
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE approvals
-- Partial update of one approval: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE approvals SET
    approved_by = CASE WHEN %(set_approved_by)s THEN %(approved_by)s ELSE approved_by END,
    status = CASE WHEN %(set_status)s THEN %(status)s::approval_status ELSE status END,
    comment = CASE WHEN %(set_comment)s THEN %(comment)s ELSE comment END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, recommendation_id, approved_by, status, comment, created_at,
          updated_at;

-- name: delete :execrows
-- op: DELETE approvals
-- Delete one approval by primary key (and, through ON DELETE, what hangs
-- off it).
DELETE FROM approvals WHERE id = %(id)s;

-- name: list :many
-- op: SELECT approvals
-- A recommendation's approvals, newest first. Keyset pagination: the first
-- page passes after_created_at = 'infinity' and after_id = the greatest
-- uuid; the next page passes the last row's created_at and id. Optional
-- filters are NULL when unused; since/until bound created_at as [since,
-- until) and default to -infinity/infinity. Served by
-- ix_approvals_recommendation_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, recommendation_id, approved_by, status, comment, created_at,
       updated_at
FROM approvals
WHERE recommendation_id = %(recommendation_id)s
  AND (%(status)s::approval_status IS NULL
       OR status = %(status)s::approval_status)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;
