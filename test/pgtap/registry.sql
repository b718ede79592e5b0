-- pgTAP: privileges, row-level security and SQLSTATEs of the registry
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(31);

-- roles of two organisations (rolled back at the end)
CREATE ROLE tap_admin_a LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_admin_b LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_oper_a LOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_outsider LOGIN;

SET LOCAL ROLE tap_admin_a;
SELECT lives_ok($$SELECT sealpg.create_organisation('TAP Org A')$$, 'an admin creates an organisation');
SELECT lives_ok($$SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), 'tap_oper_a')$$,
	'its admin adds an operator');
SELECT lives_ok($$SELECT sealpg.create_seal('TAP-A-1', 'A seal', 'finance',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() + interval '1 year')$$,
	'its admin creates a seal');
SELECT lives_ok($$SELECT sealpg.grant_seal('TAP-A-1', 'tap_oper_a', max_uses => 3)$$, 'its admin grants the seal');
RESET ROLE;

SET LOCAL ROLE tap_admin_b;
SELECT lives_ok($$SELECT sealpg.create_organisation('TAP Org B')$$, 'another admin creates another organisation');
SELECT is((SELECT count(*) FROM sealpg.seals WHERE es_id = 'TAP-A-1'), 0::bigint,
	'an admin of B does not see A''s seal');
SELECT is((SELECT count(*) FROM sealpg.organisations WHERE name = 'TAP Org A'), 0::bigint,
	'an admin of B does not see organisation A');
SELECT is((SELECT count(*) FROM sealpg.seal_status_history h JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-A-1'),
	0::bigint, 'nor its history');
SELECT throws_ok($$SELECT sealpg.set_status('TAP-A-1', 'frozen', 'hostile')$$, 'SE301', NULL,
	'an admin of B cannot freeze A''s seal');
SELECT throws_ok($$SELECT sealpg.grant_seal('TAP-A-1', 'tap_admin_b')$$, 'SE301', NULL,
	'an admin of B cannot grant himself A''s seal');
SELECT throws_ok($$SELECT sealpg.create_seal('TAP-B-X', 'x', 'personal',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() + interval '1 year')$$,
	'23503', NULL, 'an organisation one cannot see does not exist for him');
SELECT throws_ok($$SELECT sealpg.status('TAP-A-1')$$, 'SE007', NULL, 'status of an unseen seal: does not exist');
SELECT throws_ok($$UPDATE sealpg.seals SET status = 'frozen'$$, '42501', NULL, 'tables are not written directly');
SELECT throws_ok($$INSERT INTO sealpg.organisations (name) VALUES ('sneaky')$$, '42501', NULL, 'nor inserted into');
RESET ROLE;

SET LOCAL ROLE tap_oper_a;
SELECT is((SELECT count(*) FROM sealpg.seals WHERE es_id = 'TAP-A-1'), 1::bigint, 'the operator of A sees A''s seal');
SELECT is((SELECT max_uses FROM sealpg.seal_operators o JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-A-1'),
	3, 'and his grant');
SELECT is(sealpg.status('TAP-A-1'), 'active'::sealpg.seal_status, 'and its status');
SELECT throws_ok($$SELECT sealpg.set_status('TAP-A-1', 'frozen', 'x')$$, '42501', NULL,
	'an operator may not call set_status at all');
SELECT throws_ok($$SELECT sealpg.create_organisation('Oper Org')$$, '42501', NULL,
	'nor create organisations');
RESET ROLE;

SET LOCAL ROLE tap_outsider;
SELECT throws_ok($$SELECT count(*) FROM sealpg.seals$$, '42501', NULL, 'a role outside sealpg reads nothing');
SELECT throws_ok($$SELECT sealpg.status('TAP-A-1')$$, '42501', NULL, 'and calls nothing');
SELECT throws_ok($$SELECT sealpg.defer('sealpg.expire_seals', '{}')$$, '42501', NULL, 'least of all defer');
RESET ROLE;

-- the state machine's SQLSTATE, and nothing half-written
SET LOCAL ROLE tap_admin_a;
SELECT lives_ok($$SELECT sealpg.set_status('TAP-A-1', 'revoked', 'keyCompromise')$$, 'A revokes its seal');
SELECT throws_ok($$SELECT sealpg.set_status('TAP-A-1', 'active', 'undo')$$, 'SE006', NULL, 'revoked is terminal');
SELECT throws_ok($$SELECT sealpg.create_seal('TAP-A-2', 'x', 'personal',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() + interval '1 year',
	time_zone => 'Atlantis/Capital')$$, '22023', NULL, 'unknown time zone: 22023');
SELECT throws_ok($$SELECT sealpg.create_seal('TAP-A-2', 'x', 'personal',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() + interval '1 year',
	home_latitude => 95, home_longitude => 0)$$, '22003', NULL, 'latitude out of range: 22003');
SELECT throws_ok($$SELECT sealpg.create_seal('TAP-A-2', 'x', 'personal',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() - interval '1 year')$$,
	'22023', NULL, 'validity ending before it starts: 22023');
SELECT throws_ok($$SELECT sealpg.create_seal('TAP-A-2', 'x', 'personal',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Org A'), now() + interval '1 year',
	home_latitude => 10, home_longitude => 10, home_radius_m => -5)$$, '22003', NULL, 'negative radius: 22003');
SELECT is((SELECT count(*) FROM sealpg.seals WHERE es_id = 'TAP-A-2'), 0::bigint, 'none of the refused seals exists');
SELECT is((SELECT array_agg(new_status::text ORDER BY history_id) FROM sealpg.seal_status_history h
	JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-A-1'), ARRAY['active', 'revoked'],
	'the history holds creation and revocation');
SELECT is((SELECT actor FROM sealpg.seal_status_history h JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'TAP-A-1' AND new_status = 'revoked'), 'tap_admin_a'::name,
	'the actor is the caller, not the functions'' owner');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
