-- The same rules as sealpg's C engine, as a PL/pgSQL trigger, written for
-- the benchmark only (test/bench/anomaly/run.sh): same tables, same
-- per-seal state idea (one row per seal, read FOR UPDATE, written back per
-- use), same alerts with de-duplication and freeze.
CREATE SCHEMA IF NOT EXISTS bench;

CREATE TABLE bench.pl_state (
	seal_id		uuid PRIMARY KEY,
	events		bigint NOT NULL DEFAULT 0,
	first_at	timestamptz,
	last_lat	double precision,
	last_lon	double precision,
	last_acc	double precision,
	last_pos_at	timestamptz,
	ring		timestamptz[] NOT NULL DEFAULT '{}',
	force_n		bigint NOT NULL DEFAULT 0,
	force_mean	double precision NOT NULL DEFAULT 0,
	force_m2	double precision NOT NULL DEFAULT 0,
	seqs		jsonb NOT NULL DEFAULT '{}',
	place_lat	double precision[] NOT NULL DEFAULT '{}',
	place_lon	double precision[] NOT NULL DEFAULT '{}'
);

CREATE TABLE bench.pl_alerts (
	alert_id	uuid PRIMARY KEY DEFAULT gen_random_uuid(),
	seal_id		uuid NOT NULL,
	rule		text NOT NULL,
	severity	text NOT NULL,
	event_ids	uuid[] NOT NULL,
	details		jsonb NOT NULL DEFAULT '{}',
	raised_at	timestamptz NOT NULL DEFAULT now(),
	state		text NOT NULL DEFAULT 'open',
	last_seen_at timestamptz NOT NULL,
	hits		integer NOT NULL DEFAULT 1
);
CREATE INDEX ON bench.pl_alerts (seal_id, rule) WHERE state = 'open';

CREATE FUNCTION bench.haversine(lat1 float8, lon1 float8, lat2 float8, lon2 float8) RETURNS float8
LANGUAGE sql IMMUTABLE AS $$
	SELECT 2 * 6371008.8 * asin(sqrt(least(1,
		sin(radians(lat2 - lat1) / 2) ^ 2 +
		cos(radians(lat1)) * cos(radians(lat2)) * sin(radians(lon2 - lon1) / 2) ^ 2)))
$$;

CREATE FUNCTION bench.pl_raise(seal uuid, rule text, severity text, ev uuid, at timestamptz, details jsonb)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	UPDATE bench.pl_alerts a SET hits = a.hits + 1, last_seen_at = greatest(a.last_seen_at, at),
		   event_ids = CASE WHEN cardinality(a.event_ids) < 100 THEN a.event_ids || ev ELSE a.event_ids END
	 WHERE a.seal_id = seal AND a.rule = pl_raise.rule AND a.state = 'open'
	   AND at > a.last_seen_at - interval '1 hour' AND at < a.last_seen_at + interval '1 hour';
	IF FOUND THEN
		RETURN;
	END IF;
	INSERT INTO bench.pl_alerts (seal_id, rule, severity, event_ids, details, last_seen_at)
		VALUES (seal, rule, severity, ARRAY[ev], details, at);
	IF severity = 'critical' THEN
		UPDATE sealpg.seals SET status = 'frozen', status_reason = 'anomaly: ' || rule
		 WHERE seal_id = seal AND status = 'active';
	END IF;
	PERFORM pg_notify('sealpg_alert_bench', json_build_object('v', 1, 'seal_id', seal, 'rule', rule,
		'severity', severity, 'event_id', ev)::text);
END $$;

CREATE FUNCTION bench.pl_rules() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
	s record;
	st bench.pl_state;
	loc timestamp;
	d float8;
	acc float8 := coalesce(NEW.accuracy_m, 100);
	n integer;
	sd float8;
	z float8;
	last_seq bigint;
	g record;
	delta float8;
	near boolean := false;
	i integer;
BEGIN
	SELECT x.seal_id, x.organisation_id, x.time_zone, x.home_latitude, x.home_longitude, x.home_radius_m,
		   x.device_id, c.work_days, c.day_start, c.day_end
	  INTO s FROM sealpg.seals x LEFT JOIN sealpg.calendars c ON c.calendar_id = x.calendar_id
	 WHERE x.seal_id = NEW.seal_id;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'seal % does not exist', NEW.seal_id USING ERRCODE = 'SE007';
	END IF;
	IF NEW.latitude NOT BETWEEN -90 AND 90 OR NEW.longitude NOT BETWEEN -180 AND 180 THEN
		RAISE EXCEPTION 'location out of range' USING ERRCODE = 'SE601';
	END IF;
	IF NEW.occurred_at > clock_timestamp() + interval '5 minutes' THEN
		RAISE EXCEPTION 'use in the future' USING ERRCODE = 'SE602';
	END IF;
	IF NEW.force_n < 0 THEN
		RAISE EXCEPTION 'negative force' USING ERRCODE = 'SE603';
	END IF;
	SELECT * INTO st FROM bench.pl_state WHERE seal_id = NEW.seal_id FOR UPDATE;
	IF NOT FOUND THEN
		INSERT INTO bench.pl_state (seal_id) VALUES (NEW.seal_id) RETURNING * INTO st;
	END IF;

	-- off_hours
	loc := NEW.occurred_at AT TIME ZONE s.time_zone;
	IF s.work_days IS NOT NULL AND (NOT extract(isodow FROM loc)::integer = ANY (s.work_days)
		OR loc::time < s.day_start OR loc::time >= s.day_end
		OR EXISTS (SELECT 1 FROM sealpg.holidays h WHERE h.organisation_id = s.organisation_id AND h.day = loc::date)) THEN
		PERFORM bench.pl_raise(s.seal_id, 'off_hours', 'warning', NEW.event_id, NEW.occurred_at, '{}');
	END IF;
	IF NEW.latitude IS NOT NULL THEN
		-- geofence
		IF s.home_radius_m IS NOT NULL THEN
			d := bench.haversine(s.home_latitude, s.home_longitude, NEW.latitude, NEW.longitude);
			IF d - acc > s.home_radius_m THEN
				PERFORM bench.pl_raise(s.seal_id, 'geofence', 'warning', NEW.event_id, NEW.occurred_at,
					jsonb_build_object('distance_m', round(d)));
			END IF;
		END IF;
		-- new_place, after 50 uses and 7 days
		FOR i IN 1 .. coalesce(array_length(st.place_lat, 1), 0) LOOP
			IF bench.haversine(st.place_lat[i], st.place_lon[i], NEW.latitude, NEW.longitude) <= 2000 + acc THEN
				near := true;
				EXIT;
			END IF;
		END LOOP;
		IF NOT near AND st.events >= 50 AND NEW.occurred_at - st.first_at >= interval '7 days' THEN
			PERFORM bench.pl_raise(s.seal_id, 'new_place', 'info', NEW.event_id, NEW.occurred_at, '{}');
		END IF;
		-- impossible_travel
		IF st.last_lat IS NOT NULL THEN
			d := bench.haversine(st.last_lat, st.last_lon, NEW.latitude, NEW.longitude) - acc - st.last_acc;
			IF d > 0 AND (NEW.occurred_at = st.last_pos_at OR
				(d / 1000) / (abs(extract(epoch FROM NEW.occurred_at - st.last_pos_at)) / 3600) > 900) THEN
				PERFORM bench.pl_raise(s.seal_id, 'impossible_travel', 'critical', NEW.event_id, NEW.occurred_at, '{}');
			END IF;
		END IF;
	END IF;
	-- burst
	SELECT count(*) INTO n FROM unnest(st.ring) t
	 WHERE t > NEW.occurred_at - interval '1 minute' AND t <= NEW.occurred_at;
	IF n + 1 > 20 THEN
		PERFORM bench.pl_raise(s.seal_id, 'burst', 'critical', NEW.event_id, NEW.occurred_at, '{}');
	END IF;
	-- unknown_device
	IF NEW.device_id IS NOT NULL AND NEW.device_id IS DISTINCT FROM s.device_id
		AND (s.device_id IS NOT NULL OR EXISTS (SELECT 1 FROM sealpg.seal_devices x WHERE x.seal_id = s.seal_id))
		AND NOT EXISTS (SELECT 1 FROM sealpg.seal_devices x WHERE x.seal_id = s.seal_id AND x.device_id = NEW.device_id) THEN
		PERFORM bench.pl_raise(s.seal_id, 'unknown_device', 'critical', NEW.event_id, NEW.occurred_at, '{}');
	END IF;
	-- force_outlier
	IF NEW.force_n IS NOT NULL AND st.force_n >= 30 THEN
		sd := greatest(sqrt(st.force_m2 / (st.force_n - 1)), 0.01 * abs(st.force_mean));
		IF sd > 0 THEN
			z := (NEW.force_n - st.force_mean) / sd;
			IF abs(z) > 4 THEN
				PERFORM bench.pl_raise(s.seal_id, 'force_outlier', 'warning', NEW.event_id, NEW.occurred_at, '{}');
			END IF;
		END IF;
	END IF;
	-- sequence_gap / sequence_rewind
	IF NEW.device_id IS NOT NULL AND NEW.device_seq IS NOT NULL THEN
		last_seq := (st.seqs ->> NEW.device_id)::bigint;
		IF last_seq IS NOT NULL AND NEW.device_seq <= last_seq THEN
			PERFORM bench.pl_raise(s.seal_id, 'sequence_rewind', 'critical', NEW.event_id, NEW.occurred_at, '{}');
		ELSIF last_seq IS NOT NULL AND NEW.device_seq - last_seq - 1 > 0 THEN
			PERFORM bench.pl_raise(s.seal_id, 'sequence_gap', 'warning', NEW.event_id, NEW.occurred_at, '{}');
		END IF;
	END IF;
	-- grant_overrun
	IF NEW.operator IS NOT NULL AND EXISTS (SELECT 1 FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id) THEN
		SELECT * INTO g FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id AND o.operator = NEW.operator;
		IF NOT FOUND OR NEW.occurred_at < g.grant_from OR NEW.occurred_at >= g.grant_until THEN
			PERFORM bench.pl_raise(s.seal_id, 'grant_overrun', 'critical', NEW.event_id, NEW.occurred_at, '{}');
		END IF;
	END IF;

	-- learn
	IF NEW.force_n IS NOT NULL THEN
		delta := NEW.force_n - st.force_mean;
		st.force_n := st.force_n + 1;
		st.force_mean := st.force_mean + delta / st.force_n;
		st.force_m2 := st.force_m2 + delta * (NEW.force_n - st.force_mean);
	END IF;
	IF NEW.latitude IS NOT NULL AND NOT near AND coalesce(array_length(st.place_lat, 1), 0) < 64 THEN
		st.place_lat := st.place_lat || NEW.latitude;
		st.place_lon := st.place_lon || NEW.longitude;
	END IF;
	UPDATE bench.pl_state SET
		events = st.events + 1,
		first_at = least(st.first_at, NEW.occurred_at),
		last_lat = coalesce(NEW.latitude, st.last_lat), last_lon = coalesce(NEW.longitude, st.last_lon),
		last_acc = CASE WHEN NEW.latitude IS NULL THEN st.last_acc ELSE acc END,
		last_pos_at = CASE WHEN NEW.latitude IS NULL THEN st.last_pos_at ELSE NEW.occurred_at END,
		ring = (CASE WHEN cardinality(st.ring) >= 256 THEN st.ring[2:] ELSE st.ring END) || NEW.occurred_at,
		force_n = st.force_n, force_mean = st.force_mean, force_m2 = st.force_m2,
		seqs = CASE WHEN NEW.device_id IS NULL OR NEW.device_seq IS NULL THEN st.seqs
			   ELSE st.seqs || jsonb_build_object(NEW.device_id, greatest(NEW.device_seq, last_seq)) END,
		place_lat = st.place_lat, place_lon = st.place_lon
	 WHERE seal_id = st.seal_id;
	RETURN NULL;
END $$;
