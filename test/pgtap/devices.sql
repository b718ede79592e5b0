-- pgTAP: device bindings, presence events, alerts, stamp records, SE103,
-- privileges and row-level security of piece 70
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(51);

CREATE ROLE tap_dev_admin_a LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_dev_admin_b LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_dev_oper_a LOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_dev_outsider LOGIN;

-- a 65-byte uncompressed point (its value does not matter to the database)
CREATE TEMP TABLE k AS SELECT ('\x04' || repeat('ab', 64))::bytea AS pub;
GRANT SELECT ON k TO PUBLIC;

SET LOCAL ROLE tap_dev_admin_a;
SELECT sealpg.create_organisation('TAP Dev Org A') IS NOT NULL AS org_a \gset
SELECT lives_ok($$SELECT sealpg.create_seal('TAP-DEV-1', 'Finance seal', 'finance',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Dev Org A'), now() + interval '1 year')$$,
	'admin A creates a seal');
SELECT lives_ok($$SELECT sealpg.create_seal('TAP-DEV-2', 'Contract seal', 'contract',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Dev Org A'), now() + interval '1 year')$$,
	'and a second one');
SELECT lives_ok($$SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Dev Org A'),
	'tap_dev_oper_a')$$, 'and adds an operator');
SELECT lives_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'chip', 'SC-TAP-1', 'host-a', token_label => 'tap-token-1')$$,
	'admin A binds a chip to host-a');
SELECT lives_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'smartseal', 'SS-TAP-1', 'host-a', (SELECT pub FROM k))$$,
	'and a smart seal with its public key');
SELECT is((SELECT device_id FROM sealpg.seals WHERE es_id = 'TAP-DEV-1'), 'SS-TAP-1',
	'the smart seal becomes the seal''s device for the anomaly rules');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'smartseal', 'SS-TAP-2', 'host-a')$$, '22023', NULL,
	'a smart seal without its key is refused');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'chip', 'SC-TAP-2', 'host-a', '\x0102'::bytea)$$, '22023', NULL,
	'a chip with a key is refused');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'chip', 'bad serial', 'host-a')$$, '22023', NULL,
	'a serial with a space is refused');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'dongle', 'X1', 'host-a')$$, '22023', NULL,
	'an unknown kind is refused');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-2', 'chip', 'SC-TAP-1', 'host-a')$$, '23505', NULL,
	'a chip bound to one seal cannot be bound to another');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-9', 'chip', 'SC-TAP-9', 'host-a')$$, 'SE007', NULL,
	'binding to a seal that does not exist: SE007');
RESET ROLE;

SET LOCAL ROLE tap_dev_admin_b;
SELECT lives_ok($$SELECT sealpg.create_organisation('TAP Dev Org B')$$, 'admin B creates another organisation');
SELECT throws_ok($$SELECT sealpg.bind_device('TAP-DEV-1', 'chip', 'SC-TAP-B', 'host-b')$$, 'SE301', NULL,
	'admin B cannot bind devices to A''s seal');
SELECT is((SELECT count(*) FROM sealpg.devices), 0::bigint, 'admin B sees none of A''s devices');
SELECT throws_ok($$SELECT sealpg.require_token_present('TAP-DEV-1')$$, 'SE007', NULL,
	'nor asks about the chip of A''s seal');
RESET ROLE;

SET LOCAL ROLE tap_dev_oper_a;
SELECT throws_ok($$SELECT sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'left', now())$$, '42501', NULL,
	'an operator cannot report device events');
SELECT is((SELECT count(*) FROM sealpg.devices), 2::bigint, 'the operator of A sees A''s two devices');
RESET ROLE;
SET LOCAL ROLE tap_dev_outsider;
SELECT throws_ok($$SELECT sealpg.device_public_key('host-a', 'SS-TAP-1')$$, '42501', NULL,
	'an outsider cannot read device keys');
RESET ROLE;

-- the agent reports
SET LOCAL ROLE sealpg_agent;
SELECT is(sealpg.device_public_key('host-a', 'SS-TAP-1'), (SELECT pub FROM k), 'the agent reads the registered key');
SELECT is(sealpg.device_public_key('host-a', 'SS-NOBODY'), NULL, 'no key for an unbound smart seal');
SELECT ok(sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'present', now() - interval '1 hour') > 0,
	'the agent reports the chip present on its host');
SELECT ok(sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'present', now() - interval '1 hour') > 0,
	'the same event replayed from the spool is accepted');
RESET ROLE;
SELECT is((SELECT count(*) FROM sealpg.device_events WHERE serial = 'SC-TAP-1'), 1::bigint, 'and stored once');
SELECT is(sealpg.token_present('tap-token-1'), true, 'the token is present');
SELECT is(sealpg.token_present('tap-token-unbound'), NULL, 'presence of a token without a bound chip is unknown');
SELECT lives_ok($$SELECT sealpg.require_token_present('TAP-DEV-1')$$, 'signing may proceed');
SELECT is((SELECT count(*) FROM sealpg.device_events WHERE serial = 'SC-TAP-1' AND alert_rule IS NOT NULL),
	0::bigint, 'a chip on its own host raises nothing');

-- with anomaly detection (piece 50) stamps become uses and alerts go to
-- sealpg.alerts; without it, verified stamps stay on the device
SELECT to_regprocedure('sealpg.record_use(text, timestamptz, double precision, double precision, real, text, text, bigint, real, bytea)')
	IS NOT NULL AS has_anomaly \gset

-- stamp records
SET LOCAL ROLE sealpg_agent;
\if :has_anomaly
SELECT sealpg.device_record('host-a', 'SS-TAP-1', 1, now() - interval '50 minutes', 52.52, 13.405, 8, 41.2,
	'OP-1', '\x5353523101', '\x00', true) AS first_use \gset
SELECT isnt(:'first_use'::text, ''::text, 'a verified record becomes a use');
SELECT is(sealpg.device_record('host-a', 'SS-TAP-1', 1, now() - interval '50 minutes', 52.52, 13.405, 8, 41.2,
	'OP-1', '\x5353523101', '\x00', true)::text, :'first_use'::text, 'read twice, it is the same use');
RESET ROLE;
SELECT is((SELECT count(*) FROM sealpg.use_events u JOIN sealpg.seals s USING (seal_id)
			WHERE s.es_id = 'TAP-DEV-1' AND u.device_id = 'SS-TAP-1' AND u.device_seq = 1 AND u.source = 'physical'),
	1::bigint, 'the use log holds the stamp with its device and sequence number');
SET LOCAL ROLE sealpg_agent;
\else
SELECT throws_ok($$SELECT sealpg.device_record('host-a', 'SS-TAP-1', 1, now(), NULL, NULL, NULL, NULL, NULL,
	'\x00', '\x00', true)$$, '42883', NULL,
	'without anomaly detection a verified record is not taken (it stays on the device)');
SELECT skip('anomaly detection (piece 50) is not installed', 2);
\endif
SELECT is(sealpg.device_record('host-a', 'SS-TAP-1', 2, now() - interval '40 minutes', 52.52, 13.405, 8, 43.0,
	'OP-1', '\x5353523102', '\x00', false), NULL, 'a badly signed record becomes no use');
SELECT throws_ok($$SELECT sealpg.device_record('host-a', 'SS-NOBODY', 1, now(), NULL, NULL, NULL, NULL, NULL,
	'\x00', '\x00', true)$$, 'SE501', NULL, 'a record of an unbound smart seal: SE501 (it stays on the device)');
RESET ROLE;
SELECT is((SELECT verified FROM sealpg.device_records WHERE seq = 2), false, 'the bad record is kept as evidence');
\if :has_anomaly
SELECT is((SELECT severity::text FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
			WHERE s.es_id = 'TAP-DEV-1' AND a.details->>'cause' = 'device_bad_record'), 'critical',
	'and raised a critical alert');
SELECT sealpg.confirm_safe((SELECT alert_id FROM sealpg.alerts WHERE details->>'cause' = 'device_bad_record'), 'test')
	IS NOT NULL AS unfrozen \gset
\else
SELECT skip('anomaly detection (piece 50) is not installed', 1);
\endif

-- the chip leaves, then turns up elsewhere
SET LOCAL ROLE sealpg_agent;
SELECT ok(sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'left', now() - interval '30 minutes') > 0,
	'the agent reports the chip gone');
RESET ROLE;
SELECT is((SELECT alert_rule FROM sealpg.device_events WHERE serial = 'SC-TAP-1' AND event = 'left'), 'device_left',
	'the departure raised a device_left alert');
\if :has_anomaly
SELECT is((SELECT a.details->>'cause' FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
			WHERE s.es_id = 'TAP-DEV-1' AND a.rule = 'silent_device'), 'device_left',
	'the seal has an alert saying its chip left');
\else
SELECT skip('anomaly detection (piece 50) is not installed', 1);
\endif
SELECT is(sealpg.token_present('tap-token-1'), false, 'the token is absent');
SELECT throws_ok($$SELECT sealpg.require_token_present('TAP-DEV-1')$$, 'SE103', NULL,
	'signing with the chip gone is refused with SE103');
SET LOCAL ROLE sealpg_agent;
SELECT ok(sealpg.device_event('host-x', 'chip', 4617, 5, 'SC-TAP-1', 'arrived', now() - interval '20 minutes') > 0,
	'the chip arrives on another host');
SELECT ok(sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'present', now() - interval '25 minutes') > 0,
	'an older event arriving late');
RESET ROLE;
SELECT is((SELECT host FROM sealpg.device_presence WHERE serial = 'SC-TAP-1'), 'host-x',
	'does not override the newer presence');
SELECT is((SELECT alert_rule FROM sealpg.device_events WHERE serial = 'SC-TAP-1' AND host = 'host-x'),
	'device_wrong_host', 'a chip on the wrong host raises a device_wrong_host alert');
\if :has_anomaly
SELECT is((SELECT severity::text FROM sealpg.alerts a JOIN sealpg.seals s USING (seal_id)
			WHERE s.es_id = 'TAP-DEV-1' AND a.details->>'cause' = 'device_wrong_host' AND a.state = 'open'), 'critical',
	'a critical one');
\else
SELECT skip('anomaly detection (piece 50) is not installed', 1);
\endif
SELECT throws_ok($$SELECT sealpg.require_token_present('TAP-DEV-1')$$, 'SE103', NULL,
	'and signing is refused with SE103 while it is there');

-- an agent's start-up scan misses the chip on host-x: it left meanwhile
SET LOCAL ROLE sealpg_agent;
SELECT is(sealpg.device_scan('host-x', 'chip', '{}', now() - interval '10 minutes'), 1,
	'a start-up scan of host-x without the chip records its departure');
SELECT is(sealpg.device_scan('host-x', 'chip', '{}', now() - interval '5 minutes'), 0,
	'a second scan has nothing more to record');
RESET ROLE;
SELECT is((SELECT present FROM sealpg.device_presence WHERE serial = 'SC-TAP-1'), false, 'the chip is absent');

-- malformed reports
SET LOCAL ROLE sealpg_agent;
SELECT throws_ok($$SELECT sealpg.device_event('host-a', 'chip', 4617, 5, 'SC-TAP-1', 'exploded', now())$$, '22023', NULL,
	'an unknown event is refused (the agent skips it)');
SELECT throws_ok($$SELECT sealpg.device_event('host-a', 'chip', 70000, 5, 'SC-TAP-1', 'left', now())$$, '22023', NULL,
	'a vendor id over 65535 is refused');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
