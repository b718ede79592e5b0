-- the registry: validation of seals, the status machine, the history
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- fixtures: one organisation, one calendar
SELECT sealpg.create_organisation('Acme Trading') IS NOT NULL AS created;
SELECT organisation_id AS acme FROM sealpg.organisations WHERE name = 'Acme Trading' \gset
SELECT sealpg.create_calendar(:'acme', 'office', '{1,2,3,4,5}', '09:00', '17:30') AS office \gset

-- a good seal
SELECT sealpg.create_seal('ES-ACME-0001', 'Acme company seal', 'organisation', :'acme',
	valid_from => '2026-01-01', valid_until => '2030-01-01', holder => 'Legal dept.',
	time_zone => 'Asia/Shanghai', home_latitude => 31.2304, home_longitude => 121.4737,
	home_radius_m => 500, device_id => 'smartseal:0001', calendar => :'office') IS NOT NULL AS created;
SELECT es_id, name, kind, holder, time_zone, home_latitude, home_longitude, home_radius_m,
	   device_id, status, valid_from, valid_until
  FROM sealpg.seals WHERE es_id = 'ES-ACME-0001';
SELECT sealpg.status('ES-ACME-0001');

-- bad input, each refused with its own SQLSTATE
\set ON_ERROR_STOP 0
-- unknown time zone, a POSIX offset, an abbreviation that is not a zone file
SELECT sealpg.create_seal('ES-BAD-1', 'x', 'personal', :'acme', '2030-01-01', time_zone => 'Mars/Olympus_Mons');
SELECT sealpg.create_seal('ES-BAD-2', 'x', 'personal', :'acme', '2030-01-01', time_zone => 'UTC+3');
SELECT sealpg.create_seal('ES-BAD-3', 'x', 'personal', :'acme', '2030-01-01', time_zone => '');
-- coordinates and radius
SELECT sealpg.create_seal('ES-BAD-4', 'x', 'personal', :'acme', '2030-01-01', home_latitude => 90.5, home_longitude => 0);
SELECT sealpg.create_seal('ES-BAD-5', 'x', 'personal', :'acme', '2030-01-01', home_latitude => -91, home_longitude => 0);
SELECT sealpg.create_seal('ES-BAD-6', 'x', 'personal', :'acme', '2030-01-01', home_latitude => 0, home_longitude => 180.01);
SELECT sealpg.create_seal('ES-BAD-7', 'x', 'personal', :'acme', '2030-01-01', home_latitude => 0, home_longitude => 'NaN');
SELECT sealpg.create_seal('ES-BAD-8', 'x', 'personal', :'acme', '2030-01-01', home_latitude => 10, home_longitude => 10, home_radius_m => -1);
SELECT sealpg.create_seal('ES-BAD-9', 'x', 'personal', :'acme', '2030-01-01', home_latitude => 10);
-- validity window
SELECT sealpg.create_seal('ES-BAD-10', 'x', 'personal', :'acme', valid_from => '2030-01-01', valid_until => '2029-12-31');
SELECT sealpg.create_seal('ES-BAD-11', 'x', 'personal', :'acme', valid_from => '2030-01-01', valid_until => '2030-01-01');
-- unknown organisation, calendar of nobody, malformed esID, duplicate esID, unknown kind
SELECT sealpg.create_seal('ES-BAD-12', 'x', 'personal', '00000000-0000-0000-0000-000000000000', '2030-01-01');
SELECT sealpg.create_seal('ES-BAD-13', 'x', 'personal', :'acme', '2030-01-01', calendar => '00000000-0000-0000-0000-000000000000');
SELECT sealpg.create_seal('has space', 'x', 'personal', :'acme', '2030-01-01');
SELECT sealpg.create_seal('ES-ACME-0001', 'again', 'personal', :'acme', '2030-01-01');
SELECT sealpg.create_seal('ES-BAD-14', 'x', 'chancellor', NULL, '2030-01-01');
-- plain INSERTs go through the same guard
INSERT INTO sealpg.seals (es_id, name, kind, organisation_id, valid_until, time_zone)
	VALUES ('ES-BAD-15', 'x', 'personal', :'acme', '2030-01-01', 'Nowhere/Land');
INSERT INTO sealpg.seals (es_id, name, kind, organisation_id, valid_until, status)
	VALUES ('ES-BAD-16', 'x', 'personal', :'acme', '2030-01-01', 'revoked');
-- a calendar that ends before it starts, or works on day 8
SELECT sealpg.create_calendar(:'acme', 'night', '{1}', '18:00', '08:00');
SELECT sealpg.create_calendar(:'acme', 'week8', '{8}');
-- nothing of the refused seals was written
SELECT count(*) AS refused_seals_written FROM sealpg.seals WHERE es_id LIKE 'ES-BAD-%';
\set ON_ERROR_STOP 1

-- the status machine
SELECT sealpg.set_status('ES-ACME-0001', 'frozen', 'checking a report');
SELECT sealpg.set_status('ES-ACME-0001', 'active', 'report was wrong');
\set ON_ERROR_STOP 0
SELECT sealpg.set_status('ES-ACME-0001', 'expired', 'too early');
SELECT sealpg.set_status('NO-SUCH-SEAL', 'frozen', 'x');
\set ON_ERROR_STOP 1
SELECT sealpg.set_status('ES-ACME-0001', 'revoked', 'stolen');
\set ON_ERROR_STOP 0
SELECT sealpg.set_status('ES-ACME-0001', 'active', 'found it');
SELECT sealpg.set_status('ES-ACME-0001', 'frozen', 'found it');
UPDATE sealpg.seals SET status = 'active' WHERE es_id = 'ES-ACME-0001';
\set ON_ERROR_STOP 1
SELECT status, status_reason FROM sealpg.seals WHERE es_id = 'ES-ACME-0001';

-- the history holds each transition once, in order, with its actor
SELECT h.old_status, h.new_status, h.reason, h.actor = current_user AS by_me
  FROM sealpg.seal_status_history h JOIN sealpg.seals s USING (seal_id)
 WHERE s.es_id = 'ES-ACME-0001' ORDER BY h.history_id;

-- expiry: only once the window has ended; expire_seals() finds those
SELECT sealpg.create_seal('ES-ACME-0002', 'short-lived', 'contract', :'acme',
	valid_from => now() - interval '2 days', valid_until => now() - interval '1 day') IS NOT NULL AS created;
SELECT sealpg.status('ES-ACME-0002') AS status_before_job;
SELECT sealpg.expire_seals() AS expired;
SELECT sealpg.expire_seals() AS expired_again;
\set ON_ERROR_STOP 0
SELECT sealpg.set_status('ES-ACME-0002', 'active', 'revive');
\set ON_ERROR_STOP 1
SELECT status FROM sealpg.seals WHERE es_id = 'ES-ACME-0002';

-- is_time_zone: IANA names yes, offsets and abbreviations no
SELECT z, sealpg.is_time_zone(z) FROM unnest(ARRAY['Europe/Paris', 'UTC', 'Etc/GMT+3',
	'America/Argentina/Buenos_Aires', 'UTC+3', 'EST5', '<+03>-3', ':Europe/Paris', 'europe/paris', 'Nowhere/Land']) z;

-- jobs: pg_cron is not in this database, so scheduling says what to do
\set ON_ERROR_STOP 0
SELECT sealpg.schedule_jobs();
\set ON_ERROR_STOP 1
SELECT job_name, schedule, command FROM sealpg.jobs WHERE job_name = 'sealpg-expire';
