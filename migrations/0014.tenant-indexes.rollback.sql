-- Rollback of 0014.tenant-indexes: drops the index (concurrently). The no-op
-- SELECT stands opposite the drop of an invalid leftover, so that yoyo pairs
-- the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
DROP INDEX CONCURRENTLY IF EXISTS ix_workflow_steps_name_customer_created;
SELECT 'ix_workflow_steps_name_customer_created: its leftover drop has nothing to undo' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
