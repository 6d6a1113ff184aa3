-- An optimization belongs to the customer of the recommendation it carries
-- out: (recommendation_id, customer_id) must be a recommendation's (id,
-- customer_id). Before, customer_id was checked only against customers, so
-- an optimization of customer A could hang off B's recommendation and show
-- up in B's list (the first step of tenant isolation, issue #11).
--
-- For a live database, in three short steps, each its own transaction:
-- * uq_recommendations_id_customer, built CONCURRENTLY (no write lock) after
--   dropping an invalid one an interrupted run left behind: the
--   unique key the foreign key references (id alone is already unique, so it
--   can never fail);
-- * the foreign key added NOT VALID (a brief SHARE ROW EXCLUSIVE lock on
--   both tables; new and updated rows are checked from then on);
-- * VALIDATE, which scans optimizations holding only SHARE UPDATE EXCLUSIVE
--   (reads and writes go on). If rows that break the rule exist, it fails
--   naming one; fix them (their customer_id should be the recommendation's)
--   and apply again: the first two steps are then no-ops or skipped.
--
-- depends: 0009.operator-indexes
-- transactional: false
--
-- Statements mirror the rollback file's, in reverse, so yoyo can pair them
-- to undo a partial run.

SET lock_timeout = '2s';
SET statement_timeout = '30min';
-- A build interrupted by the lock_timeout leaves an INVALID index behind,
-- which IF NOT EXISTS would keep and the foreign key could not use: drop
-- it first (a no-op on a first run; the foreign key never exists here, as
-- yoyo undoes the steps of a failed run).
DROP INDEX CONCURRENTLY IF EXISTS uq_recommendations_id_customer;
CREATE UNIQUE INDEX CONCURRENTLY IF NOT EXISTS uq_recommendations_id_customer
    ON recommendations (id, customer_id);
ALTER TABLE optimizations
    ADD CONSTRAINT fk_optimizations_recommendation_customer
    FOREIGN KEY (recommendation_id, customer_id)
    REFERENCES recommendations (id, customer_id) ON DELETE CASCADE
    NOT VALID;
ALTER TABLE optimizations VALIDATE CONSTRAINT fk_optimizations_recommendation_customer;
RESET statement_timeout;
RESET lock_timeout;
