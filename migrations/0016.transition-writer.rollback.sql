-- Undo 0016: the log forgets its writers (0017's rollback dropped the index).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_transitions DROP COLUMN IF EXISTS writer_xid;
