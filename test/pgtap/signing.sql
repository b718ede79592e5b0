-- pgTAP: the authority, enrolment and signing — SQLSTATEs and privileges.
-- Everything happens in one transaction that is rolled back at the end
-- (keys made on the token stay there; they are never used again).
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SET LOCAL timezone = 'UTC';
SELECT plan(38);

-- as_role(role, sql): run sql as role (SET LOCAL ROLE), errors passed on
CREATE FUNCTION pg_temp.as_role(r name, q text) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE format('SET LOCAL ROLE %I', r);
	BEGIN
		EXECUTE q;
	EXCEPTION WHEN OTHERS THEN
		RESET ROLE;
		RAISE;
	END;
	RESET ROLE;
END
$$;

CREATE ROLE tap_sign_admin NOLOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_sign_op NOLOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_sign_op_other NOLOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_sign_clerk NOLOGIN IN ROLE sealpg_operator;
CREATE ROLE tap_sign_auditor NOLOGIN IN ROLE sealpg_auditor;
CREATE ROLE tap_sign_nobody NOLOGIN;
-- a group: grants to it reach its members
CREATE ROLE tap_sign_team NOLOGIN;
GRANT tap_sign_team TO tap_sign_clerk;

-- ---- privileges on the functions ----------------------------------
SELECT ok(has_function_privilege('sealpg_operator', 'sealpg.sign(text, bytea, boolean)', 'EXECUTE'),
		  'operators may call sign()');
SELECT ok(NOT has_function_privilege('sealpg_auditor', 'sealpg.sign(text, bytea, boolean)', 'EXECUTE'),
		  'auditors may not call sign()');
SELECT ok(NOT has_function_privilege('tap_sign_nobody', 'sealpg.sign(text, bytea, boolean)', 'EXECUTE'),
		  'PUBLIC may not call sign()');
SELECT ok(has_function_privilege('sealpg_auditor', 'sealpg.verify(sealpg.sealsig, bytea, sealpg.x509)', 'EXECUTE'),
		  'auditors may call verify()');
SELECT ok(NOT has_function_privilege('tap_sign_nobody', 'sealpg.verify(sealpg.sealsig, bytea, sealpg.x509)', 'EXECUTE'),
		  'PUBLIC may not call verify()');
SELECT ok(has_function_privilege('sealpg_admin', 'sealpg.authority_init(text, text, text, interval)', 'EXECUTE')
		  AND NOT has_function_privilege('sealpg_operator', 'sealpg.authority_init(text, text, text, interval)', 'EXECUTE'),
		  'authority_init() is for admins only');
SELECT ok(has_function_privilege('sealpg_admin', 'sealpg.enroll(text, text, text)', 'EXECUTE')
		  AND NOT has_function_privilege('sealpg_operator', 'sealpg.enroll(text, text, text)', 'EXECUTE'),
		  'enroll() is for admins only');
SELECT ok(NOT has_function_privilege('sealpg_admin', 'sealpg.generate_key(text, text, text)', 'EXECUTE')
		  AND NOT has_function_privilege('sealpg_admin', 'sealpg.issue_seal_certificate(bytea, text, text, text, timestamptz, timestamptz)', 'EXECUTE')
		  AND NOT has_function_privilege('sealpg_admin', 'sealpg.record_refused_signing(jsonb)', 'EXECUTE'),
		  'the internal functions are nobody''s but the owner''s');
SELECT ok(NOT has_table_privilege('sealpg_operator', 'sealpg.signatures', 'INSERT')
		  AND NOT has_table_privilege('sealpg_admin', 'sealpg.refused_signings', 'INSERT')
		  AND NOT has_table_privilege('sealpg_admin', 'sealpg.certificates', 'UPDATE'),
		  'nobody writes the signing tables directly');

-- ---- the authority -------------------------------------------------
-- (the database of the pgTAP suite may already have an authority: start clean)
DELETE FROM sealpg.authority;
SELECT throws_ok($$SELECT sealpg.authority_certificate()$$, 'SE201', NULL, 'no authority: SE201');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.authority_init(''x'')')$$, '42501',
				 NULL, 'an operator cannot create the authority');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_nobody', 'SELECT sealpg.require_authority_admin()')$$, '42501',
				 NULL, 'the internal admin check is not callable by PUBLIC');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_sign_admin', 'SELECT sealpg.authority_init(''TAP Authority'')')$$,
				'a member of sealpg_admin creates the authority');
SELECT throws_ok($$SELECT sealpg.authority_init('Another')$$, 'SE202', NULL, 'a second authority: SE202');
SELECT throws_ok($$SELECT sealpg.require_key_in_chip(1 | 2 | 4 | 8 | 16)$$, 'SE106', NULL,
				 'an extractable key: SE106');
SELECT throws_ok($$SELECT sealpg.require_key_in_chip(1 | 4 | 8)$$, 'SE106', NULL,
				 'a key not generated on the token: SE106');
SELECT throws_ok($$SELECT sealpg.authority_import(sealpg.authority_certificate(), 'sealpg-authority', '\x01')$$,
				 'SE202', NULL, 'import over an existing authority: SE202');

-- ---- organisations, seals, grants ----------------------------------
\o /dev/null
SELECT sealpg.create_organisation('TAP Org', admin => 'tap_sign_admin') AS org \gset
SELECT sealpg.create_organisation('TAP Other Org') AS other \gset
SELECT sealpg.add_member(:'other', 'tap_sign_op_other');
SELECT sealpg.create_seal('TAP-SEAL-1', 'TAP seal', 'contract', :'org', now() + interval '1 year') IS NOT NULL;
SELECT sealpg.create_seal('TAP-SEAL-2', 'TAP seal two', 'contract', :'org', now() + interval '1 year') IS NOT NULL;
SELECT sealpg.create_seal('TAP-LATER', 'TAP seal of next month', 'contract', :'org',
	valid_from => now() + interval '1 month', valid_until => now() + interval '1 year') IS NOT NULL;
SELECT sealpg.create_seal('TAP-OTHER', 'Other seal', 'contract', :'other', now() + interval '1 year') IS NOT NULL;
\o

SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 'SE009', NULL, 'not enrolled: SE009');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op_other', 'SELECT sealpg.enroll(''TAP-SEAL-1'')')$$,
				 '42501', NULL, 'an operator cannot enrol');
-- an admin of another organisation cannot enrol this one
\o /dev/null
CREATE ROLE tap_sign_admin_other NOLOGIN IN ROLE sealpg_admin;
SELECT sealpg.add_member(:'other', 'tap_sign_admin_other', true);
\o
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_admin_other', 'SELECT sealpg.enroll(''TAP-SEAL-1'')')$$,
				 'SE301', NULL, 'an admin of another organisation cannot enrol: SE301');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_sign_admin', 'SELECT sealpg.enroll(''TAP-SEAL-1'')')$$,
				'the organisation''s admin enrols');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_sign_admin', 'SELECT sealpg.enroll(''TAP-SEAL-2'')')$$,
				'a second seal enrolled');
\o /dev/null
SELECT sealpg.enroll('TAP-LATER') IS NOT NULL;
SELECT sealpg.enroll('TAP-OTHER') IS NOT NULL;

SELECT sealpg.grant_seal('TAP-SEAL-1', 'tap_sign_op', max_uses => 1);
SELECT sealpg.grant_seal('TAP-SEAL-1', 'tap_sign_team');
SELECT sealpg.grant_seal('TAP-SEAL-2', 'tap_sign_op', grant_until => now() - interval '1 second',
						 grant_from => now() - interval '1 day');
SELECT sealpg.grant_seal('TAP-LATER', 'tap_sign_op');
SELECT sealpg.grant_seal('TAP-OTHER', 'tap_sign_op_other');
\o

-- ---- sign(): who may ------------------------------------------------
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_nobody', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 '42501', NULL, 'a role outside sealpg_operator cannot call sign()');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-NONE'', ''doc'')')$$,
				 'SE007', NULL, 'unknown seal: SE007');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op_other', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 'SE004', NULL, 'an operator of another organisation: SE004');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-SEAL-2'', ''doc'')')$$,
				 'SE004', NULL, 'a grant that has ended: SE004');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-LATER'', ''doc'')')$$,
				 'SE008', NULL, 'a seal not yet valid: SE008');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				'a granted operator signs');
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 'SE005', NULL, 'the grant''s one use is spent: SE005');
SELECT lives_ok($$SELECT pg_temp.as_role('tap_sign_clerk', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				'a member of a granted group signs');
SELECT is((SELECT array_agg(operator::text || ':' || uses ORDER BY operator) FROM sealpg.seal_operators o
			JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-SEAL-1'),
		  ARRAY['tap_sign_op:1', 'tap_sign_team:1'], 'each signature counts one use of the grant it used');
SELECT is((SELECT array_agg(operator::text ORDER BY operator) FROM sealpg.signatures g
			JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-SEAL-1'),
		  ARRAY['tap_sign_clerk', 'tap_sign_op'], 'signatures record who signed (the caller, not the group)');

-- status refusals
\o /dev/null
SELECT sealpg.set_status('TAP-SEAL-1', 'frozen', 'check');
\o
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_clerk', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 'SE002', NULL, 'frozen: SE002');
\o /dev/null
SELECT sealpg.set_status('TAP-SEAL-1', 'revoked', 'lost');
\o
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_clerk', 'SELECT sealpg.sign(''TAP-SEAL-1'', ''doc'')')$$,
				 'SE001', NULL, 'revoked: SE001');
UPDATE sealpg.seals SET valid_from = now() - interval '2 years', valid_until = now() - interval '1 minute'
 WHERE es_id = 'TAP-OTHER';
SELECT throws_ok($$SELECT pg_temp.as_role('tap_sign_op_other', 'SELECT sealpg.sign(''TAP-OTHER'', ''doc'')')$$,
				 'SE003', NULL, 'validity ended: SE003');

-- ---- verify --------------------------------------------------------
SELECT is((SELECT v.valid FROM sealpg.signatures g, sealpg.verify(g.signature, 'doc') v
			WHERE g.operator = 'tap_sign_op'), true, 'the signature verifies');
SELECT is((SELECT v.status_now::text FROM sealpg.signatures g, sealpg.verify(g.signature, 'doc') v
			WHERE g.operator = 'tap_sign_op'), 'revoked', 'verify reports the seal''s status now');
SELECT is((SELECT v.valid FROM sealpg.signatures g, sealpg.verify(g.signature, 'dog') v
			WHERE g.operator = 'tap_sign_op'), false, 'another document does not verify');

SELECT * FROM finish();
ROLLBACK;
