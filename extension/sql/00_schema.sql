-- ===================================================================
-- 00 Schema and roles
-- ===================================================================
-- The schema "sealpg" is created by CREATE EXTENSION (control file).
-- Roles are cluster-wide: they are created once and kept when the
-- extension is dropped, so later installs find them in place.

DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['sealpg_admin', 'sealpg_operator', 'sealpg_auditor', 'sealpg_agent'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- Everyone may look up names in the schema; each object grants its own use.
GRANT USAGE ON SCHEMA sealpg TO PUBLIC;
