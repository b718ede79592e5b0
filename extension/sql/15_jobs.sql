-- ===================================================================
-- 15 Scheduled jobs (pg_cron)
-- ===================================================================
-- Each part of sealpg lists the jobs it needs here; schedule_jobs()
-- hands them to pg_cron when pg_cron is installed in this database.

CREATE TABLE sealpg.jobs (
	job_name	text PRIMARY KEY CHECK (job_name ~ '^sealpg-[a-z0-9-]+$'),
	schedule	text NOT NULL,
	command		text NOT NULL
);
COMMENT ON TABLE sealpg.jobs IS 'the periodic jobs sealpg needs; sealpg.schedule_jobs() gives them to pg_cron';
REVOKE ALL ON sealpg.jobs FROM PUBLIC;	-- commands run as the scheduling superuser
GRANT SELECT ON sealpg.jobs TO sealpg_admin, sealpg_auditor;

INSERT INTO sealpg.jobs VALUES
	('sealpg-expire', '* * * * *', 'SELECT sealpg.expire_seals()');

CREATE FUNCTION sealpg.schedule_jobs() RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j record;
	n integer := 0;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, then CREATE EXTENSION pg_cron.';
	END IF;
	FOR j IN SELECT * FROM sealpg.jobs ORDER BY job_name LOOP
		-- cron.schedule(name, ...) replaces a job of the same name
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING j.job_name, j.schedule, j.command;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.schedule_jobs() IS
	'schedules (or reschedules) every job of sealpg.jobs with pg_cron; returns how many';
REVOKE ALL ON FUNCTION sealpg.schedule_jobs() FROM PUBLIC;	-- superusers schedule jobs
