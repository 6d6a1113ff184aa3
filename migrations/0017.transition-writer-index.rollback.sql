-- Rollback of 0017.transition-writer-index: drops the index (concurrently).
-- The no-op SELECT stands opposite the drop of an invalid leftover, so that
-- yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_transitions_writer;
SELECT 'ix_workflow_transitions_writer: its leftover drop has nothing to undo' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
