-- the journal: per-seal hash links, the Merkle tree, proofs, the
-- append-only guard, and journal_verify() against each kind of edit
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- sqlstate_of(query): the SQLSTATE a query raises (for errors whose text varies)
CREATE FUNCTION public.sqlstate_of(query text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE query;
	RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE;
END $$;

-- other tests may have journaled events already: start from a full tree
SELECT sealpg.journal_sequence() >= 0 AS sequenced;
SELECT sealpg.tree_size() AS base \gset

-- fixtures: two seals (creating a seal journals its first status)
SELECT sealpg.create_organisation('Journal Test Co') AS org \gset
SELECT sealpg.create_seal('ES-JRNL-0001', 'journal seal one', 'organisation', :'org', '2031-01-01') AS s1 \gset
SELECT sealpg.create_seal('ES-JRNL-0002', 'journal seal two', 'finance', :'org', '2031-01-01') AS s2 \gset
SELECT kind, seal_seq, prev_hash IS NULL AS first, payload->>'table' AS source, payload->>'new_status' AS status
  FROM sealpg.journal WHERE seal_id = :'s1';

-- appends: seven events over the two seals, interleaved
SELECT sealpg.journal_append(CASE WHEN i % 3 = 0 THEN :'s2'::uuid ELSE :'s1'::uuid END,
							 'test', jsonb_build_object('n', i, 'note', 'event ' || i, 'nested', jsonb_build_array(i, true, null, 1.50)))
	   IS NOT NULL AS appended
  FROM generate_series(1, 7) AS i;

-- each seal's chain: numbers from 1, each prev_hash the previous entry_hash,
-- each entry_hash the SHA-256 of the canonical serialisation
SELECT seal_id = :'s1' AS seal_one, count(*) AS entries,
	   bool_and(seal_seq = rn) AS numbered,
	   bool_and(prev_hash IS NOT DISTINCT FROM prev) AS linked,
	   bool_and(entry_hash = sha256(convert_to(sealpg.journal_entry_text(entry_id), 'UTF8'))) AS hashed
  FROM (SELECT j.*, row_number() OVER w AS rn, lag(entry_hash) OVER w AS prev
		  FROM sealpg.journal j WHERE seal_id IN (:'s1', :'s2')
		WINDOW w AS (PARTITION BY seal_id ORDER BY seal_seq)) x
 GROUP BY seal_id ORDER BY 1 DESC;

-- the canonical form: fixed member order, no whitespace, jsonb key order in the payload
SELECT regexp_replace(sealpg.journal_entry_text(entry_id),
		'"(entry_id|seal_id|event_time|prev_hash)":("[^"]*"|null)', '"\1":…', 'g') AS canonical
  FROM sealpg.journal WHERE seal_id = :'s1' AND kind = 'test' ORDER BY seal_seq LIMIT 1;

-- not yet in the tree: leaf_index is NULL until the sequencer runs
SELECT count(*) AS unsequenced FROM sealpg.journal WHERE leaf_index IS NULL AND seal_id IN (:'s1', :'s2');
SELECT public.sqlstate_of('SELECT * FROM sealpg.inclusion_proof((SELECT entry_id FROM sealpg.journal
	WHERE kind = ''test'' ORDER BY append_no DESC LIMIT 1))') AS not_in_tree_yet;
SELECT sealpg.journal_sequence() - :base AS added;
SELECT count(*) AS unsequenced FROM sealpg.journal WHERE leaf_index IS NULL;
-- a seal's entries keep their order in the tree
SELECT bool_and(leaf_index > prev_leaf) AS per_seal_order
  FROM (SELECT leaf_index, lag(leaf_index) OVER (PARTITION BY seal_id ORDER BY seal_seq) AS prev_leaf
		  FROM sealpg.journal) x WHERE prev_leaf IS NOT NULL;
-- running it again adds nothing
SELECT sealpg.journal_sequence() = sealpg.tree_size() AS same_size;

-- an independent reference: RFC 6962 MTH computed in SQL from the entries
CREATE FUNCTION public.ref_mth(lo bigint, hi bigint) RETURNS bytea LANGUAGE plpgsql AS $$
DECLARE
	k bigint := 1;
BEGIN
	IF hi - lo = 1 THEN
		RETURN sha256('\x00'::bytea || convert_to(sealpg.journal_entry_text(
			(SELECT entry_id FROM sealpg.journal WHERE leaf_index = lo)), 'UTF8'));
	END IF;
	WHILE k * 2 < hi - lo LOOP k := k * 2; END LOOP;
	RETURN sha256('\x01'::bytea || public.ref_mth(lo, lo + k) || public.ref_mth(lo + k, hi));
END $$;
SELECT bool_and(sealpg.tree_root(n) = public.ref_mth(0, n)) AS roots_match_reference
  FROM generate_series(1, sealpg.tree_size()) AS n;
SELECT encode(sealpg.tree_root(0), 'hex') AS empty_tree_root;
SELECT (h).tree_size = sealpg.tree_size() AS head_size, (h).root_hash = sealpg.tree_root(sealpg.tree_size()) AS head_root
  FROM (SELECT sealpg.tree_head() AS h) x;

-- inclusion proofs: every leaf in every tree size verifies, and the
-- leaf hash is SHA-256(0x00 || canonical entry)
SELECT count(*) AS proofs,
	   bool_and(sealpg.verify_inclusion(p.leaf_hash, p.leaf_index, p.proof_tree_size, p.audit_path, p.root_hash)) AS all_verify,
	   bool_and(p.leaf_hash = sha256('\x00'::bytea || convert_to(sealpg.journal_entry_text(j.entry_id), 'UTF8'))) AS leaf_hashes,
	   bool_and(p.root_hash = sealpg.tree_root(n)) AS roots,
	   max(cardinality(p.audit_path)) <= ceil(log(2, sealpg.tree_size()::numeric)) AS log_size
  FROM sealpg.journal j,
	   generate_series(j.leaf_index + 1, sealpg.tree_size()) AS n,
	   sealpg.inclusion_proof(j.entry_id, n) AS p;
-- a proof does not verify for another leaf, index or root, nor when altered
-- (the size is bound by the signed tree head that carries the root)
SELECT sealpg.verify_inclusion(p.leaf_hash, p.leaf_index + 1, p.proof_tree_size, p.audit_path, p.root_hash) AS other_index,
	   sealpg.verify_inclusion(sha256('x'), p.leaf_index, p.proof_tree_size, p.audit_path, p.root_hash) AS other_leaf,
	   sealpg.verify_inclusion(p.leaf_hash, p.leaf_index, p.proof_tree_size, p.audit_path, sha256('x')) AS other_root,
	   sealpg.verify_inclusion(p.leaf_hash, p.leaf_index, p.proof_tree_size, p.audit_path[2:], p.root_hash) AS shortened,
	   sealpg.verify_inclusion(p.leaf_hash, p.leaf_index, p.proof_tree_size,
							   array_prepend(sha256('x'), p.audit_path[2:]), p.root_hash) AS altered
  FROM sealpg.inclusion_proof((SELECT entry_id FROM sealpg.journal WHERE seal_id = :'s1' ORDER BY seal_seq LIMIT 1)) p;

-- consistency proofs: every pair of sizes verifies; altered ones do not
SELECT count(*) AS pairs,
	   bool_and(sealpg.verify_consistency(m, n, sealpg.tree_root(m), sealpg.tree_root(n), sealpg.consistency_proof(m, n))) AS all_verify,
	   bool_and(m = n OR NOT sealpg.verify_consistency(m, n, sealpg.tree_root(m), sha256('x'), sealpg.consistency_proof(m, n))) AS wrong_new_root_fails,
	   bool_and(m = n OR NOT sealpg.verify_consistency(m, n, sha256('x'), sealpg.tree_root(n), sealpg.consistency_proof(m, n))) AS wrong_old_root_fails,
	   bool_and(m = n OR NOT sealpg.verify_consistency(m, n, sealpg.tree_root(m), sealpg.tree_root(n),
			   array_append((sealpg.consistency_proof(m, n))[2:], sha256('x')))) AS altered_fails
  FROM generate_series(1, sealpg.tree_size()) AS n, generate_series(1, n) AS m;

-- proof errors
\set ON_ERROR_STOP 0
SELECT sealpg.consistency_proof(0, 1);
SELECT sealpg.consistency_proof(2, 1);
SELECT sealpg.consistency_proof(1, sealpg.tree_size() + 1);
\echo :LAST_ERROR_SQLSTATE
SELECT * FROM sealpg.inclusion_proof(NULL);
SELECT * FROM sealpg.inclusion_proof('00000000-0000-4000-8000-000000000000');
\echo :LAST_ERROR_SQLSTATE
\set ON_ERROR_STOP 1
SELECT public.sqlstate_of('SELECT * FROM sealpg.inclusion_proof((SELECT entry_id FROM sealpg.journal WHERE leaf_index = 1), 1)') AS not_in_that_tree;
\set ON_ERROR_STOP 0
SELECT sealpg.tree_root(-1);
SELECT sealpg.verify_inclusion('\x00', 0, 1, '{}', sha256('x'));
SELECT sealpg.verify_inclusion(sha256('x'), 0, 1, ARRAY[NULL::bytea], sha256('x'));
SELECT sealpg.verify_consistency(1, 2, sha256('x'), sha256('y'), ARRAY['\x01'::bytea]);
SELECT sealpg.journal_sequence(0);
SELECT sealpg.journal_append(:'s1', '', '{}');
\set ON_ERROR_STOP 1

-- append-only: everything but sealpg's own appends is refused with SE401
\set ON_ERROR_STOP 0
UPDATE sealpg.journal SET kind = 'edited' WHERE seal_id = :'s1';
\echo :LAST_ERROR_SQLSTATE
UPDATE sealpg.journal SET leaf_index = NULL WHERE seal_id = :'s1';
DELETE FROM sealpg.journal WHERE seal_id = :'s1';
TRUNCATE sealpg.journal;
INSERT INTO sealpg.journal (entry_id, seal_id, seal_seq, kind, event_time, payload, entry_hash)
	VALUES (gen_random_uuid(), :'s1', 99, 'forged', now(), '{}', '\x00');
UPDATE sealpg.journal_tree SET hash = sha256('x') WHERE level = 0 AND node_index = 0;
DELETE FROM sealpg.journal_tree;
\echo :LAST_ERROR_SQLSTATE
INSERT INTO sealpg.journal_tree VALUES (40, 0, sha256('x'));
SELECT sealpg.record_tree_head() = sealpg.tree_size() AS recorded;
DELETE FROM sealpg.tree_heads;
\set ON_ERROR_STOP 1

-- journal_verify: all is well
SELECT ok, entries_checked = (SELECT count(*) FROM sealpg.journal) AS all_checked,
	   tree_size = sealpg.tree_size() AS whole_tree, first_bad_entry, problem
  FROM sealpg.journal_verify();

-- each kind of edit a superuser could make with the triggers disabled
-- (or an editor of the data files) is found, and the entry named
ALTER TABLE sealpg.journal DISABLE TRIGGER USER;
ALTER TABLE sealpg.journal_tree DISABLE TRIGGER USER;
SELECT entry_id AS e3, leaf_index AS l3 FROM sealpg.journal WHERE seal_id = :'s1' AND seal_seq = 3 \gset
SELECT entry_id AS e4 FROM sealpg.journal WHERE seal_id = :'s1' AND seal_seq = 4 \gset
SELECT entry_id AS s2e2 FROM sealpg.journal WHERE seal_id = :'s2' AND seal_seq = 2 \gset

-- 1. a changed payload
BEGIN;
UPDATE sealpg.journal SET payload = payload || '{"n": 1000}' WHERE entry_id = :'e3';
SELECT ok, first_bad_entry = :'e3' AS names_it, first_bad_leaf = :l3 AS at_leaf, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 2. a changed entry whose hash was recomputed too: the next link breaks,
--    and the tree no longer holds it
BEGIN;
UPDATE sealpg.journal SET kind = 'forged' WHERE entry_id = :'e3';
UPDATE sealpg.journal SET entry_hash = sha256(convert_to(sealpg.journal_entry_text(entry_id), 'UTF8')) WHERE entry_id = :'e3';
SELECT ok, first_bad_entry = :'e3' AS names_it, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 3. a deleted entry: the next leaf is named
BEGIN;
DELETE FROM sealpg.journal WHERE entry_id = :'e3';
SELECT ok, first_bad_entry = (SELECT entry_id FROM sealpg.journal WHERE leaf_index = :l3 + 1) AS names_next,
	   first_bad_leaf = :l3 + 1 AS at_leaf, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 3b. a deleted entry not yet in the tree: its seal's next entry is named
BEGIN;
SELECT sealpg.journal_append(:'s2', 'test', '{"n": 8}') AS u1 \gset
SELECT sealpg.journal_append(:'s2', 'test', '{"n": 9}') AS u2 \gset
ALTER TABLE sealpg.journal DISABLE TRIGGER USER;
DELETE FROM sealpg.journal WHERE entry_id = :'u1';
SELECT ok, first_bad_entry = :'u2' AS names_next, first_bad_leaf IS NULL AS unsequenced, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 4. the last entries deleted (tree nodes left behind)
BEGIN;
DELETE FROM sealpg.journal WHERE leaf_index >= sealpg.tree_size() - 2;
SELECT ok, first_bad_entry IS NULL AS no_entry_left, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 5. two entries of one seal swapped (seal_seq exchanged)
BEGIN;
UPDATE sealpg.journal SET seal_seq = 1000 WHERE entry_id = :'e3';
UPDATE sealpg.journal SET seal_seq = 3 WHERE entry_id = :'e4';
UPDATE sealpg.journal SET seal_seq = 4 WHERE entry_id = :'e3';
SELECT ok, first_bad_entry IN (:'e3', :'e4') AS names_one, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 6. two leaves swapped (leaf_index exchanged between seals)
BEGIN;
SELECT leaf_index AS lx FROM sealpg.journal WHERE entry_id = :'s2e2' \gset
UPDATE sealpg.journal SET leaf_index = -1 WHERE entry_id = :'e3';
UPDATE sealpg.journal SET leaf_index = :l3 WHERE entry_id = :'s2e2';
UPDATE sealpg.journal SET leaf_index = :lx WHERE entry_id = :'e3';
SELECT ok, first_bad_entry IN (:'e3', :'s2e2') AS names_one, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 7. an entry inserted in the middle of a chain, with a hash that fits
BEGIN;
UPDATE sealpg.journal SET seal_seq = seal_seq + 100 WHERE seal_id = :'s1' AND seal_seq > 3;
INSERT INTO sealpg.journal (entry_id, seal_id, seal_seq, kind, event_time, payload, prev_hash, entry_hash)
	SELECT '11111111-1111-4111-8111-111111111111', seal_id, 4, 'forged', event_time, '{}', entry_hash, '\x00'
	  FROM sealpg.journal WHERE entry_id = :'e3';
UPDATE sealpg.journal SET entry_hash = sha256(convert_to(sealpg.journal_entry_text(entry_id), 'UTF8'))
 WHERE entry_id = '11111111-1111-4111-8111-111111111111';
UPDATE sealpg.journal SET seal_seq = seal_seq - 99 WHERE seal_id = :'s1' AND seal_seq > 100;
SELECT ok, first_bad_entry = :'e4' AS names_next, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 8. an entry inserted with a leaf of its own at the end
BEGIN;
INSERT INTO sealpg.journal (entry_id, seal_id, seal_seq, kind, event_time, payload, prev_hash, entry_hash, leaf_index)
	SELECT '22222222-2222-4222-8222-222222222222', seal_id, seal_seq + 1, 'forged', event_time, '{}', entry_hash, '\x00', sealpg.tree_size()
	  FROM sealpg.journal WHERE seal_id = :'s2' ORDER BY seal_seq DESC LIMIT 1;
UPDATE sealpg.journal SET entry_hash = sha256(convert_to(sealpg.journal_entry_text(entry_id), 'UTF8'))
 WHERE entry_id = '22222222-2222-4222-8222-222222222222';
SELECT ok, first_bad_entry = '22222222-2222-4222-8222-222222222222' AS names_it, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 9. the tree edited
BEGIN;
UPDATE sealpg.journal_tree SET hash = sha256('x') WHERE level = 1 AND node_index = 0;
SELECT ok, problem FROM sealpg.journal_verify();
ROLLBACK;
-- 10. the whole log rewritten consistently after a tree head was recorded:
--     only the recorded head (and, once signed, its signature) catches it
BEGIN;
ALTER TABLE sealpg.tree_heads DISABLE TRIGGER USER;
UPDATE sealpg.tree_heads SET root_hash = sha256('rewritten') WHERE tree_size = (SELECT max(tree_size) FROM sealpg.tree_heads);
SELECT ok, problem FROM sealpg.journal_verify();
ROLLBACK;
ALTER TABLE sealpg.journal ENABLE TRIGGER USER;
ALTER TABLE sealpg.journal_tree ENABLE TRIGGER USER;
SELECT ok FROM sealpg.journal_verify();

-- evidence containers: a ustar archive that tar reads; bad names refused
SELECT length(sealpg.evidence_tar(ARRAY['a.txt', 'b.bin'], ARRAY['hello'::bytea, '\x00ff'::bytea])) AS tar_length,
	   encode(substr(sealpg.evidence_tar(ARRAY['a.txt'], ARRAY['hello'::bytea]), 258, 5), 'escape') AS magic,
	   encode(substr(sealpg.evidence_tar(ARRAY['a.txt'], ARRAY['hello'::bytea]), 513, 5), 'escape') AS first_content;
SELECT sealpg.tree_head_json(sealpg.tree_size()) ~ '^\{"v":1,"tree_size":[0-9]+,"root_hash":"[0-9a-f]{64}","recorded_at":"[0-9T:.-]+Z"\}$' AS head_json_form;
SELECT sealpg.inclusion_proof_json(entry_id, sealpg.tree_size()) ~ '^\{"v":1,"entry_id":"[0-9a-f-]{36}","leaf_index":[0-9]+,"tree_size":[0-9]+,"leaf_hash":"[0-9a-f]{64}","audit_path":\[("[0-9a-f]{64}",?)*\]\}$' AS proof_json_form
  FROM sealpg.journal WHERE seal_id = :'s1' ORDER BY seal_seq LIMIT 1;
\set ON_ERROR_STOP 0
SELECT sealpg.evidence_tar(ARRAY['dir/a.txt'], ARRAY['x'::bytea]);
SELECT sealpg.evidence_tar(ARRAY['a', 'a'], ARRAY['x'::bytea, 'y'::bytea]);
SELECT sealpg.evidence_tar(ARRAY['a', 'b'], ARRAY['x'::bytea]);
SELECT sealpg.evidence_tar(ARRAY[NULL::text], ARRAY['x'::bytea]);
SELECT sealpg.ocsp_request('\x3000', '\x3000');
SELECT sealpg.tree_head_json(123456789);
\set ON_ERROR_STOP 1

-- signing in the authority's name needs an authority (SE201 without one;
-- record_tree_head then records the head unsigned); evidence of an unknown
-- signature: SE402 (test/integration/evidence_sql.sh runs the whole chain)
SELECT public.sqlstate_of('SELECT sealpg.sign_tree_head()') AS sign_tree_head,
	   public.sqlstate_of('SELECT sealpg.timestamp(sha256(''x''))') AS timestamp_,
	   public.sqlstate_of('SELECT sealpg.tsa_init()') AS tsa_init,
	   public.sqlstate_of('SELECT sealpg.evidence(gen_random_uuid())') AS evidence;
SELECT sealpg.record_tree_head() = sealpg.tree_size() AS recorded_unsigned;
\set ON_ERROR_STOP 0
SELECT sealpg.timestamp('\x00');
SELECT sealpg.signature_value_digest('\x3000');
\set ON_ERROR_STOP 1
-- the same code with keys held in memory (the openssl checks are in
-- test/integration/journal_signing.sh)
SELECT authority_pem LIKE '-----BEGIN CERTIFICATE-----%' AS pem,
	   length(timestamp_response) > 500 AS timestamp_made,
	   length(content_signature) > 300 AS signed,
	   length(cades_t) > length(content_signature) + 500 AS upgraded,
	   sealpg.signature_value_digest(cades_t) = sealpg.signature_value_digest(content_signature) AS same_signature
  FROM sealpg.log_signing_selftest(sha256('x'), 'tree head');

-- privileges: auditors read and verify, operators do neither
SELECT has_function_privilege('sealpg_auditor', 'sealpg.journal_verify()', 'EXECUTE') AS auditor_verifies,
	   has_function_privilege('sealpg_auditor', 'sealpg.inclusion_proof(uuid, bigint)', 'EXECUTE') AS auditor_proves,
	   has_function_privilege('sealpg_auditor', 'sealpg.journal_append(uuid, text, jsonb)', 'EXECUTE') AS auditor_appends,
	   has_function_privilege('sealpg_operator', 'sealpg.journal_verify()', 'EXECUTE') AS operator_verifies,
	   has_table_privilege('sealpg_auditor', 'sealpg.journal', 'SELECT') AS auditor_reads,
	   has_table_privilege('sealpg_admin', 'sealpg.journal', 'UPDATE') AS admin_updates;
DROP FUNCTION public.ref_mth(bigint, bigint);
DROP FUNCTION public.sqlstate_of(text);
