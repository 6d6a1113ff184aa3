-- Queries about the database itself (not a table of the schema).

-- name: enum_types :many
-- op: SELECT
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

-- name: server_version :one
-- op: SELECT
-- The server's version string, e.g. "PostgreSQL 15.20 ...".
SELECT version();

-- name: yoyo_tables :one
-- op: SELECT
-- Whether yoyo's bookkeeping tables exist (read-only checks must not create
-- them, as yoyo's own backend would).
SELECT to_regclass('_yoyo_migration') IS NOT NULL AS has_migrations,
       to_regclass('yoyo_lock') IS NOT NULL AS has_lock;

-- name: applied_migrations :many
-- op: SELECT
-- Migrations yoyo has recorded as applied, oldest first.
SELECT migration_id, applied_at_utc FROM _yoyo_migration ORDER BY applied_at_utc, migration_id;

-- name: yoyo_locks :many
-- op: SELECT
-- Rows of yoyo's lock table: a row left behind by a killed `yoyo apply`
-- blocks every later migration until `yoyo break-lock` clears it.
SELECT pid, ctime FROM yoyo_lock;

-- name: tables :many
-- op: SELECT
-- Ordinary and partitioned tables in the current schema (yoyo's own and
-- partitions excluded: a partition is part of its parent).
SELECT c.relname::text
FROM pg_catalog.pg_class AS c
WHERE c.relnamespace = to_regnamespace(current_schema())
  AND c.relkind IN ('r', 'p')
  AND NOT c.relispartition
  AND c.relname NOT IN ('_yoyo_log', '_yoyo_migration', '_yoyo_version', 'yoyo_lock', 'yoyo_tmp')
ORDER BY 1;

-- name: foreign_keys :many
-- op: SELECT
-- Foreign keys in the current schema: name, table and ON DELETE action
-- ('c' cascade, 'n' set null, 'a' no action, 'r' restrict, 'd' set default).
-- The copies a partitioned table's keys leave on its partitions (and on
-- the partitions of a referenced partitioned table) are not listed.
SELECT con.conname::text, con.conrelid::regclass::text, con.confdeltype::text
FROM pg_catalog.pg_constraint AS con
WHERE con.contype = 'f'
  AND con.conparentid = 0
  AND con.connamespace = to_regnamespace(current_schema())
ORDER BY 1;

-- name: indexes :many
-- op: SELECT
-- Indexes in the current schema: name, table, whether unique, and whether
-- valid (false for a CREATE INDEX CONCURRENTLY that was cut off or is still
-- being built: the planner does not use it and a unique one enforces nothing).
SELECT i.relname::text, t.relname::text, x.indisunique, x.indisvalid
FROM pg_catalog.pg_index AS x
JOIN pg_catalog.pg_class AS i ON i.oid = x.indexrelid
JOIN pg_catalog.pg_class AS t ON t.oid = x.indrelid
WHERE t.relnamespace = to_regnamespace(current_schema())
ORDER BY 1;

-- name: set_time_zone_utc :exec
-- op: SELECT
-- Render timestamps in UTC and ISO 8601 on this session. Timestamps are read
-- as the server writes them (each row's JSON is assembled on the client from
-- the columns' text, or to_json()'s for single rows), in the session's
-- TimeZone and DateStyle: some zones give offsets with seconds (early dates
-- in Europe/Amsterdam: +00:19:32) or push extreme dates into BC or year
-- 10000, and a DateStyle other than ISO writes "12/05/2026 ..." - neither
-- reads back. PgBouncer tracks TimeZone and DateStyle per client, so this
-- stays correct behind it in transaction mode.
SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false);

-- name: session_setup :one
-- op: SELECT
-- Run once per new connection of the library: UTC and ISO as above, and the
-- pid of the backend that answers. A pid that differs from the one the
-- server gave at connect time means a pooler (PgBouncer) sits in between.
SELECT set_config('TimeZone', 'UTC', false), set_config('DateStyle', 'ISO, MDY', false),
       pg_backend_pid();

-- name: table_has_rows :one
-- op: SELECT
-- Whether one table holds at least one row (asked before a rollback drops
-- it). {table} is an identifier from the fixed list of tables the rollback
-- files drop, composed with psycopg.sql.Identifier (quoted, never a value);
-- the probe reads at most one row.
SELECT EXISTS (SELECT 1 FROM {table});

-- name: stream_declare :exec
-- op: DECLARE
-- Open a library stream: a server-side cursor over one catalog statement,
-- whose bound parameters travel with this statement. {cursor} is a name the
-- library makes unique per process (optiinfra_stream_<n>, composed with
-- psycopg.sql.Identifier); {statement} is the catalog statement's own text.
-- The cursor lives until the transaction ends or stream_close.
DECLARE {cursor} NO SCROLL CURSOR FOR {statement}

-- name: stream_fetch :many
-- op: FETCH
-- The next batch of a stream: at most {rows} rows (the stream's batch size,
-- a checked integer composed with psycopg.sql.Literal: FETCH takes no bind
-- parameters). Rows come as plain columns; the library reads them raw.
FETCH FORWARD {rows} FROM {cursor}

-- name: stream_close :exec
-- op: CLOSE
-- Close a stream's cursor before its transaction ends (an iterator closed
-- early, or one that ran to the end in the caller's transaction).
CLOSE {cursor}

-- name: set_customer_scope :one
-- op: SELECT
-- The customer a scoped Repositories acts for, for the rest of the current
-- transaction only (is_local = true; a savepoint rolled back undoes it too):
-- the row-level security policies of migration 0013 read
-- optiinfra.customer_id through optiinfra_customer_id(). application_name
-- gets a mark naming the customer for the same span: the server reports
-- application_name to the client whenever it changes (ParameterStatus), also
-- when the transaction ends and it reverts, so the library knows without a
-- round trip whether the current transaction still acts for the customer.
-- Sent in one pipeline with the statement it guards (no extra round trip);
-- while a scoped transaction runs, pg_stat_activity shows its customer.
SELECT set_config('optiinfra.customer_id', %(customer_id)s, true),
       set_config('application_name', %(mark)s, true);

-- name: set_customer_once :one
-- op: SELECT
-- set_customer_scope for a statement that is a transaction of its own (an
-- autocommit connection outside a transaction block): the transaction ends
-- with the statement, so it needs no mark (and the server sends no
-- ParameterStatus for it).
SELECT set_config('optiinfra.customer_id', %(customer_id)s, true);

-- name: set_role_app :exec
-- op: SET
-- The CLI's --customer: act as optiinfra_app for the rest of the session,
-- so row-level security applies (run only when the login may: a superuser,
-- or a member of optiinfra_app).
SET ROLE optiinfra_app;

-- name: may_be_app :one
-- op: SELECT
-- Whether the session's user may SET ROLE optiinfra_app (false when the role
-- does not exist: an unmigrated database).
SELECT coalesce(pg_catalog.pg_has_role(session_user, r.oid, 'MEMBER'), false)
FROM (SELECT NULL) AS one
LEFT JOIN pg_catalog.pg_roles AS r ON r.rolname = 'optiinfra_app';
