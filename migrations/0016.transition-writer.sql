-- Who wrote each transition: the writer's top-level transaction id, so a
-- watcher reads the log the way PgQ reads a queue (issue: promises that hold
-- under attack). Ids come from a sequence at insert, not at commit, so
-- "after id N" loses a row whose transaction took a lower id and committed
-- later. A watcher instead remembers a snapshot and reads, each time, the
-- rows whose writer was still invisible to it and is visible now: nothing is
-- skipped or repeated, and nobody waits for a transaction that has not
-- written to the log (see sql/live.sql).
--
-- Live-safe: the column is added without a default (no rewrite), then the
-- default is set for the rows to come (a volatile default given in ADD
-- COLUMN would rewrite the table). The rows already there keep NULL: they
-- were committed before this migration could take its lock, so every
-- watcher's snapshot sees them. The index is built CONCURRENTLY by 0017.
--
-- depends: 0015.platform-read-only

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_transitions ADD COLUMN writer_xid xid8;
ALTER TABLE workflow_transitions ALTER COLUMN writer_xid SET DEFAULT pg_current_xact_id();
COMMENT ON COLUMN workflow_transitions.writer_xid IS 'Top-level transaction that wrote the row (pg_current_xact_id()); NULL for rows logged before migration 0016.';
