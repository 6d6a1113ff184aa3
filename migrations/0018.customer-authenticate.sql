-- Let a service on optiinfra_app log its callers in (issue: the record tells
-- the truth).
--
-- A service that acts for one customer at a time runs on optiinfra_app, where
-- row-level security shows no customer until one is set: it could not find
-- the customer an API key belongs to, and kept a second, privileged pool for
-- that alone. optiinfra_authenticate(key_hash) returns the one customer whose
-- key has that HMAC, whatever the session's scope: SECURITY DEFINER, owned by
-- optiinfra_owner (which row-level security does not apply to), with its
-- search_path pinned to this schema so nothing a session creates can stand
-- in for the table. It answers only for a key's own holder: it cannot list
-- customers, and a key that matches nothing reads like a malformed one (the
-- library maps both to None). Execute is granted to the library's roles
-- only.
--
-- Locks: none on any table (a new function).
--
-- depends: 0017.transition-writer-index

SET LOCAL lock_timeout = '2s';
SET LOCAL statement_timeout = '1min';

DO $$
BEGIN
    EXECUTE format($f$
        CREATE OR REPLACE FUNCTION optiinfra_authenticate(key_hash text)
            RETURNS SETOF customers
            LANGUAGE sql STABLE SECURITY DEFINER
            SET search_path = %I, pg_temp
        AS $body$
            SELECT c.* FROM customers AS c WHERE c.api_key_hash = key_hash
        $body$
    $f$, current_schema());
END
$$;

COMMENT ON FUNCTION optiinfra_authenticate(text) IS 'The customer whose API key has this HMAC, whatever the session''s customer scope (SECURITY DEFINER): how a service on optiinfra_app logs its callers in.';
REVOKE ALL ON FUNCTION optiinfra_authenticate(text) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION optiinfra_authenticate(text) TO optiinfra_app, optiinfra_readonly;

-- Owned by optiinfra_owner where the runner may hand it over (as 0013 does
-- for every object); otherwise it keeps the runner, who then owns the tables.
DO $$
BEGIN
    IF pg_catalog.pg_has_role(current_user, 'optiinfra_owner', 'MEMBER') THEN
        ALTER FUNCTION optiinfra_authenticate(text) OWNER TO optiinfra_owner;
    END IF;
END
$$;
