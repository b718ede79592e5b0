-- pgTAP: SQLSTATEs, privileges and row-level security of the journal
BEGIN;
CREATE EXTENSION IF NOT EXISTS pgtap;
SELECT plan(26);

CREATE ROLE tap_j_admin_a LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_j_admin_b LOGIN IN ROLE sealpg_admin;
CREATE ROLE tap_j_auditor_a LOGIN IN ROLE sealpg_auditor;
CREATE ROLE tap_j_oper LOGIN IN ROLE sealpg_operator;

SET LOCAL ROLE tap_j_admin_a;
SELECT sealpg.create_organisation('TAP J Org A');
SELECT sealpg.add_member((SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP J Org A'), 'tap_j_auditor_a');
SELECT sealpg.create_seal('TAP-J-A', 'journal seal A', 'finance',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP J Org A'), now() + interval '1 year');
SELECT sealpg.set_status('TAP-J-A', 'frozen', 'checking');
RESET ROLE;
SET LOCAL ROLE tap_j_admin_b;
SELECT sealpg.create_organisation('TAP J Org B');
SELECT sealpg.create_seal('TAP-J-B', 'journal seal B', 'finance',
	(SELECT organisation_id FROM sealpg.organisations WHERE name = 'TAP J Org B'), now() + interval '1 year');
RESET ROLE;
SELECT sealpg.journal_sequence();

-- the guard, even for the superuser
SELECT throws_ok($$UPDATE sealpg.journal SET kind = 'x'$$, 'SE401', NULL, 'UPDATE of the journal: SE401');
SELECT throws_ok($$DELETE FROM sealpg.journal$$, 'SE401', NULL, 'DELETE from the journal: SE401');
SELECT throws_ok($$TRUNCATE sealpg.journal$$, 'SE401', NULL, 'TRUNCATE of the journal: SE401');
SELECT throws_ok($$INSERT INTO sealpg.journal (entry_id, seal_id, seal_seq, kind, event_time, payload, entry_hash)
	VALUES (gen_random_uuid(), gen_random_uuid(), 1, 'x', now(), '{}', '\x00')$$, 'SE401', NULL,
	'a direct INSERT into the journal: SE401');
SELECT throws_ok($$UPDATE sealpg.journal_tree SET hash = hash$$, 'SE401', NULL, 'UPDATE of the tree: SE401');
SELECT throws_ok($$TRUNCATE sealpg.journal_tree$$, 'SE401', NULL, 'TRUNCATE of the tree: SE401');
SELECT throws_ok($$DELETE FROM sealpg.tree_heads$$, 'SE401', NULL, 'DELETE of tree heads: SE401');
SELECT throws_ok($$DELETE FROM sealpg.signature_timestamps$$, 'SE401', NULL, 'DELETE of signature timestamps: SE401');

-- proofs and their SQLSTATEs
SELECT throws_ok($$SELECT * FROM sealpg.inclusion_proof('00000000-0000-4000-8000-000000000001')$$, 'SE402', NULL,
	'inclusion proof of an unknown entry: SE402');
SELECT throws_ok($$SELECT sealpg.consistency_proof(0, 1)$$, 'SE404', NULL, 'consistency proof from size 0: SE404');
SELECT throws_ok($$SELECT sealpg.tree_root(sealpg.tree_size() + 1)$$, 'SE404', NULL, 'root of a future tree: SE404');
SELECT throws_ok($$SELECT sealpg.verify_inclusion('\x00', 0, 1, '{}', '\x00')$$, '22023', NULL,
	'a hash that is not 32 bytes: 22023');
SELECT throws_ok($$SELECT sealpg.sign_tree_head()$$, 'SE201', NULL, 'signing without the signing part: SE201');

-- who may do what
SET LOCAL ROLE tap_j_auditor_a;
SELECT is((SELECT count(*) FROM sealpg.journal j JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-J-A'),
	2::bigint, 'an auditor of A reads A''s journal (creation, freeze)');
SELECT is((SELECT count(*) FROM sealpg.journal WHERE seal_id =
	(SELECT seal_id FROM sealpg.seals WHERE es_id = 'TAP-J-B')), 0::bigint, 'but not B''s');
SELECT ok((SELECT ok FROM sealpg.journal_verify()), 'an auditor verifies the whole journal');
SELECT lives_ok($$SELECT * FROM sealpg.inclusion_proof((SELECT j.entry_id FROM sealpg.journal j
	JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'TAP-J-A' LIMIT 1))$$, 'an auditor gets proofs');
SELECT lives_ok($$SELECT * FROM sealpg.tree_head()$$, 'an auditor reads the tree head');
SELECT throws_ok($$SELECT sealpg.journal_append(gen_random_uuid(), 'x', '{}')$$, '42501', NULL,
	'an auditor cannot append');
SELECT throws_ok($$SELECT sealpg.journal_sequence()$$, '42501', NULL, 'nor sequence');
SELECT throws_ok($$UPDATE sealpg.journal SET kind = 'x'$$, '42501', NULL, 'nor write the table');
RESET ROLE;

SET LOCAL ROLE tap_j_oper;
SELECT throws_ok($$SELECT * FROM sealpg.journal_verify()$$, '42501', NULL, 'an operator does not verify the journal');
SELECT throws_ok($$SELECT count(*) FROM sealpg.journal$$, '42501', NULL, 'nor read it');
RESET ROLE;

SET LOCAL ROLE tap_j_admin_a;
SELECT lives_ok($$SELECT sealpg.journal_sequence()$$, 'an admin sequences on demand');
SELECT throws_ok($$SELECT sealpg.journal_append(gen_random_uuid(), 'x', '{}')$$, '42501', NULL,
	'but appends only through sealpg''s own functions');
RESET ROLE;

SELECT is((SELECT count(*) FROM pg_proc p WHERE p.pronamespace = 'sealpg'::regnamespace
	AND p.proname IN ('journal_verify', 'inclusion_proof', 'consistency_proof', 'tree_root', 'evidence', 'timestamp')
	AND has_function_privilege('public', p.oid, 'EXECUTE')), 0::bigint, 'none of the journal''s functions is PUBLIC');

SELECT * FROM finish();
ROLLBACK;
