-- upgrades: the oldest release, upgraded with ALTER EXTENSION ... UPDATE,
-- must have exactly the objects (and definitions, privileges, comments)
-- of a fresh install of the current version
SET client_min_messages = warning;
DROP EXTENSION IF EXISTS sealpg CASCADE;
RESET client_min_messages;

-- shape(): one line per extension object with what defines it (its body
-- names tables of the extension, which does not exist at this point)
SET check_function_bodies = off;
CREATE FUNCTION public.sealpg_shape() RETURNS SETOF text LANGUAGE sql AS $$
	WITH members AS (
		SELECT d.classid, d.objid, d.objsubid
		  FROM pg_depend d JOIN pg_extension e ON e.oid = d.refobjid
		 WHERE d.refclassid = 'pg_extension'::regclass AND e.extname = 'sealpg' AND d.deptype = 'e'
	)
	-- every member object with its comment
	SELECT 'object ' || pg_describe_object(classid, objid, objsubid)
		   || ' comment=' || coalesce(obj_description(objid, (SELECT relname FROM pg_class WHERE oid = classid)), '-')
	  FROM members
	UNION ALL
	-- functions: body, settings, security, volatility, privileges
	SELECT 'function ' || p.oid::regprocedure || ' ' || md5(coalesce(p.prosrc, '')) || ' ' || p.prosecdef
		   || ' ' || p.provolatile::text || ' ' || coalesce(array_to_string(p.proconfig, ','), '-')
		   || ' ' || pg_get_function_result(p.oid) || ' ' || coalesce(p.proacl::text, '-')
		   || ' ' || pg_get_function_arguments(p.oid)
	  FROM pg_proc p JOIN members m ON m.classid = 'pg_proc'::regclass AND m.objid = p.oid
	UNION ALL
	-- columns of tables and types, in order
	SELECT 'column ' || c.oid::regclass || '.' || a.attnum || ' ' || a.attname || ' '
		   || format_type(a.atttypid, a.atttypmod) || ' ' || a.attnotnull || ' '
		   || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '-')
		   || ' comment=' || coalesce(col_description(c.oid, a.attnum), '-')
	  FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
	  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
	  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
	UNION ALL
	-- relation privileges and row-level security
	SELECT 'relation ' || c.oid::regclass || ' ' || c.relkind::text || ' acl=' || coalesce(c.relacl::text, '-')
		   || ' rls=' || c.relrowsecurity
	  FROM pg_class c JOIN members m ON m.classid = 'pg_class'::regclass AND m.objid = c.oid
	UNION ALL
	-- constraints, indexes, triggers, policies of the extension's tables
	SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
	  FROM pg_constraint WHERE conrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
	UNION ALL
	SELECT 'index ' || pg_get_indexdef(indexrelid)
	  FROM pg_index WHERE indrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
	UNION ALL
	SELECT 'trigger ' || pg_get_triggerdef(oid)
	  FROM pg_trigger WHERE NOT tgisinternal
	   AND tgrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
	UNION ALL
	SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || coalesce(pg_get_expr(polqual, polrelid), '-')
		   || ' ' || coalesce(pg_get_expr(polwithcheck, polrelid), '-')
	  FROM pg_policy WHERE polrelid IN (SELECT objid FROM members WHERE classid = 'pg_class'::regclass)
	UNION ALL
	-- rows the install script puts in configuration tables
	SELECT 'job ' || job_name || ' ' || schedule || ' ' || command FROM sealpg.jobs
	UNION ALL
	SELECT 'schema acl ' || coalesce(nspacl::text, '-') FROM pg_namespace WHERE nspname = 'sealpg'
$$;

CREATE EXTENSION sealpg VERSION '0.1.0';
SELECT extversion AS installed FROM pg_extension WHERE extname = 'sealpg';
ALTER EXTENSION sealpg UPDATE;
SELECT extversion = (SELECT default_version FROM pg_available_extensions WHERE name = 'sealpg') AS at_current_version
  FROM pg_extension WHERE extname = 'sealpg';
CREATE TEMP TABLE upgraded AS SELECT public.sealpg_shape() AS line;

DROP EXTENSION sealpg CASCADE;
CREATE EXTENSION sealpg;
CREATE TEMP TABLE fresh AS SELECT public.sealpg_shape() AS line;

SELECT count(*) > 100 AS shape_is_substantial FROM fresh;
-- what only one of the two has (must be nothing)
(SELECT 'only after upgrade: ' || line FROM upgraded EXCEPT ALL SELECT 'only after upgrade: ' || line FROM fresh)
UNION ALL
(SELECT 'only in fresh install: ' || line FROM fresh EXCEPT ALL SELECT 'only in fresh install: ' || line FROM upgraded)
ORDER BY 1;

DROP FUNCTION public.sealpg_shape();
