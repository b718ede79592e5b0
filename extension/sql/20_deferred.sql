-- ===================================================================
-- 20 Deferred writes: calls that outlive the caller's rollback
-- ===================================================================

CREATE FUNCTION sealpg.defer(function text, payload jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'sealpg_defer_sql'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.defer(text, jsonb) IS
	'queues function(payload) (a sealpg.* function) to run in the deferred writer''s own transaction, whatever becomes of the caller''s';
-- The writer runs as a superuser: only superusers may queue calls.
REVOKE ALL ON FUNCTION sealpg.defer(text, jsonb) FROM PUBLIC;

CREATE FUNCTION sealpg.deferred_stats(OUT queued bigint, OUT done bigint, OUT failed bigint)
	AS 'MODULE_PATHNAME', 'sealpg_deferred_stats'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.deferred_stats() IS
	'deferred calls waiting, committed and failed (failures are in the server log) since the server started';
REVOKE ALL ON FUNCTION sealpg.deferred_stats() FROM PUBLIC;	-- server-wide figures
GRANT EXECUTE ON FUNCTION sealpg.deferred_stats() TO sealpg_admin, sealpg_auditor;
