-- anomaly detection: ingestion, every rule firing and staying silent,
-- de-duplication, the freeze and confirm cycle, replay, bad input
-- A database of its own: the freezes and alerts here would otherwise show
-- in the journal and counts of the tests that share contrib_regression.
SET client_min_messages = warning;
DROP DATABASE IF EXISTS sealpg_anomaly_regress WITH (FORCE);
CREATE DATABASE sealpg_anomaly_regress;
\c sealpg_anomaly_regress
CREATE EXTENSION sealpg;
RESET client_min_messages;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- try(sql): run a statement, show its SQLSTATE and message if it fails
CREATE FUNCTION public.try(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE sql;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	-- ids and times change from run to run
	RETURN SQLSTATE || ': ' || regexp_replace(regexp_replace(SQLERRM,
		'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<uuid>', 'g'),
		'\d{4}-\d\d-\d\d \d\d:\d\d:[0-9.]+\+\d\d', '<time>', 'g');
END $$;

-- fixtures: an organisation in Shanghai, office hours, a seal with a device
SELECT sealpg.create_organisation('Anomaly Works') IS NOT NULL AS created;
SELECT organisation_id AS org FROM sealpg.organisations WHERE name = 'Anomaly Works' \gset
SELECT sealpg.create_calendar(:'org', 'office', '{1,2,3,4,5}', '09:00', '17:30') AS office \gset
SELECT sealpg.create_seal('ES-ANOM-1', 'works seal', 'organisation', :'org',
	valid_from => '2026-01-01', valid_until => '2030-01-01', time_zone => 'Asia/Shanghai',
	home_latitude => 31.2304, home_longitude => 121.4737, home_radius_m => 1000,
	device_id => 'dev-1', calendar => :'office') AS seal \gset
DO $$ BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anomaly_alice') THEN CREATE ROLE anomaly_alice; END IF;
	IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'anomaly_bob') THEN CREATE ROLE anomaly_bob; END IF;
END $$;
SELECT sealpg.grant_seal('ES-ANOM-1', 'anomaly_alice');
SELECT sealpg.grant_seal('ES-ANOM-1', 'anomaly_bob', max_uses => 2);
INSERT INTO sealpg.holidays VALUES (:'org', '2026-11-10', 'company day');
-- short learning so that the test stays small
INSERT INTO sealpg.rule_settings (organisation_id, learning_uses, learning_period, force_min_samples,
	burst_max_uses, burst_window)
	VALUES (:'org', 10, '1 day', 10, 5, '1 minute');

-- a normal week: Monday 2 to Friday 6 November 2026, four uses a day in
-- office hours, at home, from the bound device, steady force
SELECT count(sealpg.record_use('ES-ANOM-1',
		d + t, 31.2304 + 0.001 * (i % 3), 121.4737 - 0.001 * (i % 2), 15,
		'anomaly_alice', 'dev-1', i, 50 + (i % 3) - 1, '\x01'))
  FROM (SELECT row_number() OVER (ORDER BY d, t) AS i, d, t
		  FROM generate_series(timestamptz '2026-11-02 00:00+08', '2026-11-06 00:00+08', '1 day') d,
			   unnest(ARRAY[interval '10:00', '11:00', '14:00', '15:30']) t) w;
SELECT count(*) AS alerts_after_normal_week FROM sealpg.alerts;
SELECT p->'uses' AS uses, p->'learning_done' AS learnt, jsonb_array_length(p->'places') AS places,
	   p->'force'->'samples' AS force_samples, (p->'hour_of_week'->>10)::int AS monday_10h
  FROM sealpg.profile('ES-ANOM-1') p;
SELECT events, round(force_mean::numeric, 2) AS force_mean, round(rate_per_day::numeric, 1) AS rate
  FROM sealpg.seal_profiles WHERE seal_id = :'seal';

-- off_hours: 03:00 on a working day, then 10:00 on a holiday
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-09 03:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 21, 50) IS NOT NULL AS recorded;
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-10 10:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 22, 50) IS NOT NULL AS recorded;
-- silent: a working day in office hours
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-11 10:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 23, 50) IS NOT NULL AS recorded;
SELECT rule, severity, risk_score, hits, details FROM sealpg.alerts ORDER BY first_seen_at, rule;

-- geofence and new_place: 7.8 km north, two hours later (a plausible trip)
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-11 12:00+08', 31.3004, 121.4737, 15, 'anomaly_alice', 'dev-1', 24, 50) IS NOT NULL AS recorded;
-- impossible_travel: Beijing ten minutes later; the seal is frozen at once
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-11 12:10+08', 39.9042, 116.4074, 30, 'anomaly_alice', 'dev-1', 25, 50) IS NOT NULL AS recorded;
SELECT status, status_reason LIKE 'anomaly: impossible_travel%' AS by_rule FROM sealpg.seals WHERE es_id = 'ES-ANOM-1';
-- the second geofence and new_place hits were absorbed (hits = 2)
SELECT rule, severity, risk_score, hits, cardinality(event_ids) AS events, state, details
  FROM sealpg.alerts WHERE first_seen_at >= '2026-11-11' ORDER BY first_seen_at, rule;
-- the freeze is in the seal's history, by the rule engine
SELECT h.old_status, h.new_status FROM sealpg.seal_status_history h
 WHERE h.seal_id = :'seal' ORDER BY h.history_id;

-- confirm_safe: the admin closes the critical alert, the seal is active again
SELECT alert_id AS travel FROM sealpg.alerts WHERE rule = 'impossible_travel' \gset
SELECT sealpg.confirm_safe(:'travel', 'the courier took the seal on a flight; GPS glitch');
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-1';
SELECT state, resolved_by = current_user AS by_me, note FROM sealpg.alerts WHERE alert_id = :'travel';
SELECT public.try(format('SELECT sealpg.confirm_safe(%L, %L)', :'travel', 'again'));
SELECT public.try('SELECT sealpg.confirm_safe(''00000000-0000-0000-0000-000000000000'', ''x'')');
-- close the other open alerts of the week too
SELECT count(sealpg.confirm_safe(alert_id, 'reviewed')) AS closed FROM sealpg.alerts WHERE state = 'open';

-- burst: back home next day, 7 uses in 30 seconds (limit 5 a minute)
SELECT count(sealpg.record_use('ES-ANOM-1', timestamptz '2026-11-12 10:00+08' + i * interval '5 s',
		31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 25 + i, 50))
  FROM generate_series(1, 7) i;
SELECT rule, severity, risk_score, hits, cardinality(event_ids) AS events, details
  FROM sealpg.alerts WHERE state = 'open' ORDER BY first_seen_at, rule;
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-1';
SELECT count(sealpg.confirm_safe(alert_id, 'stamping a stack of contracts')) AS closed FROM sealpg.alerts WHERE state = 'open';

-- unknown_device, force_outlier, sequence_gap, sequence_rewind, grant_overrun
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-13 10:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-evil', 1, 50) IS NOT NULL AS unknown_device;
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-13 11:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 33, 400) IS NOT NULL AS force_outlier;
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-13 12:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 40, 50) IS NOT NULL AS sequence_gap;
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-13 13:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 38, 50) IS NOT NULL AS sequence_rewind;
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-13 14:00+08', 31.2304, 121.4737, 15, 'mallory', 'dev-1', 41, 50) IS NOT NULL AS not_granted;
SELECT count(sealpg.record_use('ES-ANOM-1', timestamptz '2026-11-13 15:00+08' + i * interval '10 min',
		31.2304, 121.4737, 15, 'anomaly_bob', 'dev-1', 41 + i, 50)) AS bob_uses
  FROM generate_series(1, 3) i;
SELECT rule, severity, risk_score, hits, details FROM sealpg.alerts WHERE state = 'open' ORDER BY first_seen_at, rule;
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-1';

-- confirm_compromised revokes (reason keyCompromise)
SELECT alert_id AS dev FROM sealpg.alerts WHERE rule = 'unknown_device' \gset
SELECT count(sealpg.confirm_safe(alert_id, 'reviewed')) AS closed FROM sealpg.alerts
 WHERE state = 'open' AND alert_id <> :'dev';
SELECT sealpg.status('ES-ANOM-1') AS before_compromise;

-- replay: detect() over history finds the same hits, without de-duplication
SELECT rule, count(*) AS hits FROM sealpg.detect('ES-ANOM-1', '-infinity', 'infinity') GROUP BY rule ORDER BY rule;
SELECT count(*) AS hits_on_13th FROM sealpg.detect('ES-ANOM-1', '2026-11-13 00:00+08', '2026-11-14 00:00+08');
SELECT public.try('SELECT * FROM sealpg.detect(''ES-ANOM-1'', ''2026-12-01'', ''2026-11-01'')');
-- window statistics per day
SELECT window_start, uses, operators, devices, max_per_minute, round(force_mean::numeric, 1) AS force, alerts
  FROM sealpg.window_stats('ES-ANOM-1', '2026-11-11 00:00+08', '2026-11-14 00:00+08', '1 day');

-- rebuild_profiles() replays the stored uses into the same state
SELECT state AS live_state FROM sealpg.seal_profiles WHERE seal_id = :'seal' \gset
SELECT sealpg.rebuild_profiles('ES-ANOM-1') AS rebuilt;
SELECT state = :'live_state'::bytea AS same_state, rebuilt_at IS NOT NULL AS marked
  FROM sealpg.seal_profiles WHERE seal_id = :'seal';

-- disabled rules and per-seal settings override the organisation's
INSERT INTO sealpg.rule_settings (organisation_id, seal_id, disabled_rules)
	VALUES (:'org', :'seal', '{off_hours}');
SELECT sealpg.record_use('ES-ANOM-1', '2026-11-14 03:00+08', 31.2304, 121.4737, 15, 'anomaly_alice', 'dev-1', 45, 50) IS NOT NULL AS at_3am_on_saturday;
SELECT count(*) AS off_hours_alerts_on_14th FROM sealpg.alerts WHERE rule = 'off_hours' AND first_seen_at >= '2026-11-13 16:00';

SELECT sealpg.confirm_compromised(:'dev', 'device was cloned');
SELECT status, status_reason LIKE 'keyCompromise%device was cloned' AS reason FROM sealpg.seals WHERE es_id = 'ES-ANOM-1';
SELECT public.try(format('SELECT sealpg.confirm_compromised(%L, %L)', :'dev', 'again'));

-- duplicates: the same (device_id, device_seq) is stored once
-- (a fixed seal_id, for COPY below)
INSERT INTO sealpg.seals (seal_id, es_id, name, kind, organisation_id, valid_from, valid_until, device_id)
	VALUES ('5ea10000-0000-4000-8000-000000000002', 'ES-ANOM-2', 'second seal', 'personal', :'org',
			'2026-01-01', '2030-01-01', 'dev-2')
	RETURNING seal_id AS seal2 \gset
SELECT sealpg.record_use('ES-ANOM-2', '2026-11-20 10:00+00', device_id => 'dev-2', device_seq => 1) AS first_id \gset
SELECT sealpg.record_use('ES-ANOM-2', '2026-11-20 10:00+00', device_id => 'dev-2', device_seq => 1) = :'first_id' AS same_id;
SELECT public.try(format('INSERT INTO sealpg.use_events (seal_id, occurred_at, device_id, device_seq) VALUES (%L, %L, %L, 1)',
	:'seal2', '2026-11-20 10:00+00', 'dev-2'));
INSERT INTO sealpg.use_events (seal_id, occurred_at, device_id, device_seq)
	VALUES (:'seal2', '2026-11-20 10:00+00', 'dev-2', 1) ON CONFLICT DO NOTHING;
SELECT count(*) AS stored_once FROM sealpg.use_events WHERE device_id = 'dev-2';
SELECT events FROM sealpg.seal_profiles WHERE seal_id = :'seal2';
SELECT public.try(format('SELECT sealpg.record_use(%L, %L, device_id => %L, device_seq => 1)', 'ES-ANOM-1', '2026-11-20 10:00+00', 'dev-2'));

-- COPY goes through the same rules
COPY sealpg.use_events (seal_id, occurred_at, device_id, device_seq) FROM stdin;
5ea10000-0000-4000-8000-000000000002	2026-11-20 10:01:00+00	dev-2	2
5ea10000-0000-4000-8000-000000000002	2026-11-20 10:02:00+00	dev-2	5
\.
SELECT rule, details FROM sealpg.alerts WHERE seal_id = :'seal2' ORDER BY first_seen_at;

-- bad input: each refused with its own SQLSTATE, nothing stored
SELECT public.try('SELECT sealpg.record_use(''NO-SUCH-SEAL'', now())');
SELECT public.try('INSERT INTO sealpg.use_events (seal_id, occurred_at) VALUES (''00000000-0000-0000-0000-000000000000'', now())');
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), 91, 0)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), 0, -180.5)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), 10, NULL)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), 10, 10, -5)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now() + interval ''1 hour'')', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), force_n => -1)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), ''NaN'', 10)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), force_n => ''Infinity'')', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, ''infinity'')', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), device_seq => 3)', 'ES-ANOM-2'));
SELECT public.try(format('SELECT sealpg.record_use(%L, now(), device_id => %L, device_seq => -3)', 'ES-ANOM-2', 'dev-2'));
SELECT public.try(format('INSERT INTO sealpg.use_events (seal_id, occurred_at, source) VALUES (%L, now(), %L)', :'seal2', 'telepathy'));
SET sealpg.max_clock_skew = '2h';
SELECT public.try(format('SELECT sealpg.record_use(%L, now() + interval ''1 hour'')', 'ES-ANOM-2'));
RESET sealpg.max_clock_skew;
SELECT count(*) AS stored FROM sealpg.use_events WHERE seal_id = :'seal2';

-- raise_alert: the SQL entry of the same path (used by check_silent_devices)
SELECT public.try(format('SELECT sealpg.raise_alert(%L, %L, %L, 50)', :'seal2', 'no_such_rule', 'info'));
SELECT public.try(format('SELECT sealpg.raise_alert(%L, %L, %L, 101)', :'seal2', 'silent_device', 'info'));
UPDATE sealpg.seal_profiles SET last_event_at = now() - interval '30 days' WHERE seal_id = :'seal2';
SELECT sealpg.check_silent_devices() AS silent;
SELECT sealpg.check_silent_devices() AS silent_again;
SELECT rule, severity, risk_score, details->>'device_id' AS device FROM sealpg.alerts WHERE seal_id = :'seal2' AND rule = 'silent_device';

-- the jobs pg_cron runs (sealpg.schedule_jobs() schedules them)
SELECT job_name, schedule, command FROM sealpg.jobs WHERE job_name IN ('sealpg-rebuild-profiles', 'sealpg-silent-devices') ORDER BY job_name;

-- an alert raised in a transaction that rolls back is still recorded
-- (by the deferred writer), and its seal frozen
SELECT sealpg.create_seal('ES-ANOM-3', 'third seal', 'personal', :'org', valid_from => '2026-01-01',
	valid_until => '2030-01-01', device_id => 'dev-3') AS seal3 \gset
BEGIN;
SELECT sealpg.record_use('ES-ANOM-3', '2026-11-20 10:00+00', device_id => 'dev-stranger') IS NOT NULL AS recorded;
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-3';
ROLLBACK;
CREATE FUNCTION public.wait_for_alert(seal uuid) RETURNS boolean LANGUAGE plpgsql AS $$
BEGIN
	FOR i IN 1..200 LOOP
		IF EXISTS (SELECT 1 FROM sealpg.alerts WHERE seal_id = seal) THEN
			RETURN true;
		END IF;
		PERFORM pg_sleep(0.1);
	END LOOP;
	RETURN false;
END $$;
SELECT public.wait_for_alert(:'seal3') AS alert_kept;
SELECT rule, severity, cardinality(event_ids) AS events FROM sealpg.alerts WHERE seal_id = :'seal3';
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-3';
SELECT count(*) AS rolled_back_uses FROM sealpg.use_events WHERE seal_id = :'seal3';
-- the same when only a subtransaction (an EXCEPTION block) rolls back
SELECT sealpg.create_seal('ES-ANOM-4', 'fourth seal', 'personal', :'org', valid_from => '2026-01-01',
	valid_until => '2030-01-01', device_id => 'dev-4') AS seal4 \gset
DO $$
BEGIN
	PERFORM sealpg.record_use('ES-ANOM-4', '2026-11-20 10:00+00', device_id => 'dev-stranger');
	RAISE EXCEPTION 'the caller fails after the alert';
EXCEPTION WHEN raise_exception THEN
	NULL;
END $$;
SELECT public.wait_for_alert(:'seal4') AS alert_kept;
SELECT rule, severity FROM sealpg.alerts WHERE seal_id = :'seal4';
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ANOM-4';
-- a committed alert is not stored twice by the deferred writer
SELECT sealpg.record_use('ES-ANOM-2', '2026-11-21 10:00+00', device_id => 'dev-other') IS NOT NULL AS recorded;
SELECT pg_sleep(0.5);
SELECT count(*) AS unknown_device_alerts FROM sealpg.alerts WHERE seal_id = :'seal2' AND rule = 'unknown_device';

-- haversine
SELECT round(sealpg.haversine_m(31.2304, 121.4737, 39.9042, 116.4074)) AS shanghai_beijing_m;

DROP FUNCTION public.try(text);
DROP FUNCTION public.wait_for_alert(uuid);
\c contrib_regression
SET client_min_messages = warning;
DROP DATABASE sealpg_anomaly_regress WITH (FORCE);
