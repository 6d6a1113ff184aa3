-- Rollback of 0002.agent-state: removes exactly what it added.

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

DROP TABLE agent_metrics;
DROP TABLE agent_capabilities;
DROP TABLE agent_states;
DROP TABLE agent_configs;

DROP TYPE metric_type;
DROP TYPE agent_status_detail;
DROP TYPE config_type;
