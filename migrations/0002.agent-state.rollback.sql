-- Rollback of 0002.agent-state: removes exactly what it added.

DROP TABLE agent_metrics;
DROP TABLE agent_capabilities;
DROP TABLE agent_states;
DROP TABLE agent_configs;

DROP TYPE metric_type;
DROP TYPE agent_status_detail;
DROP TYPE config_type;
