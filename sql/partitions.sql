-- The transition log's partitions (migration 0026): listed from the
-- catalog, made ahead, and the gaps ahead that the DEFAULT partition covers.
-- See docs/partitions.md.

-- name: list :many
-- op: SELECT
-- Every partition of workflow_transitions, whoever made it, in range order
-- (the DEFAULT partition last): name, range [range_from, range_to) (NULL:
-- unbounded, and both NULL for the DEFAULT), whether it is the DEFAULT, the
-- planner's row estimate (NULL: never analyzed), its size with indexes, and
-- whether a DETACH CONCURRENTLY of it was interrupted.
SELECT p.partition_name,
       nullif(p.range_from, '-infinity'),
       nullif(p.range_to, 'infinity'),
       p.is_default,
       p.rows_estimate,
       p.total_bytes,
       p.detach_pending
FROM optiinfra_transition_partitions() AS p
ORDER BY p.is_default, p.range_from, p.partition_name;

-- name: ensure :many
-- op: SELECT
-- Make the DEFAULT partition if it is missing and the partitions of this
-- %(width)s-wide slot and the %(ahead)s after it (the free parts of them:
-- partitions made by hand are built around); the names made. DDL under a
-- 2 s lock_timeout (see optiinfra_ensure_transition_partitions()).
SELECT name FROM optiinfra_ensure_transition_partitions(
    %(ahead)s::integer, %(width)s::interval, now()) AS name;

-- name: gaps :many
-- op: SELECT
-- The parts of [now, now + %(horizon)s) that no partition but the DEFAULT
-- holds, in order: writes there land in the DEFAULT partition (they do not
-- fail), but a week that far ahead should have been made by ensure.
SELECT lower(g), upper(g)
FROM unnest(
    tstzmultirange(tstzrange(now(), now() + %(horizon)s::interval))
    - coalesce((SELECT range_agg(tstzrange(p.range_from, p.range_to))
                FROM optiinfra_transition_partitions() AS p
                WHERE NOT p.is_default AND NOT p.detach_pending), '{}'::tstzmultirange)
) AS g
ORDER BY 1;

-- name: installed :one
-- op: SELECT
-- Whether the log is partitioned here (migration 0026 applied): migrate
-- then makes the weeks ahead.
SELECT to_regprocedure('optiinfra_ensure_transition_partitions(integer, interval, timestamptz)') IS NOT NULL;
