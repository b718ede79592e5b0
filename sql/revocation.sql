-- revocation: loss reports, freeze/unfreeze, the two-person rule, CRL
-- entries, the outbox, and OCSP's answers to malformed requests
CREATE EXTENSION IF NOT EXISTS sealpg;
\set VERBOSITY default
\set SHOW_CONTEXT never
SET timezone = 'UTC';
-- a database of its own making: one authority per database, and the
-- tests after this one start without it
SET client_min_messages = warning;
DROP EXTENSION sealpg CASCADE;
CREATE EXTENSION sealpg;
RESET client_min_messages;

-- outcome(sql): 'ok' or the SQLSTATE and message of the error (uuids masked)
CREATE FUNCTION pg_temp.outcome(q text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
	EXECUTE q;
	RETURN 'ok';
EXCEPTION WHEN OTHERS THEN
	RETURN SQLSTATE || ': ' || regexp_replace(SQLERRM, '[0-9a-f]{8}-[0-9a-f-]{27}', '<uuid>', 'g');
END
$$;

DO $$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['regress_rev_admin', 'regress_rev_admin2', 'regress_rev_op',
							 'regress_rev_other'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = r) THEN
			EXECUTE format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
	PERFORM sealpg.authority_init('Regress Revocation Authority');
END
$$;
GRANT sealpg_admin TO regress_rev_admin, regress_rev_admin2, regress_rev_other;
GRANT sealpg_operator TO regress_rev_op;

-- fixtures: an organisation, one with the two-person rule, another one
SELECT sealpg.create_organisation('Revocation Ltd', false, 'regress_rev_admin') AS org \gset
SELECT sealpg.create_organisation('Revocation Two Ltd', true, 'regress_rev_admin') AS org2 \gset
SELECT sealpg.create_organisation('Elsewhere Ltd', false, 'regress_rev_other') AS other \gset
SELECT sealpg.add_member(:'org', 'regress_rev_op');
SELECT sealpg.add_member(:'org2', 'regress_rev_admin2', true);
SELECT count(*) AS seals FROM (
	SELECT sealpg.create_seal('RV-LOST', 'lost seal', 'contract', :'org', now() + interval '1 year')
	UNION ALL SELECT sealpg.create_seal('RV-HOLD', 'held seal', 'finance', :'org', now() + interval '1 year')
	UNION ALL SELECT sealpg.create_seal('RV-PLAIN', 'never enrolled', 'personal', :'org', now() + interval '1 year')
	UNION ALL SELECT sealpg.create_seal('RV-TWO', 'two-person seal', 'legal_representative', :'org2', now() + interval '1 year')
	UNION ALL SELECT sealpg.create_seal('RV-TWO-B', 'two-person seal B', 'contract', :'org2', now() + interval '1 year')) s;
-- two certificates for RV-LOST (the first superseded), one for the others
SELECT count(*) AS certificates FROM (
	SELECT sealpg.enroll('RV-LOST') UNION ALL SELECT sealpg.enroll('RV-LOST')
	UNION ALL SELECT sealpg.enroll('RV-HOLD') UNION ALL SELECT sealpg.enroll('RV-TWO')) c;
SELECT s.es_id, r.reason_code, sealpg.reason_name(r.reason_code), r.ended_at IS NULL AS current
  FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id LIKE 'RV-%' ORDER BY 1;

-- reason names and codes
SELECT sealpg.reason_code('keyCompromise'), sealpg.reason_code('key_compromise'),
	   sealpg.reason_code('CessationOfOperation'), sealpg.reason_code('nonsense'),
	   sealpg.reason_name(6::smallint), sealpg.reason_name(8::smallint);

-- ---- who may ------------------------------------------------------
SET ROLE regress_rev_op;
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-LOST', 'stolen', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'keyCompromise', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.freeze('RV-LOST', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.crl() IS NOT NULL$$);
RESET ROLE;
SET ROLE regress_rev_other;
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-LOST', 'stolen', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.unfreeze('RV-LOST', 'x')$$);
RESET ROLE;

-- ---- bad arguments --------------------------------------------------
SET ROLE regress_rev_admin;
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-NOPE', 'lost', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-LOST', 'misplaced', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-LOST', 'stolen', 'x', now() + interval '1 day')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'certificateHold', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'removeFromCRL', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'cACompromise', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'bogus', 'x')$$);
SELECT pg_temp.outcome($$SELECT sealpg.unfreeze('RV-HOLD', 'not frozen')$$);
SELECT pg_temp.outcome($$SELECT sealpg.approve('00000000-0000-0000-0000-000000000000')$$);

-- ---- freeze and unfreeze: certificateHold, then released ------------
SELECT sealpg.freeze('RV-HOLD', 'anomaly under review');
SELECT pg_temp.outcome($$SELECT sealpg.freeze('RV-HOLD', 'again')$$);
SELECT s.es_id, s.status, r.reason_code, r.ended_at IS NULL AS current
  FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-HOLD';
SELECT sealpg.unfreeze('RV-HOLD', 'explained');
SELECT s.es_id, s.status, r.reason_code, r.ended_at IS NULL AS current, r.ended_by
  FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-HOLD';

-- ---- a loss report: every certificate revoked at once ---------------
SELECT sealpg.report_loss('RV-LOST', 'stolen', 'taken from the safe', now() - interval '2 hours') IS NOT NULL AS reported;
SELECT status, status_reason FROM sealpg.seals WHERE es_id = 'RV-LOST';
SELECT r.reason_code, sealpg.reason_name(r.reason_code), r.actor, r.approver, r.note,
	   r.invalidity_date IS NOT NULL AS has_invalidity, r.ended_at IS NULL AS current
  FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-LOST'
 ORDER BY r.revocation_id;
SELECT action, loss, reason_code, requested_by, approved_by, executed_at IS NOT NULL AS executed
  FROM sealpg.revocation_requests q JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-LOST';
-- and after it: refused
SELECT pg_temp.outcome($$SELECT sealpg.report_loss('RV-LOST', 'lost', 'again')$$);
SELECT pg_temp.outcome($$SELECT sealpg.revoke('RV-LOST', 'unspecified', 'again')$$);
SELECT pg_temp.outcome($$SELECT sealpg.freeze('RV-LOST', 'too late')$$);
SELECT pg_temp.outcome($$SELECT sealpg.approve(request_id) FROM sealpg.revocation_requests
	WHERE seal_id = (SELECT seal_id FROM sealpg.seals WHERE es_id = 'RV-LOST')$$);
-- a seal never enrolled is revoked too (no certificate to list)
SELECT sealpg.revoke('RV-PLAIN', 'cessationOfOperation', 'branch closed') IS NOT NULL AS revoked;
SELECT sealpg.status('RV-PLAIN');
RESET ROLE;

-- ---- the two-person rule --------------------------------------------
SET ROLE regress_rev_admin;
SELECT sealpg.revoke('RV-TWO', 'privilegeWithdrawn', 'power of attorney withdrawn') AS request \gset
SELECT sealpg.status('RV-TWO') AS still;
SELECT count(*) AS records FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-TWO' AND r.reason_code <> 4;
SELECT pg_temp.outcome(format('SELECT sealpg.approve(%L)', :'request'));
-- the registry's set_status cannot go around the rule
SELECT pg_temp.outcome($$SELECT sealpg.set_status('RV-TWO-B', 'revoked', 'alone')$$);
RESET ROLE;
SET ROLE regress_rev_other;
SELECT pg_temp.outcome(format('SELECT sealpg.approve(%L)', :'request'));
RESET ROLE;
SET ROLE regress_rev_admin2;
SELECT pg_temp.outcome(format('SELECT sealpg.approve(%L)', :'request'));
SELECT sealpg.status('RV-TWO');
SELECT r.reason_code, r.actor, r.approver, r.note
  FROM sealpg.revocations r JOIN sealpg.seals s USING (seal_id) WHERE s.es_id = 'RV-TWO';
SELECT pg_temp.outcome(format('SELECT sealpg.approve(%L)', :'request'));
RESET ROLE;

-- ---- no outbox for a root made here ---------------------------------
SELECT count(*) AS outbox FROM sealpg.revocation_outbox;
SELECT pg_temp.outcome($$SELECT sealpg.outbox_delivered(1)$$);

-- ---- an imported (external) authority: enforced here, and the outbox --
UPDATE sealpg.authority SET imported = true;
SET ROLE regress_rev_admin;
SELECT sealpg.revoke('RV-HOLD', 'affiliationChanged', 'moved to the parent company') IS NOT NULL AS revoked;
SELECT o.serial = c.serial AS same_serial, o.reason_code, o.issuer, o.attempts, o.delivered_at IS NULL AS pending
  FROM sealpg.revocation_outbox o JOIN sealpg.certificates c USING (seal_id);
SELECT outbox_id AS outbox_id FROM sealpg.revocation_outbox \gset
RESET ROLE;
SET ROLE regress_rev_op;
SELECT pg_temp.outcome(format('SELECT sealpg.outbox_delivered(%s)', :outbox_id));
RESET ROLE;
SET ROLE regress_rev_admin;
SELECT sealpg.outbox_delivered(:outbox_id, 'connection refused');
SELECT attempts, last_error, delivered_at IS NULL AS pending FROM sealpg.revocation_outbox;
SELECT sealpg.outbox_delivered(:outbox_id);
SELECT attempts, last_error, delivered_at IS NULL AS pending FROM sealpg.revocation_outbox;
SELECT pg_temp.outcome(format('SELECT sealpg.outbox_delivered(%s)', :outbox_id));
RESET ROLE;
UPDATE sealpg.authority SET imported = false;

-- ---- CRLs: numbers increase; the operator reads them ---------------
SELECT sealpg.crl() IS NOT NULL AS crl, sealpg.delta_crl() IS NOT NULL AS delta;
SELECT count(DISTINCT crl_number) = count(*) AS distinct_numbers,
	   bool_and(base_number IS NULL OR base_number < crl_number) AS deltas_after_bases
  FROM sealpg.crls;

-- ---- OCSP: malformed requests get an OCSP error status --------------
-- before any responder exists: internalError (02)
SELECT encode(sealpg.ocsp_respond('\x30423040303e303c303a300906052b0e03021a05000414111111111111111111111111111111111111111104142222222222222222222222222222222222222222020101'), 'hex') AS no_responder;
SELECT sealpg.ocsp_responder_init() IS NOT NULL AS responder;
SELECT request, encode(sealpg.ocsp_respond(decode(hex, 'hex')), 'hex') AS response FROM (VALUES
	('empty', ''),
	('one byte', '30'),
	('junk', 'deadbeefdeadbeef'),
	('not a sequence', '0403010203'),
	('truncated', '30423040303e303c303a300906052b0e03021a0500041411111111111111111111111111111111111111110414222222222222222222222222222222222222'),
	('trailing byte', '30423040303e303c303a300906052b0e03021a0500041411111111111111111111111111111111111111110414222222222222222222222222222222222222222202010100'),
	('indefinite length', '30803040303e303c303a300906052b0e03021a050004141111111111111111111111111111111111111111041422222222222222222222222222222222222222220201010000'),
	('version 2', '30473045a003020101303e303c303a300906052b0e03021a05000414111111111111111111111111111111111111111104142222222222222222222222222222222222222222020101'),
	('no certificates', '300430023000'),
	('negative serial', '30423040303e303c303a300906052b0e03021a050004141111111111111111111111111111111111111111041422222222222222222222222222222222222222220201ff'),
	('length beyond end', '30ff3040'),
	('huge length', '3084ffffffff3040'),
	('17 certificates', '30820426308204223082041e' || repeat('303c303a300906052b0e03021a05000414111111111111111111111111111111111111111104142222222222222222222222222222222222222222020101', 17)),
	('oversized', '308223283082232430822320' || repeat('00', 9000)),
	('unknown issuer', '30423040303e303c303a300906052b0e03021a05000414111111111111111111111111111111111111111104142222222222222222222222222222222222222222020101')
) AS t(request, hex);
-- every role may ask
SET ROLE regress_rev_op;
SELECT encode(sealpg.ocsp_respond('\x3000'), 'hex') AS operator_asks;
RESET ROLE;

-- leave the database as the tests after this one expect it
SET client_min_messages = warning;
DROP EXTENSION sealpg CASCADE;
CREATE EXTENSION sealpg;
RESET client_min_messages;
