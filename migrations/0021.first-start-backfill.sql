-- The first_started_at of the runs that existed before 0020, and the index
-- no statement reads any more.
--
-- * the backfill, in batches of 5,000 executions by primary key, each batch
--   its own transaction (COMMIT inside the DO block: row locks are held for
--   one batch only). A run that ever started gets the earliest of its
--   started_at and its first move into running in the transition log (a
--   requeued run's started_at is its last claim, or NULL while it waits).
--   The updated_at trigger does not fire for it (see 0020); the log's does
--   not either (status is not set). Re-running it touches only runs still
--   missing the value.
-- * ix_workflow_executions_started_at (a design index for time-window
--   reports) is dropped CONCURRENTLY: every window is now over created_at
--   (ix_workflow_executions_created), and the slow plan test found no
--   statement that reads it, while every claim and requeue paid to keep it.
--
-- depends: 0020.first-start-and-restarts
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '2h';
DO $$
DECLARE
    low uuid := '00000000-0000-0000-0000-000000000000';
    high uuid;
BEGIN
    LOOP
        SELECT e.id INTO high
        FROM workflow_executions AS e
        WHERE e.id > low
        ORDER BY e.id OFFSET 4999 LIMIT 1;
        UPDATE workflow_executions AS e
        SET first_started_at = least(
                e.started_at,
                (SELECT min(t.at)
                 FROM workflow_transitions AS t
                 WHERE t.workflow_execution_id = e.id
                   AND t.workflow_step_id IS NULL
                   AND t.to_status = 'running'))
        WHERE e.id > low AND (high IS NULL OR e.id <= high)
          AND e.first_started_at IS NULL
          AND (e.started_at IS NOT NULL OR e.attempt > 0);
        COMMIT;
        EXIT WHEN high IS NULL;
        low := high;
    END LOOP;
END
$$;
-- Stands opposite the rollback's drop of an invalid leftover (a no-op that
-- prints nothing, unlike a SELECT).
DO $$ BEGIN NULL; END $$;
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_executions_started_at;
RESET statement_timeout;
RESET lock_timeout;
