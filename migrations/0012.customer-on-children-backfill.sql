-- The customer_id 0011 added to approvals, workflow_steps,
-- workflow_artifacts and workflow_transitions: filled for the rows that
-- existed before 0011, then made a rule, without a long lock:
--
-- * the backfill, in batches of 5,000 rows by primary key, each batch its own
--   transaction (COMMIT inside the DO block: row locks are held for one
--   batch only; the updated_at triggers do not fire for it, see 0011).
--   Re-running it touches only rows still missing their customer.
-- * uq_workflow_executions_id_customer, built CONCURRENTLY: the key the
--   composite foreign keys reference (recommendations has its own, 0010).
-- * per table, customer_id = the parent's (composite foreign key ON DELETE
--   CASCADE) and present (CHECK customer_id IS NOT NULL), each added NOT
--   VALID (a brief lock, no scan) then VALIDATEd (a scan holding only SHARE
--   UPDATE EXCLUSIVE: reads and writes go on).
--
-- depends: 0011.customer-on-children
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '2h';
-- approvals, workflow_steps, workflow_artifacts: uuid ids, batches by id
-- (keyset on the primary key), the same loop for each (table, parent, link).
DO $$
DECLARE
    t record;
    low uuid;
    high uuid;
BEGIN
    FOR t IN SELECT * FROM (VALUES
        ('approvals', 'recommendations', 'recommendation_id'),
        ('workflow_steps', 'workflow_executions', 'workflow_execution_id'),
        ('workflow_artifacts', 'workflow_executions', 'workflow_execution_id')
    ) AS v (child, parent, link)
    LOOP
        low := '00000000-0000-0000-0000-000000000000';
        LOOP
            EXECUTE format('SELECT c.id FROM %I AS c WHERE c.id > $1 ORDER BY c.id OFFSET 4999 LIMIT 1',
                           t.child)
                INTO high USING low;
            EXECUTE format('UPDATE %I AS c SET customer_id = p.customer_id FROM %I AS p'
                           ' WHERE c.id > $1 AND ($2 IS NULL OR c.id <= $2)'
                           ' AND c.customer_id IS NULL AND p.id = c.%I',
                           t.child, t.parent, t.link)
                USING low, high;
            COMMIT;
            EXIT WHEN high IS NULL;
            low := high;
        END LOOP;
    END LOOP;
END
$$;
-- workflow_transitions: bigint ids, batches by id range.
DO $$
DECLARE
    low bigint := 0;
    top bigint;
BEGIN
    SELECT coalesce(max(id), 0) INTO top FROM workflow_transitions;
    WHILE low < top LOOP
        UPDATE workflow_transitions AS c SET customer_id = p.customer_id
        FROM workflow_executions AS p
        WHERE c.id > low AND c.id <= low + 5000 AND c.customer_id IS NULL
          AND p.id = c.workflow_execution_id;
        low := low + 5000;
        COMMIT;
    END LOOP;
END
$$;
DROP INDEX CONCURRENTLY IF EXISTS uq_workflow_executions_id_customer;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_workflow_executions_id_customer
    ON workflow_executions (id, customer_id);
ALTER TABLE approvals
    ADD CONSTRAINT fk_approvals_recommendation_customer
    FOREIGN KEY (recommendation_id, customer_id)
    REFERENCES recommendations (id, customer_id) ON DELETE CASCADE
    NOT VALID;
ALTER TABLE approvals VALIDATE CONSTRAINT fk_approvals_recommendation_customer;
ALTER TABLE approvals ADD CONSTRAINT ck_approvals_customer_present CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE approvals VALIDATE CONSTRAINT ck_approvals_customer_present;
ALTER TABLE workflow_steps
    ADD CONSTRAINT fk_workflow_steps_execution_customer
    FOREIGN KEY (workflow_execution_id, customer_id)
    REFERENCES workflow_executions (id, customer_id) ON DELETE CASCADE
    NOT VALID;
ALTER TABLE workflow_steps VALIDATE CONSTRAINT fk_workflow_steps_execution_customer;
ALTER TABLE workflow_steps ADD CONSTRAINT ck_workflow_steps_customer_present CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE workflow_steps VALIDATE CONSTRAINT ck_workflow_steps_customer_present;
ALTER TABLE workflow_artifacts
    ADD CONSTRAINT fk_workflow_artifacts_execution_customer
    FOREIGN KEY (workflow_execution_id, customer_id)
    REFERENCES workflow_executions (id, customer_id) ON DELETE CASCADE
    NOT VALID;
ALTER TABLE workflow_artifacts VALIDATE CONSTRAINT fk_workflow_artifacts_execution_customer;
ALTER TABLE workflow_artifacts ADD CONSTRAINT ck_workflow_artifacts_customer_present CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE workflow_artifacts VALIDATE CONSTRAINT ck_workflow_artifacts_customer_present;
ALTER TABLE workflow_transitions
    ADD CONSTRAINT fk_workflow_transitions_execution_customer
    FOREIGN KEY (workflow_execution_id, customer_id)
    REFERENCES workflow_executions (id, customer_id) ON DELETE CASCADE
    NOT VALID;
ALTER TABLE workflow_transitions VALIDATE CONSTRAINT fk_workflow_transitions_execution_customer;
ALTER TABLE workflow_transitions ADD CONSTRAINT ck_workflow_transitions_customer_present CHECK (customer_id IS NOT NULL) NOT VALID;
ALTER TABLE workflow_transitions VALIDATE CONSTRAINT ck_workflow_transitions_customer_present;
RESET statement_timeout;
RESET lock_timeout;
