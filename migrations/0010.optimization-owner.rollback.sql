-- Rollback of 0010.optimization-owner: drops the foreign key, then its
-- unique key (concurrently). The no-op SELECT stands opposite the VALIDATE so
-- that yoyo pairs the other statements right.
-- transactional: false

SET lock_timeout = '2s';
SET statement_timeout = '30min';
SELECT 'fk_optimizations_recommendation_customer: nothing to undo for its VALIDATE' AS nothing_to_undo;
ALTER TABLE optimizations DROP CONSTRAINT IF EXISTS fk_optimizations_recommendation_customer;
DROP INDEX CONCURRENTLY IF EXISTS uq_recommendations_id_customer;
RESET statement_timeout;
RESET lock_timeout;
