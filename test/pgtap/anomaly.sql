-- pgTAP: anomaly detection's SQLSTATEs and privileges
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET client_min_messages = warning;
CREATE EXTENSION IF NOT EXISTS sealpg;
RESET client_min_messages;
SELECT plan(28);

SET client_min_messages = warning;
CREATE ROLE tap_admin_a;
CREATE ROLE tap_admin_b;
CREATE ROLE tap_op_a;
CREATE ROLE tap_op_b;
CREATE ROLE tap_auditor_a;
GRANT sealpg_admin TO tap_admin_a, tap_admin_b;
GRANT sealpg_operator TO tap_op_a, tap_op_b;
GRANT sealpg_auditor TO tap_auditor_a;

SELECT sealpg.create_organisation('TAP Anomaly A', admin => 'tap_admin_a') AS org_a \gset
SELECT sealpg.create_organisation('TAP Anomaly B', admin => 'tap_admin_b') AS org_b \gset
SELECT sealpg.add_member(:'org_a', 'tap_op_a');
SELECT sealpg.add_member(:'org_a', 'tap_auditor_a');
SELECT sealpg.add_member(:'org_b', 'tap_op_b');
SELECT sealpg.create_seal('TAP-A1', 'a1', 'contract', :'org_a', now() + interval '1 year',
	valid_from => now() - interval '1 year', device_id => 'tap-dev-a1') AS a1 \gset
SELECT sealpg.create_seal('TAP-A2', 'a2', 'contract', :'org_a', now() + interval '1 year',
	valid_from => now() - interval '1 year') AS a2 \gset
INSERT INTO sealpg.seal_operators (seal_id, operator, granted_by) VALUES (:'a1', 'tap_op_a', 'tap_admin_a');

-- SQLSTATEs of bad uses
SELECT throws_ok($$SELECT sealpg.record_use('TAP-NOPE', now())$$, 'SE007', NULL, 'unknown seal: SE007');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now(), 95, 10)$$, 'SE601', NULL, 'latitude out of range: SE601');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now(), 10, NULL)$$, 'SE601', NULL, 'latitude without longitude: SE601');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now() + interval '1 day')$$, 'SE602', NULL, 'dated in the future: SE602');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now(), force_n => -0.5)$$, 'SE603', NULL, 'negative force: SE603');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now(), 'NaN', 1)$$, 'SE604', NULL, 'NaN: SE604');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now(), device_seq => 1)$$, 'SE605', NULL, 'sequence without device: SE605');
SELECT throws_ok($$SELECT sealpg.confirm_safe(gen_random_uuid(), 'x')$$, 'SE606', NULL, 'unknown alert: SE606');
SELECT throws_ok(format($$INSERT INTO sealpg.use_events (seal_id, occurred_at, device_id, device_seq)
	VALUES (%L, now(), 'tap-dev-a1', 1), (%L, now(), 'tap-dev-a1', 1)$$, :'a1', :'a1'),
	'23505', NULL, 'a device sequence number twice in plain INSERT: 23505');

-- an operator records uses of the seal it is granted, by function or INSERT
SET ROLE tap_op_a;
SELECT lives_ok($$SELECT sealpg.record_use('TAP-A1', now(), device_id => 'tap-dev-a1', device_seq => 10)$$,
	'a granted operator records a use');
SELECT lives_ok(format($$INSERT INTO sealpg.use_events (seal_id, occurred_at, device_id, device_seq)
	VALUES (%L, now(), 'tap-dev-a1', 11)$$, :'a1'), 'a granted operator INSERTs a use');
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A2', now())$$, 'SE004', NULL,
	'an operator of the organisation without a grant on the seal: SE004');
SELECT throws_ok(format($$INSERT INTO sealpg.use_events (seal_id, occurred_at) VALUES (%L, now())$$, :'a2'),
	'42501', NULL, 'plain INSERT for a seal not granted: refused by row-level security');
SELECT throws_ok($$SELECT sealpg.confirm_safe(gen_random_uuid(), 'x')$$, '42501', NULL,
	'operators do not confirm alerts');
SELECT throws_ok($$SELECT * FROM sealpg.detect('TAP-A1', '-infinity', 'infinity')$$, '42501', NULL,
	'operators do not replay history');
SELECT is((SELECT count(*) FROM sealpg.use_events WHERE seal_id = :'a1'), 2::bigint,
	'the operator sees the uses of its organisation');
RESET ROLE;

-- a use from a stranger device raises a critical alert and freezes the seal
SELECT sealpg.record_use('TAP-A1', now(), device_id => 'tap-dev-evil') AS evil \gset
SELECT alert_id AS alert FROM sealpg.alerts WHERE seal_id = :'a1' AND rule = 'unknown_device' \gset
SELECT is(sealpg.status('TAP-A1'), 'frozen'::sealpg.seal_status, 'a critical alert froze the seal');

-- another organisation sees nothing
SET ROLE tap_op_b;
SELECT throws_ok($$SELECT sealpg.record_use('TAP-A1', now())$$, 'SE007', NULL,
	'another organisation''s operator: the seal does not exist');
SELECT is((SELECT count(*) FROM sealpg.use_events), 0::bigint, 'no uses of another organisation');
SELECT is((SELECT count(*) FROM sealpg.alerts), 0::bigint, 'no alerts of another organisation');
SELECT is((SELECT count(*) FROM sealpg.seal_profiles), 0::bigint, 'no profiles of another organisation');
RESET ROLE;
SET ROLE tap_admin_b;
SELECT throws_ok(format($$SELECT sealpg.confirm_safe(%L, 'not mine')$$, :'alert'), 'SE606', NULL,
	'another organisation''s admin cannot confirm: the alert does not exist');
RESET ROLE;

-- the auditor replays; the admin confirms and unfreezes
SET ROLE tap_auditor_a;
SELECT ok((SELECT count(*) FROM sealpg.detect('TAP-A1', '-infinity', 'infinity') WHERE rule = 'unknown_device') = 1,
	'an auditor replays the rules over history');
SELECT throws_ok(format($$SELECT sealpg.confirm_safe(%L, 'x')$$, :'alert'), '42501', NULL,
	'auditors do not confirm alerts');
RESET ROLE;
SET ROLE tap_admin_a;
SELECT is(sealpg.confirm_safe(:'alert', 'test device'), 'active'::sealpg.seal_status,
	'the organisation''s admin confirms safe: the seal is active again');
SELECT throws_ok(format($$SELECT sealpg.confirm_safe(%L, 'twice')$$, :'alert'), 'SE607', NULL,
	'an alert is resolved once: SE607');
RESET ROLE;

-- internal functions are not for PUBLIC
SELECT ok(NOT has_function_privilege('tap_admin_a',
	'sealpg.raise_alert(uuid, text, sealpg.alert_severity, integer, uuid[], jsonb)', 'EXECUTE'),
	'raise_alert is internal');
SELECT ok(NOT has_function_privilege('tap_admin_a', 'sealpg.alert_deferred(jsonb)', 'EXECUTE'),
	'alert_deferred is for the deferred writer only');

SELECT * FROM finish();
ROLLBACK;
