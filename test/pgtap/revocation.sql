-- pgTAP: privileges, row-level security, the two-person rule and the
-- SQLSTATEs of revocation
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(39);

-- roles of two organisations (rolled back at the end)
CREATE ROLE tap_rev_admin_a LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_rev_admin_a2 LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_rev_member_a LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_rev_admin_b LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_rev_oper_a LOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_rev_outsider LOGIN;

-- ---- what PUBLIC and each role may call -----------------------------
SELECT ok(NOT has_function_privilege('public', 'sealpg.report_loss(text, text, text, timestamptz)', 'EXECUTE'),
	'PUBLIC may not report losses');
SELECT ok(NOT has_function_privilege('public', 'sealpg.revoke(text, text, text)', 'EXECUTE'), 'nor revoke');
SELECT ok(NOT has_function_privilege('public', 'sealpg.approve(uuid)', 'EXECUTE'), 'nor approve');
SELECT ok(NOT has_function_privilege('public', 'sealpg.freeze(text, text)', 'EXECUTE'), 'nor freeze');
SELECT ok(NOT has_function_privilege('public', 'sealpg.unfreeze(text, text)', 'EXECUTE'), 'nor unfreeze');
SELECT ok(NOT has_function_privilege('sealpg_admin',
	'sealpg.crl_build(bigint, timestamptz, timestamptz, bigint, pg_snapshot)', 'EXECUTE'),
	'nobody but the owner signs CRLs directly');
SELECT ok(NOT has_function_privilege('sealpg_admin', 'sealpg.issue_ocsp_certificate(bytea, interval)', 'EXECUTE'),
	'nor issues responder certificates directly');
SELECT ok(NOT has_function_privilege('sealpg_admin', 'sealpg.notify_revocation(text)', 'EXECUTE'),
	'nor sends revocation notifications');
SELECT ok(has_function_privilege('public', 'sealpg.ocsp_respond(bytea)', 'EXECUTE')
	AND has_function_privilege('public', 'sealpg.crl()', 'EXECUTE')
	AND has_function_privilege('public', 'sealpg.delta_crl()', 'EXECUTE'),
	'revocation status is public: CRLs and OCSP for everyone');
SELECT ok(has_function_privilege('sealpg_admin', 'sealpg.report_loss(text, text, text, timestamptz)', 'EXECUTE'),
	'sealpg_admin may report losses (for its own organisations)');

-- ---- fixtures -------------------------------------------------------
DO $$
BEGIN
	IF NOT EXISTS (SELECT 1 FROM sealpg.authority) THEN
		PERFORM sealpg.authority_init('TAP Revocation Authority');
	END IF;
END
$$;
SET LOCAL ROLE tap_rev_admin_a;
SELECT sealpg.create_organisation('TAP Rev Org A') IS NOT NULL AS created;
SELECT sealpg.create_organisation('TAP Rev Org A2', true) IS NOT NULL AS created;
SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Rev Org A'), 'tap_rev_oper_a');
SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Rev Org A'), 'tap_rev_member_a');
SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Rev Org A2'), 'tap_rev_admin_a2', true);
SELECT sealpg.create_seal('TAP-REV-1', 'seal one', 'finance',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Rev Org A'), now() + interval '1 year') IS NOT NULL;
SELECT sealpg.create_seal('TAP-REV-2', 'seal two', 'contract',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP Rev Org A2'), now() + interval '1 year') IS NOT NULL;
SELECT sealpg.enroll('TAP-REV-1') IS NOT NULL;
SELECT sealpg.enroll('TAP-REV-2') IS NOT NULL;
RESET ROLE;
SET LOCAL ROLE tap_rev_admin_b;
SELECT sealpg.create_organisation('TAP Rev Org B') IS NOT NULL AS created;
RESET ROLE;

-- ---- an operator cannot -------------------------------------------
SET LOCAL ROLE tap_rev_oper_a;
SELECT throws_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'lost', 'x')$$, '42501', NULL, 'an operator cannot report a loss');
SELECT throws_ok($$SELECT sealpg.revoke('TAP-REV-1', 'keyCompromise', 'x')$$, '42501', NULL, 'nor revoke');
SELECT throws_ok($$SELECT sealpg.freeze('TAP-REV-1', 'x')$$, '42501', NULL, 'nor freeze');
SELECT throws_ok($$INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, actor)
	SELECT serial, certificate_id, seal_id, 1, 'x' FROM sealpg.certificates LIMIT 1$$, '42501', NULL,
	'nor write revocation records directly');
SELECT lives_ok($$SELECT sealpg.crl()$$, 'but fetches the CRL');
RESET ROLE;

-- ---- a plain member of the organisation (not its admin) cannot ------
SET LOCAL ROLE tap_rev_member_a;
SELECT throws_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'stolen', 'x')$$, 'SE301', NULL,
	'a member who is not the organisation''s admin cannot report a loss');
SELECT throws_ok($$SELECT sealpg.freeze('TAP-REV-1', 'x')$$, 'SE301', NULL, 'nor freeze');
RESET ROLE;

-- ---- the admin of another organisation cannot ------------------------
SET LOCAL ROLE tap_rev_admin_b;
SELECT throws_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'stolen', 'x')$$, 'SE301', NULL,
	'an admin of B cannot report A''s seal lost');
SELECT throws_ok($$SELECT sealpg.revoke('TAP-REV-1', 'keyCompromise', 'x')$$, 'SE301', NULL, 'nor revoke it');
SELECT throws_ok($$SELECT sealpg.freeze('TAP-REV-1', 'x')$$, 'SE301', NULL, 'nor freeze it');
SELECT throws_ok($$SELECT sealpg.unfreeze('TAP-REV-1', 'x')$$, 'SE301', NULL, 'nor unfreeze it');
RESET ROLE;

-- ---- freeze, unfreeze, loss report by the admin ------------------------
SET LOCAL ROLE tap_rev_admin_a;
SELECT is(sealpg.freeze('TAP-REV-1', 'check'), 'frozen'::sealpg.seal_status, 'the admin freezes');
SELECT is((SELECT reason_code FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'TAP-REV-1' AND r.ended_at IS NULL), 6::smallint, 'a frozen seal''s certificate is on hold');
SELECT throws_ok($$SELECT sealpg.freeze('TAP-REV-1', 'x')$$, 'SE006', NULL, 'freezing twice: SE006');
SELECT is(sealpg.unfreeze('TAP-REV-1', 'fine'), 'active'::sealpg.seal_status, 'the admin unfreezes');
SELECT is((SELECT count(*) FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'TAP-REV-1' AND r.ended_at IS NULL), 0::bigint, 'the hold is released');
SELECT lives_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'counterfeited', 'forged impression')$$,
	'the admin reports a loss');
SELECT is(sealpg.status('TAP-REV-1'), 'revoked'::sealpg.seal_status, 'revoked at once');
SELECT throws_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'lost', 'x')$$, 'SE001', NULL, 'reporting twice: SE001');
SELECT throws_ok($$SELECT sealpg.report_loss('TAP-REV-1', 'mislaid', 'x')$$, '22023', NULL, 'unknown loss: 22023');
RESET ROLE;

-- ---- row-level security ----------------------------------------------
SET LOCAL ROLE tap_rev_admin_b;
SELECT is((SELECT count(*) FROM sealpg.revocations r JOIN sealpg.certificates c USING (certificate_id)
	WHERE c.serial IN (SELECT serial FROM sealpg.revocations)), 0::bigint,
	'an admin of B sees none of A''s revocation records');
SELECT is((SELECT count(*) FROM sealpg.revocation_requests), 0::bigint, 'nor its requests');
RESET ROLE;

-- ---- the two-person rule ----------------------------------------------
SET LOCAL ROLE tap_rev_admin_a;
SELECT sealpg.revoke('TAP-REV-2', 'affiliationChanged', 'moved to the subsidiary') AS req \gset
SELECT is(sealpg.status('TAP-REV-2'), 'active'::sealpg.seal_status, 'with the rule, a revocation waits');
SELECT throws_ok(format('SELECT sealpg.approve(%L)', :'req'), 'SE302', NULL, 'the requester cannot approve: SE302');
SELECT throws_ok($$SELECT sealpg.set_status('TAP-REV-2', 'revoked', 'alone')$$, 'SE303', NULL,
	'nor go around the rule with set_status: SE303');
RESET ROLE;
SET LOCAL ROLE tap_rev_admin_b;
SELECT throws_ok(format('SELECT sealpg.approve(%L)', :'req'), 'SE301', NULL, 'an outsider admin cannot approve: SE301');
RESET ROLE;
SET LOCAL ROLE tap_rev_admin_a2;
SELECT lives_ok(format('SELECT sealpg.approve(%L)', :'req'), 'a second admin approves');
SELECT is((SELECT approver::text FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id)
	WHERE s.es_id = 'TAP-REV-2' AND r.ended_at IS NULL), 'tap_rev_admin_a2', 'the approver is recorded');
SELECT throws_ok(format('SELECT sealpg.approve(%L)', :'req'), 'SE304', NULL, 'approving twice: SE304');
RESET ROLE;

SELECT * FROM finish();
ROLLBACK;
