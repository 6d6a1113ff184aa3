-- Scheduling (issue: delayed runs, retry with backoff, priorities,
-- per-customer limits, idempotent enqueue, re-run).
--
-- * workflow_executions.run_after: not claimable before it (NULL: as soon
--   as created). A requeue sets it to now + its delay, a re-run to now.
-- * workflow_executions.priority: higher is claimed first (smallint).
-- * workflow_executions.idempotency_key: at most one run per customer and
--   key while the run is in the database (the unique index is 0023's,
--   built concurrently); 1-255 characters, no control characters.
-- * workflow_executions.attempt_budget: the claims one round of attempts
--   allows (NULL: max_attempts, as created). rerun() gives a finished run a
--   fresh round: max_attempts = attempt + its budget.
-- * optiinfra_backoff(attempt): the default delay of a requeue and of a
--   reaped run, min(1 h, 2 s x 2^(attempt - 1)) with +/-20 % jitter; one
--   definition for both statements.
--
-- Locks: ADD COLUMN without a default, or with a constant one (priority,
-- PostgreSQL 11+), changes the catalog only, no rewrite, under brief ACCESS
-- EXCLUSIVE locks bounded by lock_timeout. The CHECKs are added NOT VALID
-- (no scan under that lock); 0023 validates them under SHARE UPDATE
-- EXCLUSIVE (reads and writes go on).
--
-- depends: 0021.first-start-backfill

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS run_after timestamptz;
COMMENT ON COLUMN workflow_executions.run_after IS 'Not claimable before this time (NULL: from its creation); a requeue sets it to now + the delay (default optiinfra_backoff), a re-run to now.';

-- smallint: the contract's range (-32768..32767), what a priority needs.
-- squawk-ignore prefer-bigint-over-smallint
ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS priority smallint NOT NULL DEFAULT 0;
COMMENT ON COLUMN workflow_executions.priority IS 'Claim order: higher first, then by when the run became claimable (run_after, else created_at), oldest first.';

-- text with a CHECK on its length (1-255), not varchar(255): a limit changed
-- later is a CHECK swapped NOT VALID, not a rewrite under an exclusive lock.
ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS idempotency_key text;
COMMENT ON COLUMN workflow_executions.idempotency_key IS 'The caller''s key for this enqueue: unique per customer while the run exists (ux_workflow_executions_idempotency); a create with a used key returns that run.';

-- integer like max_attempts beside it.
-- squawk-ignore prefer-bigint-over-int
ALTER TABLE workflow_executions ADD COLUMN IF NOT EXISTS attempt_budget integer;
COMMENT ON COLUMN workflow_executions.attempt_budget IS 'Claims one round of attempts allows (NULL: max_attempts as created); a re-run sets max_attempts to attempt + this.';

ALTER TABLE workflow_executions ADD CONSTRAINT ck_workflow_executions_idempotency_key
    CHECK (idempotency_key IS NULL
           OR (length(idempotency_key) BETWEEN 1 AND 255 AND idempotency_key !~ '[\x01-\x1f\x7f-\x9f]')) NOT VALID;
ALTER TABLE workflow_executions ADD CONSTRAINT ck_workflow_executions_attempt_budget_positive
    CHECK (attempt_budget IS NULL OR attempt_budget >= 1) NOT VALID;

CREATE OR REPLACE FUNCTION optiinfra_backoff(attempt integer) RETURNS interval
    LANGUAGE sql VOLATILE PARALLEL SAFE AS $$
    SELECT least(interval '1 hour',
                 interval '2 seconds' * power(2, least(greatest(attempt, 1) - 1, 12)))
           * (0.8 + 0.4 * random())
$$;
COMMENT ON FUNCTION optiinfra_backoff(integer) IS 'The default delay before a requeued run is claimable again: min(1 h, 2 s x 2^(attempt - 1)) with +/-20 % jitter (attempt: the attempt that just ended).';
