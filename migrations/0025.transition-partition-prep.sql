-- Preparing the transition log to become the first partition of a log
-- partitioned by week on "at" (issue: history that scales; 0026 makes the
-- move). Nothing here rewrites the table or blocks its writers for long:
--
-- * ck_workflow_transitions_first_partition: CHECK (at < B), added NOT VALID
--   (a moment's lock, no scan) and then validated (a scan under SHARE UPDATE
--   EXCLUSIVE: reads and writes go on). B is the start of the week (weeks
--   start on Monday 00:00 UTC) after the next one, counted from now or from
--   the newest row, whichever is later: two weeks' room for the writes made
--   between this migration and 0026 (one migrate applies both). 0026
--   attaches the table FROM (MINVALUE) TO (B) without scanning it, because
--   this validated CHECK already proves the range, and then drops the CHECK.
-- * ux_workflow_transitions_id_at: UNIQUE (id, at), built CONCURRENTLY. A
--   partitioned table's primary key must hold its partition key, so the
--   log's becomes (id, at); 0026 makes this index the old table's primary
--   key (no build under lock) so that it attaches to the parent's.
-- * workflow_executions.history_from: the earliest "at" of the execution's
--   log (set when the execution is inserted, lowered by 0026's trigger when
--   an earlier move is written). history(), attempts() and a watch of one
--   execution read the log from it, so only the partitions that can hold the
--   execution's rows are read (run-time pruning). NULL (executions older than
--   this migration): every partition. A nullable column without a default:
--   a catalog change only.
--
-- depends: 0024.cancel-notify
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS history_from timestamptz;
COMMENT ON COLUMN workflow_executions.history_from IS 'Earliest "at" of the execution''s transition log (the log is read from it: partition pruning); NULL for executions older than migration 0025: read from the start.';
DO $$
DECLARE
    bound timestamptz;
BEGIN
    IF NOT EXISTS (SELECT FROM pg_constraint
                   WHERE conname = 'ck_workflow_transitions_first_partition'
                     AND conrelid = 'workflow_transitions'::regclass) THEN
        SELECT date_bin('7 days', greatest(now(), max(t.at)), timestamptz '2000-01-03 00:00:00+00')
               + interval '14 days'
        INTO bound FROM workflow_transitions AS t;
        EXECUTE format('ALTER TABLE workflow_transitions ADD CONSTRAINT '
                       'ck_workflow_transitions_first_partition CHECK (at < %L::timestamptz) NOT VALID',
                       bound);
    END IF;
END
$$;
ALTER TABLE workflow_transitions VALIDATE CONSTRAINT ck_workflow_transitions_first_partition;
-- The invalid leftover of an interrupted run goes first (docs: migrations, the index rule).
DROP INDEX CONCURRENTLY IF EXISTS ux_workflow_transitions_id_at;
CREATE UNIQUE INDEX CONCURRENTLY ux_workflow_transitions_id_at
    ON workflow_transitions (id, at);
RESET statement_timeout;
RESET lock_timeout;
