-- ===================================================================
-- 50 Anomaly detection: use events, rule settings, profiles, alerts,
--    the C rule engine's triggers, replay, confirmations, jobs
-- ===================================================================
-- This piece is also the upgrade delta from 0.1.0: it only creates new
-- objects.  The rules themselves are C (anomaly.c, rules.c, geo.c); the
-- README's "Anomaly detection" section lists them with their defaults.

-- ---- types ---------------------------------------------------------

CREATE TYPE sealpg.alert_severity AS ENUM ('info', 'warning', 'critical');
COMMENT ON TYPE sealpg.alert_severity IS
	'how serious an alert is: info (worth a look), warning (someone should check), critical (the seal is frozen)';

CREATE TYPE sealpg.alert_state AS ENUM ('open', 'confirmed_safe', 'confirmed_compromised');
COMMENT ON TYPE sealpg.alert_state IS
	'open until a person confirms it safe (the seal is unfrozen) or compromised (the seal is revoked)';

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.holidays (
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations ON DELETE CASCADE,
	day				date NOT NULL,
	name			text NOT NULL CHECK (name <> ''),
	PRIMARY KEY (organisation_id, day)
);
COMMENT ON TABLE sealpg.holidays IS
	'days off of an organisation: a use on such a day (in the seal''s time zone) is off-hours';

CREATE TABLE sealpg.seal_devices (
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	device_id		text NOT NULL CHECK (device_id <> ''),
	added_by		name NOT NULL,
	added_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (seal_id, device_id)
);
COMMENT ON TABLE sealpg.seal_devices IS
	'devices allowed to report uses of a seal besides the one bound in sealpg.seals.device_id';

CREATE TABLE sealpg.rule_settings (
	organisation_id		uuid NOT NULL REFERENCES sealpg.organisations ON DELETE CASCADE,
	seal_id				uuid REFERENCES sealpg.seals ON DELETE CASCADE,
	disabled_rules		text[],
	burst_max_uses		integer CHECK (burst_max_uses BETWEEN 1 AND 127),
	burst_window		interval CHECK (burst_window > '0'::interval),
	travel_max_kmh		double precision CHECK (travel_max_kmh > 0),
	force_max_z			double precision CHECK (force_max_z > 0),
	force_min_samples	integer CHECK (force_min_samples >= 2),
	learning_uses		integer CHECK (learning_uses >= 0),
	learning_period		interval CHECK (learning_period >= '0'::interval),
	place_cell_m		double precision CHECK (place_cell_m BETWEEN 10 AND 1000000),
	sequence_max_gap	integer CHECK (sequence_max_gap >= 0),
	suppression_window	interval CHECK (suppression_window >= '0'::interval),
	silent_after		interval CHECK (silent_after > '0'::interval),
	UNIQUE NULLS NOT DISTINCT (organisation_id, seal_id)
);
COMMENT ON TABLE sealpg.rule_settings IS
	'rule thresholds: one row per organisation (seal_id NULL) and optionally per seal; a NULL column inherits (seal -> organisation -> built-in default)';
COMMENT ON COLUMN sealpg.rule_settings.disabled_rules IS
	'rules that do not run for this organisation or seal (names as in sealpg.alerts.rule)';
COMMENT ON COLUMN sealpg.rule_settings.burst_max_uses IS 'burst: more than this many uses within burst_window (default 20)';
COMMENT ON COLUMN sealpg.rule_settings.burst_window IS 'burst: the sliding window (default 1 minute)';
COMMENT ON COLUMN sealpg.rule_settings.travel_max_kmh IS 'impossible_travel: fastest plausible speed between two uses (default 900 km/h)';
COMMENT ON COLUMN sealpg.rule_settings.force_max_z IS 'force_outlier: largest |z| of the stamping force against the seal''s history (default 4)';
COMMENT ON COLUMN sealpg.rule_settings.force_min_samples IS 'force_outlier: samples needed before the rule runs (default 30)';
COMMENT ON COLUMN sealpg.rule_settings.learning_uses IS 'new_place: uses needed before unseen places are reported (default 50)';
COMMENT ON COLUMN sealpg.rule_settings.learning_period IS 'new_place: time since the first use before unseen places are reported (default 7 days)';
COMMENT ON COLUMN sealpg.rule_settings.place_cell_m IS 'new_place: size of the grid cells that make up a seal''s usual places (default 2000 m)';
COMMENT ON COLUMN sealpg.rule_settings.sequence_max_gap IS 'sequence_gap: device sequence numbers that may go missing between two uses (default 0)';
COMMENT ON COLUMN sealpg.rule_settings.suppression_window IS 'an open alert of the same seal and rule absorbs new hits for this long (default 1 hour)';
COMMENT ON COLUMN sealpg.rule_settings.silent_after IS 'silent_device: a bound device that reports nothing for this long (default 7 days)';

CREATE TABLE sealpg.use_events (
	event_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid NOT NULL,	-- checked by the C trigger (SE007), no FK on the hot path
	occurred_at		timestamptz NOT NULL,
	received_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	latitude		double precision,
	longitude		double precision,
	accuracy_m		real,
	operator		text,
	device_id		text,
	device_seq		bigint,
	force_n			real,
	document_digest	bytea,
	source			text NOT NULL DEFAULT 'physical' CHECK (source IN ('physical', 'electronic'))
);
COMMENT ON TABLE sealpg.use_events IS
	'every use of a seal: physical stamps reported by its device and electronic signings; each row passes the C rules as it arrives';
COMMENT ON COLUMN sealpg.use_events.device_seq IS
	'the device''s own counter; (device_id, device_seq) is unique, so a report sent twice is stored once';
COMMENT ON COLUMN sealpg.use_events.force_n IS 'stamping force in newtons, as measured by a smart seal';
CREATE UNIQUE INDEX use_events_device_seq ON sealpg.use_events (device_id, device_seq);
CREATE INDEX use_events_seal_time ON sealpg.use_events (seal_id, occurred_at);

CREATE TABLE sealpg.seal_profiles (
	seal_id			uuid PRIMARY KEY REFERENCES sealpg.seals ON DELETE CASCADE,
	events			bigint NOT NULL DEFAULT 0,
	first_event_at	timestamptz,
	last_event_at	timestamptz,
	rate_per_day	double precision,
	force_samples	bigint NOT NULL DEFAULT 0,
	force_mean		double precision,
	force_stddev	double precision,
	state			bytea,
	updated_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	rebuilt_at		timestamptz
) WITH (fillfactor = 50);	-- room on the page, so that the update after each use is HOT
COMMENT ON TABLE sealpg.seal_profiles IS
	'what is usual for each seal, kept up to date use by use: counts, rate, force statistics (Welford); sealpg.profile(seal) shows the hour-of-week histogram and usual places';
COMMENT ON COLUMN sealpg.seal_profiles.state IS
	'the rule engine''s working state (binary, versioned): last position, recent uses, hour-of-week histogram, places, device counters, grant counts';

CREATE TABLE sealpg.alerts (
	alert_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	rule			text NOT NULL,
	severity		sealpg.alert_severity NOT NULL,
	risk_score		integer NOT NULL CHECK (risk_score BETWEEN 0 AND 100),
	event_ids		uuid[] NOT NULL DEFAULT '{}',
	details			jsonb NOT NULL DEFAULT '{}',
	raised_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	state			sealpg.alert_state NOT NULL DEFAULT 'open',
	resolved_by		name,
	resolved_at		timestamptz,
	note			text,
	first_seen_at	timestamptz NOT NULL,
	last_seen_at	timestamptz NOT NULL,
	hits			integer NOT NULL DEFAULT 1 CHECK (hits > 0),
	CHECK ((state = 'open') = (resolved_at IS NULL))
);
COMMENT ON TABLE sealpg.alerts IS
	'anomalies found by the rules: one open alert per seal and rule absorbs repeated hits within the suppression window';
COMMENT ON COLUMN sealpg.alerts.event_ids IS 'the use events that triggered the alert, first one first';
COMMENT ON COLUMN sealpg.alerts.first_seen_at IS 'when the first triggering use occurred (event time, not arrival time)';
COMMENT ON COLUMN sealpg.alerts.last_seen_at IS 'when the latest absorbed use occurred; de-duplication compares event times against it';
COMMENT ON COLUMN sealpg.alerts.hits IS 'how many rule hits this alert absorbed';
CREATE INDEX alerts_seal_raised ON sealpg.alerts (seal_id, raised_at);
-- de-duplication looks up the open alert of a seal and rule nearest in event time
CREATE INDEX alerts_open ON sealpg.alerts (seal_id, rule, last_seen_at) WHERE state = 'open';

-- ---- the C engine --------------------------------------------------

CREATE FUNCTION sealpg.use_event_check() RETURNS trigger
	AS 'MODULE_PATHNAME', 'use_event_check'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.use_event_check() IS
	'BEFORE INSERT on use_events: refuses malformed uses (SE007, SE601-SE605) and loads the seal''s settings and state';
CREATE FUNCTION sealpg.use_event_rules() RETURNS trigger
	AS 'MODULE_PATHNAME', 'use_event_rules'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.use_event_rules() IS
	'AFTER INSERT on use_events: runs every rule on the stored use, raises alerts, learns the profile';
CREATE FUNCTION sealpg.use_event_flush() RETURNS trigger
	AS 'MODULE_PATHNAME', 'use_event_flush'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.use_event_flush() IS
	'AFTER INSERT statement on use_events: writes back the profiles the statement changed';
-- Triggers, never called directly.
REVOKE ALL ON FUNCTION sealpg.use_event_check(), sealpg.use_event_rules(),
	sealpg.use_event_flush() FROM PUBLIC;

CREATE TRIGGER use_event_check BEFORE INSERT ON sealpg.use_events
	FOR EACH ROW EXECUTE FUNCTION sealpg.use_event_check();
CREATE TRIGGER use_event_rules AFTER INSERT ON sealpg.use_events
	FOR EACH ROW EXECUTE FUNCTION sealpg.use_event_rules();
CREATE TRIGGER use_event_flush AFTER INSERT ON sealpg.use_events
	FOR EACH STATEMENT EXECUTE FUNCTION sealpg.use_event_flush();

-- Each backend keeps seals' settings across transactions; a change to any
-- table they come from makes every backend read them again.
CREATE FUNCTION sealpg.anomaly_settings_changed() RETURNS trigger
	AS 'MODULE_PATHNAME', 'anomaly_settings_changed'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.anomaly_settings_changed() IS
	'statement trigger on the tables the rules read their settings from: tells every backend to read them again';
REVOKE ALL ON FUNCTION sealpg.anomaly_settings_changed() FROM PUBLIC;	-- a trigger, never called directly

CREATE TRIGGER anomaly_settings_changed
	AFTER INSERT OR DELETE OR TRUNCATE
	   OR UPDATE OF es_id, organisation_id, time_zone, calendar_id, home_latitude, home_longitude,
					home_radius_m, device_id
	ON sealpg.seals FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();
CREATE TRIGGER anomaly_settings_changed
	AFTER INSERT OR DELETE OR TRUNCATE
	   OR UPDATE OF operator, grant_from, grant_until, max_uses, granted_at
	ON sealpg.seal_operators FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();
CREATE TRIGGER anomaly_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON sealpg.calendars FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();
CREATE TRIGGER anomaly_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON sealpg.holidays FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();
CREATE TRIGGER anomaly_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON sealpg.seal_devices FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();
CREATE TRIGGER anomaly_settings_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE
	ON sealpg.rule_settings FOR EACH STATEMENT EXECUTE FUNCTION sealpg.anomaly_settings_changed();

CREATE FUNCTION sealpg.haversine_m(lat1 double precision, lon1 double precision,
								   lat2 double precision, lon2 double precision)
RETURNS double precision
	AS 'MODULE_PATHNAME', 'sealpg_haversine_m'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sealpg.haversine_m(double precision, double precision, double precision, double precision) IS
	'great-circle distance in metres between two points given in degrees (mean Earth radius 6371008.8 m)';
-- A pure function of its arguments: harmless to anyone.
GRANT EXECUTE ON FUNCTION sealpg.haversine_m(double precision, double precision, double precision, double precision) TO PUBLIC;

CREATE FUNCTION sealpg.raise_alert(seal_id uuid, rule text, severity sealpg.alert_severity,
								   risk_score integer, event_ids uuid[] DEFAULT '{}',
								   details jsonb DEFAULT '{}')
RETURNS uuid
	AS 'MODULE_PATHNAME', 'sealpg_raise_alert'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sealpg.raise_alert(uuid, text, sealpg.alert_severity, integer, uuid[], jsonb) IS
	'records an alert as the rules do: de-duplicated per seal and rule, NOTIFY sealpg_alert, a critical one freezes the seal, kept even if the caller rolls back (internal)';
REVOKE ALL ON FUNCTION sealpg.raise_alert(uuid, text, sealpg.alert_severity, integer, uuid[], jsonb) FROM PUBLIC;	-- internal

CREATE FUNCTION sealpg.alert_deferred(payload jsonb) RETURNS void
	AS 'MODULE_PATHNAME', 'sealpg_alert_deferred'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.alert_deferred(jsonb) IS
	'run by the deferred writer: records an alert (and its freeze) whose raising transaction rolled back; nothing if it committed';
REVOKE ALL ON FUNCTION sealpg.alert_deferred(jsonb) FROM PUBLIC;	-- the deferred writer only

-- ---- membership helper for uses ------------------------------------

CREATE FUNCTION sealpg.may_record_use(seal uuid) RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	org uuid;
BEGIN
	SELECT s.organisation_id INTO org FROM sealpg.seals s WHERE s.seal_id = seal;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	RETURN sealpg.is_member(org, true)
		OR (sealpg.is_member(org) AND pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_agent', 'MEMBER'))
		OR EXISTS (SELECT 1 FROM sealpg.seal_operators o
					WHERE o.seal_id = seal AND o.operator = sealpg.caller());
END
$$;
COMMENT ON FUNCTION sealpg.may_record_use(uuid) IS
	'true when the caller may report uses of the seal: an admin of its organisation, a device gateway (sealpg_agent) member of it, or an operator granted the seal';
REVOKE ALL ON FUNCTION sealpg.may_record_use(uuid) FROM PUBLIC;	-- only sealpg's roles ask
GRANT EXECUTE ON FUNCTION sealpg.may_record_use(uuid)
	TO sealpg_admin, sealpg_operator, sealpg_auditor, sealpg_agent;

-- ---- row-level security --------------------------------------------

ALTER TABLE sealpg.holidays ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_devices ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.rule_settings ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.use_events ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_profiles ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.alerts ENABLE ROW LEVEL SECURITY;

CREATE POLICY by_organisation ON sealpg.holidays
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.seal_devices
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_devices.seal_id)))
	WITH CHECK (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_devices.seal_id), true));
CREATE POLICY by_organisation ON sealpg.rule_settings
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.use_events
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = use_events.seal_id)))
	WITH CHECK (sealpg.may_record_use(seal_id));
CREATE POLICY by_organisation ON sealpg.seal_profiles
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_profiles.seal_id)));
CREATE POLICY by_organisation ON sealpg.alerts
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = alerts.seal_id)));

-- Read directly within one's organisation; holidays, devices and settings
-- are written by the organisation's admins (the policies check that);
-- uses are also INSERTed or COPYed directly by operators and device
-- gateways; profiles and alerts change only through the engine and the
-- API below.
REVOKE ALL ON sealpg.holidays, sealpg.seal_devices, sealpg.rule_settings, sealpg.use_events,
	sealpg.seal_profiles, sealpg.alerts FROM PUBLIC;
GRANT SELECT ON sealpg.holidays, sealpg.seal_devices, sealpg.rule_settings, sealpg.use_events,
	sealpg.seal_profiles, sealpg.alerts
	TO sealpg_admin, sealpg_operator, sealpg_auditor;
GRANT INSERT, UPDATE, DELETE ON sealpg.holidays, sealpg.seal_devices, sealpg.rule_settings TO sealpg_admin;
GRANT INSERT ON sealpg.use_events TO sealpg_admin, sealpg_operator, sealpg_agent;

-- ---- API -----------------------------------------------------------

CREATE FUNCTION sealpg.record_use(seal text, occurred_at timestamptz,
								  latitude double precision DEFAULT NULL,
								  longitude double precision DEFAULT NULL,
								  accuracy_m real DEFAULT NULL,
								  operator text DEFAULT NULL,
								  device_id text DEFAULT NULL,
								  device_seq bigint DEFAULT NULL,
								  force_n real DEFAULT NULL,
								  document_digest bytea DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals;
	id uuid;
	existing_seal uuid;
BEGIN
	SELECT * INTO s FROM sealpg.seals x WHERE x.es_id = seal;
	IF NOT FOUND OR NOT sealpg.is_member(s.organisation_id) AND NOT sealpg.may_record_use(s.seal_id) THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal
			USING ERRCODE = 'SE007', HINT = 'Seals are named by their esID; SELECT es_id FROM sealpg.seals lists the ones you may see.';
	END IF;
	IF NOT sealpg.may_record_use(s.seal_id) THEN
		RAISE EXCEPTION 'role "%" may not report uses of seal "%"', sealpg.caller(), seal
			USING ERRCODE = 'SE004',
				  HINT = 'An administrator grants the seal with sealpg.grant_seal(seal, role).';
	END IF;
	INSERT INTO sealpg.use_events AS u (seal_id, occurred_at, latitude, longitude, accuracy_m, operator,
									   device_id, device_seq, force_n, document_digest, source)
		VALUES (s.seal_id, record_use.occurred_at, record_use.latitude, record_use.longitude,
				record_use.accuracy_m, record_use.operator, record_use.device_id,
				record_use.device_seq, record_use.force_n, record_use.document_digest, 'physical')
		ON CONFLICT DO NOTHING	-- only (device_id, device_seq) can clash: event_id is new
		RETURNING u.event_id INTO id;
	IF id IS NULL THEN
		-- the device sent this report before: answer with the stored one
		SELECT u.event_id, u.seal_id INTO id, existing_seal FROM sealpg.use_events u
		 WHERE u.device_id = record_use.device_id AND u.device_seq = record_use.device_seq;
		IF existing_seal <> s.seal_id THEN
			RAISE EXCEPTION 'device "%" already reported sequence number % for another seal', device_id, device_seq
				USING ERRCODE = '23505',
					  DETAIL = 'A device''s sequence numbers are unique across all seals.';
		END IF;
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.record_use(text, timestamptz, double precision, double precision, real, text,
	text, bigint, real, bytea) IS
	'records one physical use of a seal and runs the rules on it; a report already stored (same device_id and device_seq) returns the stored event_id';

CREATE FUNCTION sealpg.observe_signing(seal_id uuid, signed_at timestamptz, operator text,
									   document_digest bytea)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	INSERT INTO sealpg.use_events AS u (seal_id, occurred_at, operator, document_digest, source)
		VALUES (observe_signing.seal_id, coalesce(signed_at, pg_catalog.now()), observe_signing.operator,
				observe_signing.document_digest, 'electronic')
		RETURNING u.event_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.observe_signing(uuid, timestamptz, text, bytea) IS
	'passes an electronic signing through the rules as a use of source ''electronic'' (called by the trigger on sealpg.signatures; internal)';
REVOKE ALL ON FUNCTION sealpg.observe_signing(uuid, timestamptz, text, bytea) FROM PUBLIC;	-- internal

CREATE FUNCTION sealpg.add_seal_device(seal text, device_id text) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	INSERT INTO sealpg.seal_devices (seal_id, device_id, added_by)
		VALUES (s.seal_id, add_seal_device.device_id, sealpg.caller())
		ON CONFLICT DO NOTHING;
END
$$;
COMMENT ON FUNCTION sealpg.add_seal_device(text, text) IS
	'allows one more device to report uses of the seal; organisation admins only';

CREATE FUNCTION sealpg.confirm_safe(alert uuid, note text) RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a sealpg.alerts;
	s sealpg.seals;
BEGIN
	SELECT * INTO a FROM sealpg.alerts x WHERE x.alert_id = alert;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alert % does not exist', alert USING ERRCODE = 'SE606';
	END IF;
	SELECT * INTO s FROM sealpg.seals x WHERE x.seal_id = a.seal_id FOR UPDATE;
	IF NOT sealpg.is_member(s.organisation_id) THEN
		RAISE EXCEPTION 'alert % does not exist', alert USING ERRCODE = 'SE606';
	END IF;
	PERFORM sealpg.require_admin(s.organisation_id);
	SELECT * INTO a FROM sealpg.alerts x WHERE x.alert_id = alert FOR UPDATE;
	IF a.state <> 'open' THEN
		RAISE EXCEPTION 'alert % is already %', alert, a.state
			USING ERRCODE = 'SE607',
				  DETAIL = pg_catalog.format('%s resolved it at %s.', a.resolved_by, a.resolved_at);
	END IF;
	UPDATE sealpg.alerts x SET state = 'confirmed_safe', resolved_by = sealpg.caller(),
		   resolved_at = pg_catalog.now(), note = confirm_safe.note
	 WHERE x.alert_id = alert;
	-- Unfreeze only when no other critical alert of the seal is still open.
	IF s.status = 'frozen' AND NOT EXISTS (
		SELECT 1 FROM sealpg.alerts x
		 WHERE x.seal_id = s.seal_id AND x.state = 'open' AND x.severity = 'critical') THEN
		UPDATE sealpg.seals x SET status = 'active',
			   status_reason = pg_catalog.format('alert %s (%s) confirmed safe: %s', alert, a.rule, note),
			   status_changed_at = pg_catalog.now()
		 WHERE x.seal_id = s.seal_id;
		RETURN 'active';
	END IF;
	RETURN s.status;
END
$$;
COMMENT ON FUNCTION sealpg.confirm_safe(uuid, text) IS
	'an admin of the seal''s organisation closes an alert as a false alarm; the seal is unfrozen once no critical alert of it is open; returns its status';

CREATE FUNCTION sealpg.confirm_compromised(alert uuid, note text) RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a sealpg.alerts;
	s sealpg.seals;
BEGIN
	SELECT * INTO a FROM sealpg.alerts x WHERE x.alert_id = alert;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'alert % does not exist', alert USING ERRCODE = 'SE606';
	END IF;
	SELECT * INTO s FROM sealpg.seals x WHERE x.seal_id = a.seal_id FOR UPDATE;
	IF NOT sealpg.is_member(s.organisation_id) THEN
		RAISE EXCEPTION 'alert % does not exist', alert USING ERRCODE = 'SE606';
	END IF;
	PERFORM sealpg.require_admin(s.organisation_id);
	SELECT * INTO a FROM sealpg.alerts x WHERE x.alert_id = alert FOR UPDATE;
	IF a.state <> 'open' THEN
		RAISE EXCEPTION 'alert % is already %', alert, a.state
			USING ERRCODE = 'SE607',
				  DETAIL = pg_catalog.format('%s resolved it at %s.', a.resolved_by, a.resolved_at);
	END IF;
	UPDATE sealpg.alerts x SET state = 'confirmed_compromised', resolved_by = sealpg.caller(),
		   resolved_at = pg_catalog.now(), note = confirm_compromised.note
	 WHERE x.alert_id = alert;
	IF s.status IN ('active', 'frozen') THEN
		-- sealpg.revoke (piece 40): RFC 5280 keyCompromise, certificates on the
		-- CRL; with the two-person rule it only files a request, and the seal
		-- stays frozen until a second administrator approves it.
		PERFORM sealpg.revoke(s.es_id, 'keyCompromise',
			pg_catalog.format('alert %s (%s) confirmed compromised: %s', alert, a.rule, note));
		SELECT x.status INTO s.status FROM sealpg.seals x WHERE x.seal_id = s.seal_id;
	END IF;
	RETURN s.status;
END
$$;
COMMENT ON FUNCTION sealpg.confirm_compromised(uuid, text) IS
	'an admin of the seal''s organisation confirms an alert as a compromise: the seal is revoked through sealpg.revoke (reason keyCompromise; a request under the two-person rule); returns its status';

CREATE FUNCTION sealpg.detect(seal text, from_time timestamptz, to_time timestamptz)
RETURNS TABLE (event_id uuid, occurred_at timestamptz, rule text, severity sealpg.alert_severity,
			   risk_score integer, details jsonb)
	AS 'MODULE_PATHNAME', 'sealpg_detect'
	LANGUAGE C STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.detect(text, timestamptz, timestamptz) IS
	'replays the seal''s stored uses through today''s rules and settings and lists every hit in [from_time, to_time), without de-duplication or alerts; uses before from_time only train the profile';

CREATE FUNCTION sealpg.profile(seal text) RETURNS jsonb
	AS 'MODULE_PATHNAME', 'sealpg_profile'
	LANGUAGE C STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.profile(text) IS
	'the seal''s profile as JSON: uses, rate, hour-of-week histogram (168 counts, Monday 00h first, local time), usual places, force statistics, device counters';

CREATE FUNCTION sealpg.rebuild_profiles(seal text DEFAULT NULL) RETURNS integer
	AS 'MODULE_PATHNAME', 'sealpg_rebuild_profiles'
	LANGUAGE C VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.rebuild_profiles(text) IS
	'recomputes profiles from the stored uses (one seal, or every seal the caller administers); returns how many (run by pg_cron)';

CREATE FUNCTION sealpg.window_stats(seal text, from_time timestamptz, to_time timestamptz,
									width interval DEFAULT '1 hour')
RETURNS TABLE (window_start timestamptz, uses bigint, electronic bigint, operators bigint,
			   devices bigint, max_per_minute bigint, force_mean double precision,
			   force_stddev double precision, alerts bigint)
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals;
BEGIN
	SELECT * INTO s FROM sealpg.seals x WHERE x.es_id = seal;
	IF NOT FOUND OR NOT sealpg.is_member(s.organisation_id) THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal USING ERRCODE = 'SE007';
	END IF;
	IF width IS NULL OR width <= '0'::interval THEN
		RAISE EXCEPTION 'window width must be positive' USING ERRCODE = '22023';
	END IF;
	RETURN QUERY
	WITH u AS (
		SELECT e.*, pg_catalog.date_bin(width, e.occurred_at, from_time) AS w
		  FROM sealpg.use_events e
		 WHERE e.seal_id = s.seal_id AND e.occurred_at >= from_time AND e.occurred_at < to_time
	), per_minute AS (
		SELECT u.w, pg_catalog.count(*) AS n FROM u GROUP BY u.w, pg_catalog.date_trunc('minute', u.occurred_at)
	)
	SELECT u.w, pg_catalog.count(*), pg_catalog.count(*) FILTER (WHERE u.source = 'electronic'),
		   pg_catalog.count(DISTINCT u.operator), pg_catalog.count(DISTINCT u.device_id),
		   (SELECT pg_catalog.max(p.n) FROM per_minute p WHERE p.w = u.w),
		   pg_catalog.avg(u.force_n)::double precision, pg_catalog.stddev_samp(u.force_n)::double precision,
		   (SELECT pg_catalog.count(*) FROM sealpg.alerts a
			 WHERE a.seal_id = s.seal_id AND a.first_seen_at >= u.w AND a.first_seen_at < u.w + width)
	  FROM u GROUP BY u.w ORDER BY u.w;
END
$$;
COMMENT ON FUNCTION sealpg.window_stats(text, timestamptz, timestamptz, interval) IS
	'per-window statistics of a seal''s uses (count, electronic, operators, devices, busiest minute, force) and the alerts first seen in each window';

CREATE FUNCTION sealpg.check_silent_devices() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r record;
	n integer := 0;
BEGIN
	FOR r IN
		SELECT s.seal_id, s.device_id, coalesce(p.last_event_at, s.created_at) AS last_heard,
			   coalesce(rs.silent_after, ro.silent_after, '7 days'::interval) AS silent_after
		  FROM sealpg.seals s
		  LEFT JOIN sealpg.seal_profiles p ON p.seal_id = s.seal_id
		  LEFT JOIN sealpg.rule_settings rs ON rs.organisation_id = s.organisation_id AND rs.seal_id = s.seal_id
		  LEFT JOIN sealpg.rule_settings ro ON ro.organisation_id = s.organisation_id AND ro.seal_id IS NULL
		 WHERE s.status = 'active' AND s.device_id IS NOT NULL
		   AND NOT coalesce('silent_device' = ANY (coalesce(rs.disabled_rules, ro.disabled_rules)), false)
	LOOP
		CONTINUE WHEN r.last_heard >= pg_catalog.now() - r.silent_after;
		CONTINUE WHEN EXISTS (SELECT 1 FROM sealpg.alerts a
							   WHERE a.seal_id = r.seal_id AND a.rule = 'silent_device' AND a.state = 'open');
		PERFORM sealpg.raise_alert(r.seal_id, 'silent_device', 'warning', 35, '{}',
			pg_catalog.jsonb_build_object('device_id', r.device_id, 'last_heard', r.last_heard,
										  'silent_after', r.silent_after::text));
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.check_silent_devices() IS
	'raises a silent_device warning for every active seal whose bound device has reported nothing for silent_after; returns how many (run by pg_cron)';

-- The periodic jobs of this piece; sealpg.schedule_jobs() (piece 15)
-- hands them to pg_cron.
INSERT INTO sealpg.jobs (job_name, schedule, command) VALUES
	('sealpg-rebuild-profiles', '17 3 * * *', 'SELECT sealpg.rebuild_profiles()'),
	('sealpg-silent-devices', '*/15 * * * *', 'SELECT sealpg.check_silent_devices()');

-- Every function is refused to PUBLIC (PostgreSQL grants EXECUTE to
-- PUBLIC by default) and granted to the roles that need it.
REVOKE ALL ON FUNCTION
	sealpg.record_use(text, timestamptz, double precision, double precision, real, text, text, bigint, real, bytea),
	sealpg.add_seal_device(text, text),
	sealpg.confirm_safe(uuid, text),
	sealpg.confirm_compromised(uuid, text),
	sealpg.detect(text, timestamptz, timestamptz),
	sealpg.profile(text),
	sealpg.rebuild_profiles(text),
	sealpg.window_stats(text, timestamptz, timestamptz, interval),
	sealpg.check_silent_devices()
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.record_use(text, timestamptz, double precision, double precision, real, text, text, bigint, real, bytea)
	TO sealpg_admin, sealpg_operator, sealpg_agent;
GRANT EXECUTE ON FUNCTION
	sealpg.add_seal_device(text, text),
	sealpg.confirm_safe(uuid, text),
	sealpg.confirm_compromised(uuid, text),
	sealpg.rebuild_profiles(text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION
	sealpg.detect(text, timestamptz, timestamptz),
	sealpg.profile(text),
	sealpg.window_stats(text, timestamptz, timestamptz, interval)
	TO sealpg_admin, sealpg_auditor;
