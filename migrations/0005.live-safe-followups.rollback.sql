-- Rollback of 0005.live-safe-followups: drops the index (concurrently). A
-- validated foreign key is not un-validated: the no-op SELECT below stands
-- opposite the VALIDATE so that yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
SELECT 'fk_agent_states_current_workflow stays validated' AS nothing_to_undo;
DROP INDEX CONCURRENTLY IF EXISTS ix_agent_states_current_workflow;
SELECT 'ix_agent_states_current_workflow: its leftover drop has nothing to undo' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
