-- Queries about the database itself (not a table of the schema).

-- name: enum_types :many
-- Every enum type visible on the search path with its labels in order; run
-- once per new connection to register the Python enums (one round trip for
-- all of them). An unmigrated database returns no rows.
SELECT t.typname::text AS name,
       t.oid::int8 AS oid,
       t.typarray::int8 AS array_oid,
       array_agg(e.enumlabel::text ORDER BY e.enumsortorder) AS labels
FROM pg_catalog.pg_type AS t
JOIN pg_catalog.pg_enum AS e ON e.enumtypid = t.oid
WHERE t.typname = ANY (%(names)s::text[])
  AND pg_catalog.pg_type_is_visible(t.oid)
GROUP BY t.oid, t.typname, t.typarray
ORDER BY t.typname;
