-- The index a watcher reads the log by: the rows of the transactions its
-- last snapshot listed as in progress (writer_xid = ANY(...)) and of those
-- that began after it (writer_xid >= its xmax). Built CONCURRENTLY (no write
-- lock), after the invalid leftover of an interrupted run.
--
-- depends: 0016.transition-writer
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_transitions_writer;
CREATE INDEX CONCURRENTLY ix_workflow_transitions_writer
    ON workflow_transitions (writer_xid);
RESET statement_timeout;
RESET lock_timeout;
