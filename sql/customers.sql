-- Customers. The API key itself is never stored: the repository hashes it
-- (HMAC-SHA256 keyed by a server-side secret, hex) and only api_key_hash reaches the database. No query
-- returns api_key_hash.

-- name: create :one
-- op: INSERT customers
-- Insert one customer and return it (one round trip). Columns
-- not listed keep their database defaults.
INSERT INTO customers (
    name, email, api_key_hash, plan, status, metadata
) VALUES (
    %(name)s, %(email)s, %(api_key_hash)s, %(plan)s::customer_plan,
    %(status)s::customer_status, %(metadata)s
)
RETURNING id, name, email, plan, status, metadata, created_at, updated_at;

-- name: get :one
-- op: SELECT customers
-- One customer by primary key.
SELECT id, name, email, plan, status, metadata, created_at, updated_at
FROM customers
WHERE id = %(id)s;

-- name: update :one
-- op: UPDATE customers
-- Partial update of one customer: a column changes only when its
-- set_<column> flag is true, so one static statement serves every
-- combination. No row back means the id does not exist or (with
-- expected_updated_at, an optimistic check) the row changed since it was read. updated_at is kept
-- by the trigger.
UPDATE customers SET
    name = CASE WHEN %(set_name)s THEN %(name)s ELSE name END,
    email = CASE WHEN %(set_email)s THEN %(email)s ELSE email END,
    plan = CASE WHEN %(set_plan)s THEN %(plan)s::customer_plan ELSE plan END,
    status = CASE WHEN %(set_status)s THEN %(status)s::customer_status ELSE status END,
    metadata = CASE WHEN %(set_metadata)s THEN %(metadata)s ELSE metadata END
WHERE id = %(id)s
  AND (%(expected_updated_at)s::timestamptz IS NULL
       OR updated_at = %(expected_updated_at)s::timestamptz)
RETURNING id, name, email, plan, status, metadata, created_at, updated_at;

-- name: merge_metadata :one
-- op: UPDATE customers
-- Merge a JSON object into one row's metadata in one statement (jsonb ||:
-- the patch's top-level keys replace the row's, others stay), so callers
-- that each merge their own keys never lose each other's writes. No row
-- back means the id does not exist.
UPDATE customers SET
    metadata = metadata || %(patch)s::jsonb
WHERE id = %(id)s
RETURNING id, name, email, plan, status, metadata, created_at, updated_at;

-- name: delete :execrows
-- op: DELETE customers
-- Delete one customer by primary key (and, through ON DELETE, what hangs
-- off it).
DELETE FROM customers WHERE id = %(id)s;

-- name: list :many
-- op: SELECT customers
-- Customers, optionally of one status and plan, newest first. Keyset
-- pagination: the first page passes after_created_at = 'infinity' and
-- after_id = the greatest uuid; the next page passes the last row's
-- created_at and id. Optional filters are NULL when unused; since/until
-- bound created_at as [since, until) and default to -infinity/infinity.
-- Served by ix_customers_created.
-- plan: custom (optional filters: each call is planned with its values)
SELECT id, name, email, plan, status, metadata, created_at, updated_at
FROM customers
WHERE (%(status)s::customer_status IS NULL
       OR status = %(status)s::customer_status)
  AND (%(plan)s::customer_plan IS NULL OR plan = %(plan)s::customer_plan)
  AND (created_at, id) < (%(after_created_at)s::timestamptz, %(after_id)s::uuid)
ORDER BY created_at DESC, id DESC
LIMIT %(limit)s;

-- name: get_by_email :one
-- op: SELECT customers
-- One customer by e-mail (exact match; served by uq_customers_email).
SELECT id, name, email, plan, status, metadata, created_at, updated_at
FROM customers
WHERE email = %(email)s;

-- name: get_by_api_key_hash :one
-- op: SELECT customers
-- One customer by the HMAC of its API key (served by uq_customers_api_key_hash).
SELECT id, name, email, plan, status, metadata, created_at, updated_at
FROM customers
WHERE api_key_hash = %(api_key_hash)s;

-- name: authenticate :one
-- op: SELECT customers
-- The customer an API key belongs to (by its HMAC), through
-- optiinfra_authenticate() (migration 0018, SECURITY DEFINER): works on a
-- session row-level security applies to, with no customer set, and answers
-- only for that key's own customer.
SELECT id, name, email, plan, status, metadata, created_at, updated_at
FROM optiinfra_authenticate(%(api_key_hash)s);

-- name: set_api_key_hash :one
-- op: UPDATE customers
-- Rotate a customer's API key: store the HMAC of the new key.
UPDATE customers SET api_key_hash = %(api_key_hash)s
WHERE id = %(id)s
RETURNING id, name, email, plan, status, metadata, created_at, updated_at;
