-- Undo 0018: no authentication function (services look keys up with a
-- session that sees every customer).

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

DROP FUNCTION IF EXISTS optiinfra_authenticate(text);
