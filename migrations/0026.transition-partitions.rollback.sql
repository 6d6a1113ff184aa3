-- Undo 0026: a plain workflow_transitions again, holding every row.
-- keeps rows: workflow_transitions
-- (the DROP TABLE below drops the partitioned parent only after its rows
-- are copied into the first partition, which becomes the table again; the
-- CLI does not ask for --yes for it.)
--
-- One transaction, locks taken as 0026 takes them (workflow_executions
-- first). The rows of the later partitions are copied (a write of those
-- rows, under the lock); the primary key goes back to (id), built under the
-- lock (a scan of the table), and so are the two foreign keys 0026 made
-- triggers: a rollback of a big log takes that long.

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '30min';

LOCK TABLE workflow_executions IN ACCESS EXCLUSIVE MODE;
LOCK TABLE workflow_transitions IN ACCESS EXCLUSIVE MODE;

-- The whole rollback holds ACCESS EXCLUSIVE already (above).
-- squawk-ignore require-concurrent-partition-detach
ALTER TABLE workflow_transitions DETACH PARTITION workflow_transitions_first;
INSERT INTO workflow_transitions_first (
    id, workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
    attempt, reason, error_details, customer_id, writer_xid, actor
)
SELECT id, workflow_execution_id, workflow_step_id, from_status, to_status, at, worker_id,
       attempt, reason, error_details, customer_id, writer_xid, actor
FROM workflow_transitions;
DROP TABLE workflow_transitions;
DROP FUNCTION IF EXISTS optiinfra_ensure_transition_partitions(integer, interval, timestamptz);
DROP FUNCTION IF EXISTS optiinfra_transition_partitions();
DROP FUNCTION IF EXISTS optiinfra_lower_history_from();
DROP FUNCTION IF EXISTS optiinfra_check_transition_execution();
DROP TRIGGER IF EXISTS trg_workflow_executions_delete_log ON workflow_executions;
DROP FUNCTION IF EXISTS optiinfra_delete_execution_log();
DROP TRIGGER IF EXISTS trg_workflow_executions_history_from ON workflow_executions;
DROP FUNCTION IF EXISTS optiinfra_fill_history_from();

-- The old names come back (the parent holding them was dropped above).
-- squawk-ignore renaming-table
ALTER TABLE workflow_transitions_first RENAME TO workflow_transitions;
-- squawk-ignore renaming-object
ALTER INDEX workflow_transitions_first_execution_idx RENAME TO ix_workflow_transitions_execution;
-- squawk-ignore renaming-object
ALTER INDEX workflow_transitions_first_step_failures_idx RENAME TO ix_workflow_transitions_step_failures;
-- squawk-ignore renaming-object
ALTER INDEX workflow_transitions_first_writer_idx RENAME TO ix_workflow_transitions_writer;
ALTER TABLE workflow_transitions DROP CONSTRAINT workflow_transitions_first_pkey;
-- squawk-ignore require-concurrent-index-creation
CREATE UNIQUE INDEX ux_workflow_transitions_id_at ON workflow_transitions (id, at);
-- Built under the rollback's lock (said above).
-- squawk-ignore constraint-missing-not-valid, adding-serial-primary-key-field
ALTER TABLE workflow_transitions ADD CONSTRAINT pk_workflow_transitions PRIMARY KEY (id);
-- squawk-ignore ban-alter-identity
ALTER TABLE workflow_transitions ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY;
DO $$
BEGIN
    PERFORM setval('workflow_transitions_id_seq',
                   coalesce((SELECT max(id) FROM workflow_transitions), 1), true);
END
$$;
-- The foreign keys back, checked under the rollback's lock (a scan).
ALTER TABLE workflow_transitions
    -- squawk-ignore constraint-missing-not-valid, adding-foreign-key-constraint
    ADD CONSTRAINT fk_workflow_transitions_execution FOREIGN KEY (workflow_execution_id)
        REFERENCES workflow_executions (id) ON DELETE CASCADE;
ALTER TABLE workflow_transitions
    -- squawk-ignore constraint-missing-not-valid, adding-foreign-key-constraint
    ADD CONSTRAINT fk_workflow_transitions_execution_customer FOREIGN KEY (workflow_execution_id, customer_id)
        REFERENCES workflow_executions (id, customer_id) ON DELETE CASCADE;
CREATE TRIGGER trg_workflow_transitions_fill_customer BEFORE INSERT ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_customer_from_execution();
COMMENT ON TABLE workflow_transitions IS 'Every status change of a workflow execution or step, written by triggers.';
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'optiinfra_app') THEN
        GRANT SELECT, INSERT ON workflow_transitions TO optiinfra_app;
        GRANT SELECT ON workflow_transitions TO optiinfra_readonly;
    END IF;
END
$$;
