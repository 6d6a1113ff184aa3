-- What odb.create_cluster reads to route reads between the primary and its
-- streaming replicas (optiinfra_db/aio/cluster.py). Functions every login
-- may call: routing needs no privilege beyond optiinfra_app.

-- name: write_position :one
-- op: SELECT
-- The server's identity and the end of its WAL (pg_current_wal_insert_lsn,
-- as a byte offset): odb.write_token after a commit. The insert position
-- is at or past every commit record this session wrote.
SELECT system_identifier::text, (pg_current_wal_insert_lsn() - '0/0'::pg_lsn)::int8
FROM pg_control_system();

-- name: identity :one
-- op: SELECT
-- The server's identity (the same on a primary and its physical replicas)
-- and whether it is a standby.
SELECT system_identifier::text, pg_is_in_recovery()
FROM pg_control_system();

-- name: probe_timeout :exec
-- op: SELECT
-- The statement timeout of a replica's health probe (transaction-local, in
-- milliseconds): a replica too slow to answer replica_position within it is
-- skipped for a while, as one that is down. Sent in one round trip with the
-- probe (a pipeline).
SELECT set_config('statement_timeout', %(timeout_ms)s::text, true);

-- name: replica_position :one
-- op: SELECT
-- A replica's health probe: whether it is a standby, how far it has
-- replayed (a byte offset, comparable with write_position's), and its lag
-- in seconds: 0 when it has replayed all it received, else the age of the
-- last transaction it replayed (an idle primary is no lag).
SELECT system_identifier::text,
       pg_is_in_recovery(),
       (coalesce(pg_last_wal_replay_lsn(), '0/0'::pg_lsn) - '0/0'::pg_lsn)::int8,
       CASE WHEN pg_last_wal_receive_lsn() IS NOT NULL
                 AND pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() THEN 0::float8
            ELSE coalesce(extract(epoch FROM clock_timestamp()
                                  - pg_last_xact_replay_timestamp())::float8, 0::float8)
       END
FROM pg_control_system();

-- name: read_only_session :exec
-- op: SELECT
-- Make every later transaction of this session read-only (on), or undo it
-- (off): the primary lent by Cluster.read in a replica's place.
SELECT set_config('default_transaction_read_only', %(on)s::text, false);
