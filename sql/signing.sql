-- the authority, enrolment, sign() and verify(): every refusal with its SQLSTATE
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';

-- outcome(sql): 'ok' or the SQLSTATE and message of the error it raised
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;

SET client_min_messages = warning;
DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['regress_sign_admin', 'regress_sign_op', 'regress_sign_op2',
							 'regress_sign_other', 'regress_sign_nobody'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$$;
GRANT sealpg_admin TO regress_sign_admin;
GRANT sealpg_operator TO regress_sign_op, regress_sign_op2, regress_sign_other;
RESET client_min_messages;

-- ---- the OpenSSL provider alone, an in-memory key standing in for the chip
SELECT sealpg.token_provider_selftest();

-- ---- no authority yet ----------------------------------------------
SELECT pg_temp.outcome($$SELECT sealpg.authority_certificate()$$);
SELECT pg_temp.outcome($$SELECT sealpg.authority_csr()$$);

-- only superusers and sealpg_admin create it
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('Regress Authority')$$);
RESET ROLE;

-- bad arguments
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('Regress Authority', algorithm => 'rsa-2048')$$);
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('Regress Authority', valid_for => '-1 day')$$);
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('Regress Authority', token => 'no-such-token')$$);
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('')$$);

-- ---- the authority -------------------------------------------------
SET ROLE regress_sign_admin;
SELECT sealpg.x509_subject(sealpg.authority_init('Regress Authority')) AS root_subject;
RESET ROLE;
SELECT sealpg.x509_subject(c) = sealpg.x509_issuer(c) AS self_signed,
	   sealpg.x509_not_after(c) - sealpg.x509_not_before(c) > interval '19 years' AS twenty_years
  FROM sealpg.authority_certificate() c;
SELECT name, token_label, key_algorithm, imported, length(key_id) AS key_id_bytes FROM sealpg.authority;
SELECT pg_temp.outcome($$SELECT sealpg.authority_init('Second Authority')$$);
SELECT pg_temp.outcome($$SELECT sealpg.authority_import(sealpg.authority_certificate(), 'sealpg-authority', '\x00')$$);
SELECT sealpg.authority_csr() LIKE '-----BEGIN CERTIFICATE REQUEST-----%' AS csr_is_pem;

-- ---- the chip-bound check, alone -----------------------------------
-- attribute bits: sensitive 1, extractable 2, never-extractable 4, always-sensitive 8, local 16
SELECT pg_temp.outcome($$SELECT sealpg.require_key_in_chip(1 | 4 | 8 | 16)$$) AS chip_born;
SELECT pg_temp.outcome($$SELECT sealpg.require_key_in_chip(1 | 2 | 4 | 8 | 16)$$) AS extractable;
SELECT pg_temp.outcome($$SELECT sealpg.require_key_in_chip(1 | 8 | 16)$$) AS was_extractable;
SELECT pg_temp.outcome($$SELECT sealpg.require_key_in_chip(4 | 16)$$) AS not_sensitive;
SELECT pg_temp.outcome($$SELECT sealpg.require_key_in_chip(1 | 4 | 8)$$) AS imported_key;

-- ---- organisations, seals, enrolment -------------------------------
SELECT sealpg.create_organisation('Acme Signing', admin => 'regress_sign_admin') AS acme \gset
SELECT sealpg.create_organisation('Other Corp', admin => 'regress_sign_admin') AS other \gset
SET ROLE regress_sign_admin;
SELECT sealpg.create_seal('ES-SIGN-1', 'Acme contract seal', 'contract', :'acme', now() + interval '2 years') IS NOT NULL AS created;
SELECT sealpg.create_seal('ES-SIGN-2', 'Acme finance seal', 'finance', :'acme', now() + interval '2 years') IS NOT NULL AS created;
SELECT sealpg.create_seal('ES-SIGN-FUTURE', 'Acme seal of next week', 'contract', :'acme',
	valid_from => now() + interval '7 days', valid_until => now() + interval '1 year') IS NOT NULL AS created;
SELECT sealpg.create_seal('ES-SIGN-OLD', 'Acme seal of 2020', 'contract', :'acme',
	valid_from => '2020-01-01', valid_until => '2021-01-01') IS NOT NULL AS created;
SELECT sealpg.create_seal('ES-OTHER-1', 'Other seal', 'organisation', :'other', now() + interval '1 year') IS NOT NULL AS created;

-- enrolment: unknown seal, expired seal, Ed25519 seal keys, unknown token
SELECT pg_temp.outcome($$SELECT sealpg.enroll('ES-NO-SUCH')$$);
SELECT pg_temp.outcome($$SELECT sealpg.enroll('ES-SIGN-OLD')$$);
SELECT pg_temp.outcome($$SELECT sealpg.enroll('ES-SIGN-1', algorithm => 'ed25519')$$);
SELECT pg_temp.outcome($$SELECT sealpg.enroll('ES-SIGN-1', token => 'no-such-token')$$);

SELECT sealpg.x509_subject(sealpg.enroll('ES-SIGN-1')) AS seal_subject;
SELECT sealpg.x509_issuer(c.certificate) = sealpg.x509_subject(sealpg.authority_certificate()) AS issued_by_authority,
	   c.serial = sealpg.x509_serial(c.certificate) AS serial_recorded,
	   length(c.serial) AS serial_hex_digits,
	   date_trunc('second', c.not_after) = date_trunc('second', s.valid_until) AS ends_with_seal
  FROM sealpg.seals s JOIN sealpg.certificates c ON c.certificate_id = s.certificate_id
 WHERE s.es_id = 'ES-SIGN-1';
SELECT sealpg.enroll('ES-SIGN-FUTURE') IS NOT NULL AS enrolled_early;
SELECT sealpg.enroll('ES-OTHER-1') IS NOT NULL AS enrolled;
RESET ROLE;

-- re-enrolment supersedes the previous certificate
SET ROLE regress_sign_admin;
SELECT sealpg.enroll('ES-SIGN-2') IS NOT NULL AS first, sealpg.enroll('ES-SIGN-2') IS NOT NULL AS second;
RESET ROLE;
SELECT count(*) AS certificates, count(superseded_at) AS superseded,
	   count(*) FILTER (WHERE c.certificate_id = s.certificate_id AND c.superseded_at IS NULL) AS current
  FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'ES-SIGN-2';

-- only the organisation's admins enrol
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.enroll('ES-SIGN-1')$$);
RESET ROLE;

-- ---- sign(): refusals in their order -------------------------------
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-NO-SUCH', 'doc')$$) AS not_found;
RESET ROLE;
SET ROLE regress_sign_admin;
SELECT sealpg.create_seal('ES-SIGN-NEW', 'Acme seal, no key yet', 'contract', :'acme', now() + interval '1 year') IS NOT NULL AS created;
RESET ROLE;
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-NEW', 'doc')$$) AS not_enrolled;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-1', 'doc')$$) AS not_granted;
RESET ROLE;

-- a grant that starts tomorrow, then one with two uses
SET ROLE regress_sign_admin;
SELECT sealpg.grant_seal('ES-SIGN-1', 'regress_sign_op', grant_from => now() + interval '1 day');
RESET ROLE;
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-1', 'doc')$$) AS grant_not_started;
RESET ROLE;
SET ROLE regress_sign_admin;
SELECT sealpg.grant_seal('ES-SIGN-1', 'regress_sign_op', max_uses => 2);
SELECT sealpg.grant_seal('ES-SIGN-FUTURE', 'regress_sign_op');
SELECT sealpg.grant_seal('ES-OTHER-1', 'regress_sign_other');
RESET ROLE;

SET ROLE regress_sign_op;
CREATE TEMP TABLE sigs AS
	SELECT 1 AS n, sealpg.sign('ES-SIGN-1', convert_to('first contract', 'UTF8')) AS sig
	UNION ALL
	SELECT 2, sealpg.sign('ES-SIGN-1', convert_to('second contract', 'UTF8'), attached => true);
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-1', 'third')$$) AS grant_exhausted;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-FUTURE', 'doc')$$) AS not_yet_valid;
-- an operator of another organisation, a granted seal of another organisation
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-OTHER-1', 'doc')$$) AS other_organisation;
RESET ROLE;
SELECT operator, uses, max_uses FROM sealpg.seal_operators o JOIN sealpg.seals s USING (seal_id)
 WHERE s.es_id = 'ES-SIGN-1';

-- roles outside sealpg_operator cannot call sign() at all
SET ROLE regress_sign_nobody;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-1', 'doc')$$) AS not_an_operator;
RESET ROLE;

-- status refusals come before the grant check
SET ROLE regress_sign_admin;
SELECT sealpg.set_status('ES-SIGN-2', 'frozen', 'inventory check');
RESET ROLE;
SET ROLE regress_sign_op2;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-2', 'doc')$$) AS frozen;
RESET ROLE;
SET ROLE regress_sign_admin;
SELECT sealpg.set_status('ES-SIGN-2', 'revoked', 'reported lost');
RESET ROLE;
SET ROLE regress_sign_op2;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-2', 'doc')$$) AS revoked;
RESET ROLE;
-- an enrolled seal whose validity has ended since
UPDATE sealpg.seals SET valid_from = now() - interval '2 years', valid_until = now() - interval '1 second'
 WHERE es_id = 'ES-OTHER-1';
SET ROLE regress_sign_other;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-OTHER-1', 'doc')$$) AS expired;
RESET ROLE;

-- ---- what was recorded ---------------------------------------------
SELECT s.es_id, g.operator, g.client_addr, length(g.document_digest) AS digest_bytes,
	   g.document_digest = sha256(convert_to(CASE n WHEN 1 THEN 'first contract' ELSE 'second contract' END, 'UTF8')) AS digest_ok,
	   g.certificate_serial = sealpg.sealsig_signer_serial(g.signature) AS serial_ok,
	   sealpg.sealsig_is_detached(g.signature) AS detached,
	   sealpg.sealsig_digest_algorithm(g.signature) AS digest_algorithm
  FROM sigs JOIN sealpg.signatures g ON g.signature::bytea = sigs.sig::bytea
  JOIN sealpg.seals s ON s.seal_id = g.seal_id
 ORDER BY n;

-- refused attempts are written by the background worker: wait for them
DO $$
BEGIN
	FOR i IN 1..100 LOOP
		EXIT WHEN (SELECT count(*) FROM sealpg.refused_signings WHERE operator::text LIKE 'regress_sign%') >= 10;
		PERFORM pg_sleep(0.1);
	END LOOP;
END
$$;
SELECT es_id, operator, sqlstate, reason, seal_id IS NOT NULL AS known_seal
  FROM sealpg.refused_signings WHERE operator::text LIKE 'regress_sign%' ORDER BY attempted_at, sqlstate;

-- ---- a batch in one transaction -----------------------------------
-- every use is counted and the limit holds inside the batch, also across
-- savepoints that roll back
SET ROLE regress_sign_admin;
SELECT sealpg.create_seal('ES-SIGN-BATCH', 'Acme batch seal', 'contract', :'acme', now() + interval '1 year') IS NOT NULL AS created;
SELECT sealpg.enroll('ES-SIGN-BATCH') IS NOT NULL AS enrolled;
SELECT sealpg.grant_seal('ES-SIGN-BATCH', 'regress_sign_op', max_uses => 5);
RESET ROLE;
SET ROLE regress_sign_op;
BEGIN;
SELECT count(sealpg.sign('ES-SIGN-BATCH', convert_to('batch ' || i, 'UTF8'))) AS signed FROM generate_series(1, 3) i;
SAVEPOINT before_one;
SELECT sealpg.sign('ES-SIGN-BATCH', 'rolled back') IS NOT NULL AS signed;
ROLLBACK TO before_one;
SELECT pg_temp.outcome($$SELECT count(sealpg.sign('ES-SIGN-BATCH', convert_to('over ' || i, 'UTF8'))) FROM generate_series(1, 3) i$$) AS three_more;
SELECT count(sealpg.sign('ES-SIGN-BATCH', convert_to('last ' || i, 'UTF8'))) AS signed FROM generate_series(1, 2) i;
COMMIT;
RESET ROLE;
SELECT o.uses, o.max_uses, (SELECT count(*) FROM sealpg.signatures g WHERE g.seal_id = s.seal_id) AS signatures
  FROM sealpg.seal_operators o JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'ES-SIGN-BATCH';

-- ---- verify() ------------------------------------------------------
SELECT valid, es_id, status_at_signing, status_now, reason
  FROM sigs, sealpg.verify(sig, convert_to('first contract', 'UTF8')) WHERE n = 1;
SELECT valid, es_id, reason
  FROM sigs, sealpg.verify(sig, convert_to('first contract, amended', 'UTF8')) WHERE n = 1;
SELECT valid, reason FROM sigs, sealpg.verify(sig, NULL) WHERE n = 1;
-- attached: the document may be left out, or must match
SELECT valid, es_id, reason FROM sigs, sealpg.verify(sig, NULL) WHERE n = 2;
SELECT valid, reason FROM sigs, sealpg.verify(sig, convert_to('second contract', 'UTF8')) WHERE n = 2;
SELECT valid, reason FROM sigs, sealpg.verify(sig, convert_to('another contract', 'UTF8')) WHERE n = 2;
-- the wrong trust anchor: a seal certificate is no authority
SELECT valid, es_id, status_now, reason
  FROM sigs, sealpg.verify(sig, convert_to('first contract', 'UTF8'),
						   (SELECT certificate FROM sealpg.certificates c JOIN sealpg.seals s USING (seal_id)
							 WHERE s.es_id = 'ES-OTHER-1'))
 WHERE n = 1;
-- the signer's seal is revoked later: still valid, status_now says what happened
SET ROLE regress_sign_admin;
SELECT sealpg.set_status('ES-SIGN-1', 'revoked', 'stolen');
RESET ROLE;
SELECT valid, status_at_signing, status_now FROM sigs, sealpg.verify(sig, convert_to('first contract', 'UTF8')) WHERE n = 1;
SET ROLE regress_sign_op;
SELECT pg_temp.outcome($$SELECT sealpg.sign('ES-SIGN-1', 'doc')$$) AS revoked;
RESET ROLE;

-- ---- settings ------------------------------------------------------
SELECT pg_temp.outcome($$SET sealpg.crl_url = 'ftp://example.org/seals.crl'$$);
SELECT pg_temp.outcome($$SET sealpg.ocsp_url = 'http://example.org/a,b'$$);
SELECT pg_temp.outcome($$SET sealpg.crl_url = 'http://example.org/seals.crl'$$);
