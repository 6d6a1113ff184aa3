-- The transition log becomes a table partitioned by range on "at", a week
-- per partition (issue: history that scales). Retention then drops whole
-- old weeks instead of deleting row by row (optiinfra_db/aio/retention.py).
--
-- The move, in this one short transaction (catalog changes only: no row is
-- read or written, no index is built):
-- 1. Locks, strongest first and in the order writers take them
--    (workflow_executions, then the log): a claim holds its execution's row
--    and then writes the log, so taking the log first could deadlock with
--    it. Writers wait (lock_timeout 2 s bounds the wait of this migration).
-- 2. The old table is renamed workflow_transitions_first (its indexes and
--    sequence too); 0025's UNIQUE (id, at) becomes its primary key; its
--    fill-customer trigger goes (the parent's is cloned onto it when it is
--    attached) and its foreign keys (the parent's triggers replace them);
--    its identity ends after the parent's sequence takes over where the
--    old one stood.
-- 3. The partitioned parent takes the old name, columns, defaults, comments,
--    keys (primary key (id, at): a partitioned table's unique keys hold its
--    partition key), CHECK, triggers, row-level security policy and grants;
--    its two foreign keys to workflow_executions become triggers (below).
-- 4. workflow_transitions_first is attached FROM (MINVALUE) TO (B), B the
--    bound of 0025's validated CHECK: PostgreSQL skips the scan because the
--    CHECK proves the range; its indexes are the ones the parent wants, so
--    they are adopted, not built. The CHECK is dropped.
-- 5. optiinfra_ensure_transition_partitions() makes the DEFAULT partition
--    and the weeks from this one to four ahead.
--
-- No write fails for lack of a partition: the DEFAULT partition takes any
-- row no other partition's range holds (a week not made yet, a gap a DBA
-- left), and ensure moves such rows into the week it makes for them.
-- Partitions have no grants and row-level security on: services read and
-- write through the parent, where the customer policy applies.
--
-- depends: 0025.transition-partition-prep

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

LOCK TABLE workflow_executions IN ACCESS EXCLUSIVE MODE;
LOCK TABLE workflow_transitions IN ACCESS EXCLUSIVE MODE;

-- 2. The old table, renamed. No client breaks: the parent below takes the
-- old names (table, indexes, sequence) in this same transaction.
-- squawk-ignore renaming-table
ALTER TABLE workflow_transitions RENAME TO workflow_transitions_first;
-- squawk-ignore renaming-object
ALTER INDEX ix_workflow_transitions_execution RENAME TO workflow_transitions_first_execution_idx;
-- squawk-ignore renaming-object
ALTER INDEX ix_workflow_transitions_step_failures RENAME TO workflow_transitions_first_step_failures_idx;
-- squawk-ignore renaming-object
ALTER INDEX ix_workflow_transitions_writer RENAME TO workflow_transitions_first_writer_idx;
-- squawk-ignore renaming-object
ALTER SEQUENCE workflow_transitions_id_seq RENAME TO workflow_transitions_first_id_seq;
-- The key is replaced at once by UNIQUE (id, at), which (id) unique implies.
-- squawk-ignore ban-drop-constraint
ALTER TABLE workflow_transitions_first DROP CONSTRAINT pk_workflow_transitions;
-- The (id, at) index built CONCURRENTLY by 0025 becomes the key: no build, no scan.
ALTER TABLE workflow_transitions_first
    ADD CONSTRAINT workflow_transitions_first_pkey PRIMARY KEY USING INDEX ux_workflow_transitions_id_at;
DROP TRIGGER trg_workflow_transitions_fill_customer ON workflow_transitions_first;
-- Its foreign keys become the parent's triggers (below): a catalog change.
-- squawk-ignore ban-drop-constraint
ALTER TABLE workflow_transitions_first DROP CONSTRAINT fk_workflow_transitions_execution;
-- squawk-ignore ban-drop-constraint
ALTER TABLE workflow_transitions_first DROP CONSTRAINT fk_workflow_transitions_execution_customer;

-- 3. The partitioned parent.
CREATE TABLE workflow_transitions (
    LIKE workflow_transitions_first INCLUDING DEFAULTS INCLUDING IDENTITY INCLUDING COMMENTS
) PARTITION BY RANGE (at);
COMMENT ON TABLE workflow_transitions IS 'Every status change of a workflow execution or step, written by triggers. Partitioned by range on "at", a week per partition (optiinfra_transition_partitions()); a DEFAULT partition takes what no week holds.';
DO $$
BEGIN
    PERFORM setval('workflow_transitions_id_seq',
                   greatest(s.last_value, coalesce((SELECT max(t.id) FROM workflow_transitions_first AS t), 1)),
                   true)
    FROM workflow_transitions_first_id_seq AS s;
END
$$;
-- Inserts go through the parent, whose identity continues the sequence.
-- squawk-ignore ban-alter-identity
ALTER TABLE workflow_transitions_first ALTER COLUMN id DROP IDENTITY;
-- An empty partitioned table: nothing to scan or build (the partitions'
-- keys are adopted when they are attached).
-- squawk-ignore constraint-missing-not-valid, adding-serial-primary-key-field
ALTER TABLE workflow_transitions ADD CONSTRAINT pk_workflow_transitions PRIMARY KEY (id, at);
-- An empty partitioned table: its indexes are built on nothing (the
-- partitions' equivalent indexes are adopted when they are attached).
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX ix_workflow_transitions_execution ON workflow_transitions (workflow_execution_id, id);
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX ix_workflow_transitions_step_failures ON workflow_transitions (at)
    WHERE to_status = 'failed' AND workflow_step_id IS NOT NULL;
-- squawk-ignore require-concurrent-index-creation
CREATE INDEX ix_workflow_transitions_writer ON workflow_transitions (writer_xid);
ALTER TABLE workflow_transitions
    -- squawk-ignore constraint-missing-not-valid
    ADD CONSTRAINT ck_workflow_transitions_customer_present CHECK (customer_id IS NOT NULL);

-- The log's two foreign keys to workflow_executions become triggers. A
-- foreign key from a partitioned table is checked and cascaded per row
-- against the parent: every deleted execution probed every partition's
-- index twice (two keys), which made a purge batch of 1,000 runs 4x slower
-- with a year of weekly partitions. The triggers keep what the keys kept:
-- * on insert (BEFORE, per row): the execution exists and is the row's
--   customer's (customer_id filled from it when NULL), read FOR KEY SHARE as
--   the key's check does (a concurrent delete of the execution waits);
--   refused with foreign_key_violation, naming the keys it replaces;
-- * on delete of executions (AFTER, per statement): their log goes, in one
--   join against the deleted rows, each run's log read from its
--   history_from on (the partitions before it are never read).
CREATE FUNCTION optiinfra_check_transition_execution() RETURNS trigger
    LANGUAGE plpgsql AS $$
DECLARE
    owner uuid;
BEGIN
    SELECT e.customer_id INTO owner
    FROM workflow_executions AS e WHERE e.id = NEW.workflow_execution_id
    FOR KEY SHARE;
    IF NOT FOUND OR owner IS DISTINCT FROM coalesce(NEW.customer_id, owner) THEN
        RAISE EXCEPTION 'insert or update on table "workflow_transitions" violates foreign key constraint "%"',
                CASE WHEN FOUND THEN 'fk_workflow_transitions_execution_customer'
                     ELSE 'fk_workflow_transitions_execution' END
            USING ERRCODE = 'foreign_key_violation',
                  TABLE = 'workflow_transitions',
                  CONSTRAINT = CASE WHEN FOUND THEN 'fk_workflow_transitions_execution_customer'
                                    ELSE 'fk_workflow_transitions_execution' END,
                  DETAIL = format('Key (workflow_execution_id)=(%s) is not present in table "workflow_executions".',
                                  NEW.workflow_execution_id);
    END IF;
    NEW.customer_id := owner;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_check_transition_execution() IS 'BEFORE INSERT on workflow_transitions: the execution exists (read FOR KEY SHARE) and is the row''s customer''s; fills customer_id. Replaces the foreign keys fk_workflow_transitions_execution(_customer) (migration 0026).';
CREATE TRIGGER trg_workflow_transitions_fill_customer BEFORE INSERT ON workflow_transitions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_check_transition_execution();
-- The deleted rows (a transition table) have no statistics: planned freely,
-- the join hashed the whole log (a customer's 1,000 runs: 350-450 ms); as
-- index probes from each deleted run, its log from its history_from on:
-- 70-110 ms (hash and merge joins off for this function only).
CREATE FUNCTION optiinfra_delete_execution_log() RETURNS trigger
    LANGUAGE plpgsql SECURITY DEFINER SET search_path FROM CURRENT
    SET enable_hashjoin = off SET enable_mergejoin = off AS $$
BEGIN
    -- purge deletes (and counts) the log itself in the same statement, and
    -- says so: its runs' log is not looked for a second time.
    IF current_setting('optiinfra.log_deleted', true) = 'on' THEN
        RETURN NULL;
    END IF;
    DELETE FROM workflow_transitions AS t
    USING old_rows AS o
    WHERE t.workflow_execution_id = o.id
      AND t.at >= coalesce(o.history_from, '-infinity');
    RETURN NULL;
END
$$;
COMMENT ON FUNCTION optiinfra_delete_execution_log() IS 'AFTER DELETE on workflow_executions (per statement): deletes the deleted runs'' transitions (the ON DELETE CASCADE of the keys it replaces; security definer: services may not delete from the log themselves). Skipped when the transaction set optiinfra.log_deleted = on (purge, which deletes the log itself).';
CREATE TRIGGER trg_workflow_executions_delete_log AFTER DELETE ON workflow_executions
    REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION optiinfra_delete_execution_log();

-- history_from (0025): set when an execution is inserted, lowered when a
-- move earlier than it is logged (only a move dated before the writing
-- transaction began can be: the library's own moves are dated from
-- clock_timestamp(), so the WHEN clause keeps them from calling anything).
CREATE FUNCTION optiinfra_fill_history_from() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    NEW.history_from := least(NEW.history_from, NEW.created_at, NEW.started_at,
                              NEW.completed_at, now());
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_fill_history_from() IS 'BEFORE INSERT on workflow_executions: history_from, the earliest time its log can hold (its own times, or now).';
CREATE TRIGGER trg_workflow_executions_history_from BEFORE INSERT ON workflow_executions
    FOR EACH ROW EXECUTE FUNCTION optiinfra_fill_history_from();
CREATE FUNCTION optiinfra_lower_history_from() RETURNS trigger
    LANGUAGE plpgsql AS $$
BEGIN
    UPDATE workflow_executions SET history_from = NEW.at
    WHERE id = NEW.workflow_execution_id AND history_from > NEW.at;
    RETURN NEW;
END
$$;
COMMENT ON FUNCTION optiinfra_lower_history_from() IS 'BEFORE INSERT on workflow_transitions, for a move dated before its transaction began: lowers its execution''s history_from to it.';
CREATE TRIGGER trg_workflow_transitions_history_from BEFORE INSERT ON workflow_transitions
    FOR EACH ROW WHEN (NEW.at < now()) EXECUTE FUNCTION optiinfra_lower_history_from();

ALTER TABLE workflow_transitions ENABLE ROW LEVEL SECURITY;
CREATE POLICY customer_isolation ON workflow_transitions
    USING (customer_id = optiinfra_customer_id())
    WITH CHECK (customer_id = optiinfra_customer_id());
DO $$
DECLARE
    old_owner regrole := (SELECT relowner::regrole FROM pg_class
                          WHERE oid = 'workflow_transitions_first'::regclass);
BEGIN
    EXECUTE format('ALTER TABLE workflow_transitions OWNER TO %s', old_owner);
    EXECUTE format('ALTER FUNCTION optiinfra_fill_history_from() OWNER TO %s', old_owner);
    EXECUTE format('ALTER FUNCTION optiinfra_check_transition_execution() OWNER TO %s', old_owner);
    EXECUTE format('ALTER FUNCTION optiinfra_delete_execution_log() OWNER TO %s', old_owner);
    EXECUTE format('ALTER FUNCTION optiinfra_lower_history_from() OWNER TO %s', old_owner);
END
$$;
REVOKE ALL ON workflow_transitions FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'optiinfra_app') THEN
        REVOKE ALL ON workflow_transitions FROM optiinfra_app, optiinfra_readonly;
        GRANT SELECT, INSERT ON workflow_transitions TO optiinfra_app;
        GRANT SELECT ON workflow_transitions TO optiinfra_readonly;
        REVOKE ALL ON workflow_transitions_first FROM optiinfra_app, optiinfra_readonly;
    END IF;
END
$$;
REVOKE ALL ON workflow_transitions_first FROM PUBLIC;

-- 4. The old table becomes the first partition (no scan: 0025's CHECK).
DO $$
DECLARE
    bound text := (SELECT substring(pg_get_constraintdef(c.oid) FROM '''([^'']+)''')
                   FROM pg_constraint AS c
                   WHERE c.conrelid = 'workflow_transitions_first'::regclass
                     AND c.conname = 'ck_workflow_transitions_first_partition');
BEGIN
    EXECUTE format('ALTER TABLE workflow_transitions ATTACH PARTITION workflow_transitions_first '
                   'FOR VALUES FROM (MINVALUE) TO (%L)', bound);
END
$$;
-- Its work is done: the partition bound now says the same.
-- squawk-ignore ban-drop-constraint
ALTER TABLE workflow_transitions_first DROP CONSTRAINT ck_workflow_transitions_first_partition;

-- 5. The partitions from the catalog, and the weeks ahead.
CREATE FUNCTION optiinfra_transition_partitions()
    RETURNS TABLE (partition_name text, range_from timestamptz, range_to timestamptz,
                   is_default boolean, rows_estimate bigint, total_bytes bigint,
                   detach_pending boolean)
    LANGUAGE sql STABLE AS $$
    SELECT c.relname::text,
           CASE WHEN m.b IS NULL THEN NULL
                WHEN m.b[1] = 'MINVALUE' THEN timestamptz '-infinity'
                ELSE btrim(m.b[1], '''')::timestamptz END,
           CASE WHEN m.b IS NULL THEN NULL
                WHEN m.b[2] = 'MAXVALUE' THEN timestamptz 'infinity'
                ELSE btrim(m.b[2], '''')::timestamptz END,
           pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT',
           CASE WHEN c.reltuples >= 0 THEN c.reltuples::bigint END,
           pg_total_relation_size(c.oid),
           i.inhdetachpending
    FROM pg_inherits AS i
    JOIN pg_class AS c ON c.oid = i.inhrelid
    CROSS JOIN LATERAL (
        SELECT regexp_match(pg_get_expr(c.relpartbound, c.oid),
                            '^FOR VALUES FROM \((.+)\) TO \((.+)\)$') AS b
    ) AS m
    WHERE i.inhparent = 'workflow_transitions'::regclass
$$;
COMMENT ON FUNCTION optiinfra_transition_partitions() IS 'The transition log''s partitions, read from the catalog (whoever made them): range [range_from, range_to) (NULLs for the DEFAULT partition; -infinity/infinity for MINVALUE/MAXVALUE), the planner''s row estimate (NULL: never analyzed) the size with indexes, and whether a DETACH CONCURRENTLY of it was interrupted (finish it with DETACH PARTITION ... FINALIZE).';

CREATE FUNCTION optiinfra_ensure_transition_partitions(
    ahead integer DEFAULT 4,
    width interval DEFAULT interval '7 days',
    around timestamptz DEFAULT now()
) RETURNS SETOF text
    LANGUAGE plpgsql AS $$
DECLARE
    origin constant timestamptz := timestamptz '2000-01-03 00:00:00+00';  -- a Monday
    first_slot timestamptz;
    slot timestamptz;
    piece tstzrange;
    taken tstzmultirange;
    pname text;
    owner_role regrole;
    default_part regclass;
BEGIN
    IF ahead IS NULL OR ahead < 0 OR ahead > 520 THEN
        RAISE EXCEPTION 'ahead must be between 0 and 520, not %', ahead USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF width IS NULL OR width < interval '1 hour' OR width > interval '366 days' THEN
        RAISE EXCEPTION 'width must be between 1 hour and 366 days, not %', width USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- One ensure at a time; a DDL lock waited for at most 2 s (the caller retries).
    PERFORM pg_advisory_xact_lock(hashtext('optiinfra_ensure_transition_partitions'));
    PERFORM set_config('lock_timeout', '2s', true);
    owner_role := (SELECT relowner::regrole FROM pg_class WHERE oid = 'workflow_transitions'::regclass);
    default_part := (SELECT to_regclass(quote_ident(p.partition_name))
                     FROM optiinfra_transition_partitions() AS p WHERE p.is_default);
    IF default_part IS NULL THEN
        CREATE TABLE workflow_transitions_default PARTITION OF workflow_transitions DEFAULT;
        EXECUTE format('ALTER TABLE workflow_transitions_default OWNER TO %s', owner_role);
        ALTER TABLE workflow_transitions_default ENABLE ROW LEVEL SECURITY;
        REVOKE ALL ON workflow_transitions_default FROM PUBLIC;
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'optiinfra_app') THEN
            REVOKE ALL ON workflow_transitions_default FROM optiinfra_app, optiinfra_readonly;
        END IF;
        default_part := 'workflow_transitions_default'::regclass;
        RETURN NEXT 'workflow_transitions_default';
    END IF;
    first_slot := date_bin(width, around, origin);
    FOR slot IN SELECT generate_series(first_slot, first_slot + width * ahead, width) LOOP
        taken := coalesce((SELECT range_agg(tstzrange(p.range_from, p.range_to))
                           FROM optiinfra_transition_partitions() AS p WHERE NOT p.is_default),
                          '{}'::tstzmultirange);
        FOR piece IN SELECT unnest(tstzmultirange(tstzrange(slot, slot + width)) - taken) LOOP
            pname := 'workflow_transitions_' || to_char(lower(piece) AT TIME ZONE 'UTC', 'YYYYMMDD')
                     || CASE WHEN (lower(piece) AT TIME ZONE 'UTC')::time = time '00:00'
                             THEN '' ELSE to_char(lower(piece) AT TIME ZONE 'UTC', '"_"HH24MISS') END;
            -- A standalone table first: it gets the rows of its range that the
            -- DEFAULT partition holds, and a CHECK proving its range, so the
            -- ATTACH neither scans it nor finds those rows in the DEFAULT.
            EXECUTE format('CREATE TABLE %I (LIKE workflow_transitions INCLUDING DEFAULTS INCLUDING CONSTRAINTS)', pname);
            EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK (at >= %L::timestamptz AND at < %L::timestamptz)',
                           pname, pname || '_range', lower(piece), upper(piece));
            EXECUTE format('WITH moved AS (DELETE FROM %s WHERE at >= $1 AND at < $2 RETURNING *) '
                           'INSERT INTO %I SELECT * FROM moved', default_part, pname)
                USING lower(piece), upper(piece);
            EXECUTE format('ALTER TABLE workflow_transitions ATTACH PARTITION %I FOR VALUES FROM (%L) TO (%L)',
                           pname, lower(piece), upper(piece));
            EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', pname, pname || '_range');
            EXECUTE format('ALTER TABLE %I OWNER TO %s', pname, owner_role);
            EXECUTE format('ALTER TABLE %I ENABLE ROW LEVEL SECURITY', pname);
            EXECUTE format('REVOKE ALL ON %I FROM PUBLIC', pname);
            IF EXISTS (SELECT FROM pg_roles WHERE rolname = 'optiinfra_app') THEN
                EXECUTE format('REVOKE ALL ON %I FROM optiinfra_app, optiinfra_readonly', pname);
            END IF;
            RETURN NEXT pname;
        END LOOP;
    END LOOP;
END
$$;
COMMENT ON FUNCTION optiinfra_ensure_transition_partitions(integer, interval, timestamptz) IS 'Makes the transition log''s DEFAULT partition if missing and a partition for every free part of the slots (width wide, aligned on Mondays 00:00 UTC) from the one holding "around" to "ahead" slots after it, moving the rows the DEFAULT holds for them; returns the names made. Existing partitions (whoever made them) are built around.';
DO $$
DECLARE
    old_owner regrole := (SELECT relowner::regrole FROM pg_class
                          WHERE oid = 'workflow_transitions'::regclass);
BEGIN
    EXECUTE format('ALTER FUNCTION optiinfra_transition_partitions() OWNER TO %s', old_owner);
    EXECUTE format('ALTER FUNCTION optiinfra_ensure_transition_partitions(integer, interval, timestamptz) OWNER TO %s', old_owner);
    PERFORM optiinfra_ensure_transition_partitions();
END
$$;
