-- Rollback of 0001.core-schema: removes exactly what it added, children first.
-- Dropping a table drops its indexes, constraints and triggers with it.

-- Fail fast instead of queueing every session behind a lock this migration
-- waits for (it runs in one transaction, so SET LOCAL lasts exactly as long).
SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '5min';

DROP TABLE optimizations;
DROP TABLE approvals;
DROP TABLE recommendations;
DROP TABLE events;
DROP TABLE agents;
DROP TABLE customers;

DROP TYPE optimization_status;
DROP TYPE approval_status;
DROP TYPE recommendation_status;
DROP TYPE recommendation_priority;
DROP TYPE recommendation_type;
DROP TYPE event_severity;
DROP TYPE event_type;
DROP TYPE agent_status;
DROP TYPE agent_type;
DROP TYPE customer_status;
DROP TYPE customer_plan;

DROP FUNCTION optiinfra_set_updated_at();
