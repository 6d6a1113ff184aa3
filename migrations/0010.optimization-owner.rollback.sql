-- Rollback of 0010.optimization-owner: drops the foreign key, then its
-- unique key (concurrently). The no-op SELECTs stand opposite the VALIDATE and
-- the drop of an invalid leftover, so that yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
SELECT 'fk_optimizations_recommendation_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE optimizations DROP CONSTRAINT IF EXISTS fk_optimizations_recommendation_customer;
DROP INDEX CONCURRENTLY IF EXISTS uq_recommendations_id_customer;
SELECT 'uq_recommendations_id_customer: its leftover drop has nothing to undo' AS nothing_to_undo;
RESET statement_timeout;
RESET lock_timeout;
