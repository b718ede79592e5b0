-- ===================================================================
-- 40 Revocation: loss reports, freeze and unfreeze, two-person
--    approvals, revocation records, the external-CA outbox, CRLs and
--    delta CRLs, OCSP
-- ===================================================================
-- Written so that it also works as the upgrade delta from 0.1.0: it only
-- creates objects, and adds triggers to the registry's and the
-- authority's tables.
--
-- One code path writes revocation records: the trigger on the status of
-- sealpg.seals.  The API functions below check who asks, record the
-- request, then change the status; the trigger reads the request executed
-- in the same transaction (reason, note, approver) and writes one record
-- per certificate of the seal, the outbox rows and the notifications.  A
-- status changed another way (sealpg.set_status, the anomaly rules) goes
-- through the same trigger, so the CRL and OCSP never disagree with the
-- seal's status.

-- ---- reason codes (RFC 5280, 5.3.1) ---------------------------------

CREATE FUNCTION sealpg.reason_code(reason text) RETURNS smallint
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT CASE pg_catalog.lower(pg_catalog.replace(reason, '_', ''))
		WHEN 'unspecified' THEN 0
		WHEN 'keycompromise' THEN 1
		WHEN 'cacompromise' THEN 2
		WHEN 'affiliationchanged' THEN 3
		WHEN 'superseded' THEN 4
		WHEN 'cessationofoperation' THEN 5
		WHEN 'certificatehold' THEN 6
		WHEN 'removefromcrl' THEN 8
		WHEN 'privilegewithdrawn' THEN 9
		WHEN 'aacompromise' THEN 10
	END::smallint
$$;
COMMENT ON FUNCTION sealpg.reason_code(text) IS
	'the RFC 5280 CRLReason code of a reason name (keyCompromise or key_compromise: 1), NULL for an unknown name';

CREATE FUNCTION sealpg.reason_name(code smallint) RETURNS text
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT (ARRAY['unspecified', 'keyCompromise', 'cACompromise', 'affiliationChanged',
				  'superseded', 'cessationOfOperation', 'certificateHold', NULL,
				  'removeFromCRL', 'privilegeWithdrawn', 'aACompromise'])[code + 1]
$$;
COMMENT ON FUNCTION sealpg.reason_name(smallint) IS 'the RFC 5280 name of a CRLReason code';

-- Harmless lookups of public constants.
GRANT EXECUTE ON FUNCTION sealpg.reason_code(text), sealpg.reason_name(smallint) TO PUBLIC;

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.revocation_requests (
	request_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	action			text NOT NULL CHECK (action IN ('report_loss', 'revoke')),
	loss			text CHECK (loss IN ('lost', 'stolen', 'counterfeited')),
	reason_code		smallint NOT NULL CHECK (reason_code IN (0, 1, 3, 4, 5, 9)),
	invalidity_date	timestamptz,
	note			text,
	requested_by	name NOT NULL,
	requested_at	timestamptz NOT NULL DEFAULT pg_catalog.now(),
	approved_by		name,
	executed_at		timestamptz,
	executed_xid	xid8,
	CHECK ((loss IS NULL) = (action = 'revoke')),
	CHECK ((executed_at IS NULL) = (executed_xid IS NULL)),
	CHECK (approved_by IS NULL OR approved_by <> requested_by)
);
COMMENT ON TABLE sealpg.revocation_requests IS
	'every loss report and revocation asked for: executed at once, or pending until a second administrator approves it (two-person rule)';
COMMENT ON COLUMN sealpg.revocation_requests.executed_xid IS
	'the transaction that executed the request; the status trigger finds the request by it';
CREATE INDEX ON sealpg.revocation_requests (seal_id);
CREATE INDEX ON sealpg.revocation_requests (executed_xid);

CREATE TABLE sealpg.revocations (
	revocation_id	bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	serial			text NOT NULL,
	certificate_id	uuid NOT NULL REFERENCES sealpg.certificates,
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	reason_code		smallint NOT NULL CHECK (reason_code IN (0, 1, 3, 4, 5, 6, 9)),
	revoked_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	invalidity_date	timestamptz,
	actor			name NOT NULL,
	approver		name,
	note			text,
	request_id		uuid REFERENCES sealpg.revocation_requests,
	change_xid		xid8 NOT NULL DEFAULT pg_catalog.pg_current_xact_id(),
	ended_at		timestamptz,
	ended_by		name,
	ended_xid		xid8,
	CHECK ((ended_at IS NULL) = (ended_xid IS NULL))
);
COMMENT ON TABLE sealpg.revocations IS
	'CRL entries: every certificate revoked, held (certificateHold while frozen) or superseded; an entry ends when a hold is released or a stronger reason replaces it';
COMMENT ON COLUMN sealpg.revocations.serial IS 'certificate serial, lowercase hexadecimal as sealpg.certificates.serial';
COMMENT ON COLUMN sealpg.revocations.change_xid IS 'transaction that wrote the entry (CRL caches and delta CRLs compare it with their snapshot)';
COMMENT ON COLUMN sealpg.revocations.ended_xid IS 'transaction that ended the entry (delta CRLs list such serials as removeFromCRL)';
-- One current entry per certificate.
CREATE UNIQUE INDEX revocations_current ON sealpg.revocations (serial) WHERE ended_at IS NULL;
CREATE INDEX ON sealpg.revocations (seal_id);
CREATE INDEX ON sealpg.revocations (change_xid);
CREATE INDEX ON sealpg.revocations (ended_xid) WHERE ended_xid IS NOT NULL;

CREATE TABLE sealpg.revocation_outbox (
	outbox_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	revocation_id	bigint NOT NULL REFERENCES sealpg.revocations,
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	serial			text NOT NULL,
	issuer			text NOT NULL,
	reason_code		smallint NOT NULL,
	revoked_at		timestamptz NOT NULL,
	invalidity_date	timestamptz,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	attempts		integer NOT NULL DEFAULT 0,
	last_error		text,
	delivered_at	timestamptz
);
COMMENT ON TABLE sealpg.revocation_outbox IS
	'revocations an external (imported) authority must be told of; a connector delivers them and marks them with sealpg.outbox_delivered()';
CREATE INDEX ON sealpg.revocation_outbox (outbox_id) WHERE delivered_at IS NULL;

CREATE SEQUENCE sealpg.crl_number AS bigint;
COMMENT ON SEQUENCE sealpg.crl_number IS 'CRL numbers (complete and delta CRLs share one strictly increasing sequence, RFC 5280 5.2.3)';

CREATE TABLE sealpg.crls (
	crl_number		bigint PRIMARY KEY,
	base_number		bigint,
	is_base			boolean NOT NULL DEFAULT false,
	this_update		timestamptz NOT NULL,
	next_update		timestamptz NOT NULL,
	covers			pg_snapshot NOT NULL,
	entries			integer NOT NULL,
	der				bytea NOT NULL,
	CHECK (NOT (is_base AND base_number IS NOT NULL))
);
COMMENT ON TABLE sealpg.crls IS
	'CRLs issued (complete: base_number NULL; delta: the base CRL''s number); covers is the snapshot whose committed changes the CRL lists';
-- a CRL is mostly serials and signatures: compressing it gains little and costs much
ALTER TABLE sealpg.crls ALTER COLUMN der SET STORAGE EXTERNAL;
COMMENT ON COLUMN sealpg.crls.is_base IS 'a complete CRL issued by the schedule (sealpg.crl_refresh); delta CRLs are relative to the latest one';

CREATE TABLE sealpg.ocsp_responders (
	responder_id	uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	token_label		text NOT NULL,
	key_id			bytea NOT NULL,
	certificate		sealpg.x509 NOT NULL,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	current			boolean NOT NULL DEFAULT true
);
COMMENT ON TABLE sealpg.ocsp_responders IS
	'delegated OCSP responder certificates (id-kp-OCSPSigning, issued by the authority, key on the token); the current one signs';
CREATE UNIQUE INDEX ocsp_responders_current ON sealpg.ocsp_responders (current) WHERE current;

-- ---- row-level security --------------------------------------------

ALTER TABLE sealpg.revocation_requests ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.revocations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.revocation_outbox ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.crls ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.ocsp_responders ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_organisation ON sealpg.revocation_requests
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = revocation_requests.seal_id)));
CREATE POLICY by_organisation ON sealpg.revocations
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = revocations.seal_id)));
CREATE POLICY by_organisation ON sealpg.revocation_outbox
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = revocation_outbox.seal_id)));
-- CRLs and the responder's certificate are published to everyone anyway.
CREATE POLICY everyone ON sealpg.crls USING (true);
CREATE POLICY everyone ON sealpg.ocsp_responders USING (true);

-- Written only by the functions below.
REVOKE ALL ON sealpg.revocation_requests, sealpg.revocations, sealpg.revocation_outbox,
	sealpg.crls, sealpg.ocsp_responders FROM PUBLIC;
REVOKE ALL ON SEQUENCE sealpg.crl_number FROM PUBLIC;
GRANT SELECT ON sealpg.revocation_requests, sealpg.revocations, sealpg.revocation_outbox
	TO sealpg_admin, sealpg_auditor;
GRANT SELECT ON sealpg.crls, sealpg.ocsp_responders TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- C functions (internal) ----------------------------------------

CREATE FUNCTION sealpg.notify_revocation(payload text) RETURNS void
	AS 'MODULE_PATHNAME', 'sealpg_notify_revocation'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.notify_revocation(text) IS
	'queues a JSON payload on channel sealpg_revocation, delivered on commit (internal)';

CREATE FUNCTION sealpg.crl_build(crl_number bigint, this_update timestamptz, next_update timestamptz,
								 base_number bigint, base_snapshot pg_snapshot,
								 OUT der bytea, OUT entries integer)
	AS 'MODULE_PATHNAME', 'sealpg_crl_build'
	LANGUAGE C VOLATILE;
COMMENT ON FUNCTION sealpg.crl_build(bigint, timestamptz, timestamptz, bigint, pg_snapshot) IS
	'encodes and signs (through the authority''s token) a complete CRL, or with a base a delta CRL (internal)';

CREATE FUNCTION sealpg.issue_ocsp_certificate(spki bytea, valid_for interval) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_issue_ocsp_certificate'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.issue_ocsp_certificate(bytea, interval) IS
	'the authority certifies an OCSP responder key: id-kp-OCSPSigning, id-pkix-ocsp-nocheck (internal)';

-- Internal: they notify, or sign in the authority's name.
REVOKE ALL ON FUNCTION
	sealpg.notify_revocation(text),
	sealpg.crl_build(bigint, timestamptz, timestamptz, bigint, pg_snapshot),
	sealpg.issue_ocsp_certificate(bytea, interval)
	FROM PUBLIC;

-- ---- the status trigger --------------------------------------------

-- Ends the current CRL entry of a certificate (if any).
CREATE FUNCTION sealpg.end_revocation_entry(cert_serial text) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE sealpg.revocations SET ended_at = pg_catalog.now(), ended_by = sealpg.caller(),
		   ended_xid = pg_catalog.pg_current_xact_id()
	 WHERE serial = cert_serial AND ended_at IS NULL;
END
$$;
COMMENT ON FUNCTION sealpg.end_revocation_entry(text) IS 'ends the current CRL entry of a certificate (internal)';
REVOKE ALL ON FUNCTION sealpg.end_revocation_entry(text) FROM PUBLIC;	-- internal

CREATE FUNCTION sealpg.revocation_on_status() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	req sealpg.revocation_requests;
	c record;
	rev_id bigint;
	outbox bigint;
	imported boolean;
	issuer text;
	code smallint;
	who name := sealpg.caller();
	n integer := 0;
BEGIN
	IF NEW.status = OLD.status THEN
		RETURN NULL;
	END IF;

	IF NEW.status = 'frozen' THEN
		-- certificateHold for every certificate not already listed
		INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, actor, note)
		SELECT cert.serial, cert.certificate_id, NEW.seal_id, 6, who, NEW.status_reason
		  FROM sealpg.certificates cert
		 WHERE cert.seal_id = NEW.seal_id
		   AND NOT EXISTS (SELECT 1 FROM sealpg.revocations r
							WHERE r.serial = cert.serial AND r.ended_at IS NULL);
		RETURN NULL;
	END IF;

	IF OLD.status = 'frozen' AND NEW.status IN ('active', 'expired') THEN
		-- the hold is released: removeFromCRL in the next delta CRL
		UPDATE sealpg.revocations SET ended_at = pg_catalog.now(), ended_by = who,
			   ended_xid = pg_catalog.pg_current_xact_id()
		 WHERE seal_id = NEW.seal_id AND reason_code = 6 AND ended_at IS NULL;
		RETURN NULL;
	END IF;

	IF NEW.status <> 'revoked' THEN
		RETURN NULL;
	END IF;

	SELECT * INTO req FROM sealpg.revocation_requests q
	 WHERE q.seal_id = NEW.seal_id AND q.executed_xid = pg_catalog.pg_current_xact_id()
	 ORDER BY q.executed_at DESC LIMIT 1;
	IF NOT FOUND THEN
		-- revoked without sealpg.revoke()/report_loss(): set_status, say
		IF (SELECT o.two_person_rule FROM sealpg.organisations o
			 WHERE o.organisation_id = NEW.organisation_id) THEN
			RAISE EXCEPTION 'seal "%" may only be revoked with a second administrator''s approval', NEW.es_id
				USING ERRCODE = 'SE303',
					  HINT = 'Use sealpg.revoke(seal, reason, note) or sealpg.report_loss(...), then another administrator runs sealpg.approve(request).';
		END IF;
		req.reason_code := 0;
		req.note := NEW.status_reason;
		req.requested_by := who;
	END IF;

	SELECT a.imported, sealpg.x509_subject(a.certificate) INTO imported, issuer FROM sealpg.authority a;
	imported := coalesce(imported, false);

	FOR c IN SELECT cert.certificate_id, cert.serial FROM sealpg.certificates cert
			  WHERE cert.seal_id = NEW.seal_id ORDER BY cert.issued_at
	LOOP
		PERFORM sealpg.end_revocation_entry(c.serial);
		INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, invalidity_date,
										actor, approver, note, request_id)
			VALUES (c.serial, c.certificate_id, NEW.seal_id, req.reason_code, req.invalidity_date,
					req.requested_by, req.approved_by, req.note, req.request_id)
			RETURNING revocation_id INTO rev_id;
		outbox := NULL;
		IF imported THEN
			INSERT INTO sealpg.revocation_outbox (revocation_id, seal_id, serial, issuer, reason_code,
												  revoked_at, invalidity_date)
				VALUES (rev_id, NEW.seal_id, c.serial, issuer, req.reason_code, pg_catalog.now(),
						req.invalidity_date)
				RETURNING outbox_id INTO outbox;
		END IF;
		PERFORM sealpg.notify_revocation(pg_catalog.json_build_object(
			'v', 1, 'seal', NEW.seal_id, 'es_id', NEW.es_id, 'serial', c.serial,
			'reason', sealpg.reason_name(req.reason_code), 'reason_code', req.reason_code,
			'time', pg_catalog.now(), 'invalidity_date', req.invalidity_date,
			'actor', req.requested_by, 'approver', req.approved_by,
			'request', req.request_id, 'outbox_id', outbox)::text);
		n := n + 1;
	END LOOP;
	IF n = 0 THEN
		-- not enrolled: no certificate to list, but listeners still learn of it
		PERFORM sealpg.notify_revocation(pg_catalog.json_build_object(
			'v', 1, 'seal', NEW.seal_id, 'es_id', NEW.es_id, 'serial', NULL,
			'reason', sealpg.reason_name(req.reason_code), 'reason_code', req.reason_code,
			'time', pg_catalog.now(), 'invalidity_date', req.invalidity_date,
			'actor', req.requested_by, 'approver', req.approved_by,
			'request', req.request_id, 'outbox_id', NULL)::text);
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sealpg.revocation_on_status() IS
	'keeps CRL entries in step with seal status: hold on freeze, release on unfreeze, one entry per certificate on revocation; notifies sealpg_revocation';
REVOKE ALL ON FUNCTION sealpg.revocation_on_status() FROM PUBLIC;	-- a trigger

CREATE TRIGGER seal_revocation_after AFTER UPDATE OF status ON sealpg.seals
	FOR EACH ROW EXECUTE FUNCTION sealpg.revocation_on_status();

CREATE FUNCTION sealpg.revocation_on_certificate() RETURNS trigger
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	st sealpg.seal_status;
BEGIN
	IF TG_OP = 'INSERT' THEN
		-- a certificate issued to a frozen seal is held at once
		SELECT s.status INTO st FROM sealpg.seals s WHERE s.seal_id = NEW.seal_id;
		IF st = 'frozen' THEN
			INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, actor, note)
				VALUES (NEW.serial, NEW.certificate_id, NEW.seal_id, 6, sealpg.caller(), 'issued while frozen');
		END IF;
	ELSIF OLD.superseded_at IS NULL AND NEW.superseded_at IS NOT NULL
		  AND NOT EXISTS (SELECT 1 FROM sealpg.revocations r
						   WHERE r.serial = NEW.serial AND r.ended_at IS NULL AND r.reason_code <> 6) THEN
		PERFORM sealpg.end_revocation_entry(NEW.serial);
		INSERT INTO sealpg.revocations (serial, certificate_id, seal_id, reason_code, revoked_at, actor, note)
			VALUES (NEW.serial, NEW.certificate_id, NEW.seal_id, 4, NEW.superseded_at, sealpg.caller(),
					'superseded by re-enrolment');
	END IF;
	RETURN NULL;
END
$$;
COMMENT ON FUNCTION sealpg.revocation_on_certificate() IS
	'lists superseded certificates on the CRL (reason superseded) and holds certificates issued to frozen seals';
REVOKE ALL ON FUNCTION sealpg.revocation_on_certificate() FROM PUBLIC;	-- a trigger

CREATE TRIGGER certificate_revocation_after AFTER INSERT OR UPDATE OF superseded_at ON sealpg.certificates
	FOR EACH ROW EXECUTE FUNCTION sealpg.revocation_on_certificate();

-- ---- API: loss reports, revocation, approvals, freeze ---------------

-- Executes a request: marks it, then revokes the seal (the trigger writes
-- the records).  The caller holds the seal row lock.
CREATE FUNCTION sealpg.execute_revocation(request uuid) RETURNS void
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	req sealpg.revocation_requests;
	s sealpg.seals;
BEGIN
	SELECT * INTO req FROM sealpg.revocation_requests q WHERE q.request_id = request;
	SELECT * INTO s FROM sealpg.seals x WHERE x.seal_id = req.seal_id;
	IF s.status = 'revoked' THEN
		RAISE EXCEPTION 'seal "%" is already revoked', s.es_id USING ERRCODE = 'SE001';
	END IF;
	UPDATE sealpg.revocation_requests
	   SET executed_at = pg_catalog.now(), executed_xid = pg_catalog.pg_current_xact_id()
	 WHERE request_id = request;
	UPDATE sealpg.seals
	   SET status = 'revoked', status_changed_at = pg_catalog.now(),
		   status_reason = coalesce(req.loss, sealpg.reason_name(req.reason_code))
						   || coalesce(': ' || req.note, '')
	 WHERE seal_id = req.seal_id;
END
$$;
COMMENT ON FUNCTION sealpg.execute_revocation(uuid) IS 'revokes the seal of a request (internal; callers lock the seal and check identity)';
REVOKE ALL ON FUNCTION sealpg.execute_revocation(uuid) FROM PUBLIC;	-- internal

-- Records a request and executes it now unless two persons are needed.
CREATE FUNCTION sealpg.request_revocation(s sealpg.seals, action text, loss text, code smallint,
										  note text, invalidity timestamptz) RETURNS uuid
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF s.status = 'revoked' THEN
		RAISE EXCEPTION 'seal "%" is already revoked', s.es_id USING ERRCODE = 'SE001',
			DETAIL = 'Revocation is final; nothing more to do.';
	END IF;
	IF s.status = 'expired' THEN
		RAISE EXCEPTION 'seal "%" has expired', s.es_id USING ERRCODE = 'SE003',
			DETAIL = 'An expired seal signs nothing and its certificates have lapsed.';
	END IF;
	IF invalidity > pg_catalog.now() THEN
		RAISE EXCEPTION 'the loss cannot have been noticed in the future' USING ERRCODE = '22023',
			DETAIL = 'noticed_at is when the seal was found missing; it becomes the invalidity date.';
	END IF;
	INSERT INTO sealpg.revocation_requests (seal_id, action, loss, reason_code, invalidity_date, note, requested_by)
		VALUES (s.seal_id, action, loss, code, invalidity, note, sealpg.caller())
		RETURNING request_id INTO id;
	IF NOT (SELECT o.two_person_rule FROM sealpg.organisations o WHERE o.organisation_id = s.organisation_id) THEN
		PERFORM sealpg.execute_revocation(id);
	END IF;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.request_revocation(sealpg.seals, text, text, smallint, text, timestamptz) IS
	'records a loss report or revocation request and executes it unless the two-person rule applies (internal)';
REVOKE ALL ON FUNCTION sealpg.request_revocation(sealpg.seals, text, text, smallint, text, timestamptz) FROM PUBLIC;

CREATE FUNCTION sealpg.report_loss(seal text, reason text, note text DEFAULT NULL,
								   noticed_at timestamptz DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);	-- the lock sign() takes too
	code smallint;
BEGIN
	code := CASE reason WHEN 'stolen' THEN 1 WHEN 'counterfeited' THEN 1 WHEN 'lost' THEN 0 END;
	IF code IS NULL THEN
		PERFORM sealpg.require_admin(s.organisation_id);
		RAISE EXCEPTION 'unknown loss "%"', reason USING ERRCODE = '22023',
			HINT = 'A physical seal is reported lost, stolen or counterfeited; other reasons go to sealpg.revoke(seal, reason, note).';
	END IF;
	RETURN sealpg.request_revocation(s, 'report_loss', reason, code, note, noticed_at);
END
$$;
COMMENT ON FUNCTION sealpg.report_loss(text, text, text, timestamptz) IS
	'reports a physical seal lost, stolen or counterfeited: revokes it at once (stolen, counterfeited: keyCompromise; lost: unspecified), or with the two-person rule creates a pending request; returns the request id';

CREATE FUNCTION sealpg.revoke(seal text, reason text, note text DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
	code smallint := sealpg.reason_code(reason);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF code IS NULL OR code NOT IN (0, 1, 3, 4, 5, 9) THEN
		RAISE EXCEPTION 'reason "%" cannot revoke a seal', reason USING ERRCODE = '22023',
			DETAIL = 'Reasons: unspecified, keyCompromise, affiliationChanged, superseded, cessationOfOperation, privilegeWithdrawn.',
			HINT = 'certificateHold is sealpg.freeze(seal, note); removeFromCRL is sealpg.unfreeze(seal, note).';
	END IF;
	RETURN sealpg.request_revocation(s, 'revoke', NULL, code, note, NULL);
END
$$;
COMMENT ON FUNCTION sealpg.revoke(text, text, text) IS
	'revokes every certificate of a seal with an RFC 5280 reason (or with the two-person rule creates a pending request); returns the request id';

CREATE FUNCTION sealpg.approve(request uuid) RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	req sealpg.revocation_requests;
	s sealpg.seals;
BEGIN
	SELECT * INTO req FROM sealpg.revocation_requests q WHERE q.request_id = request;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'no revocation request %', request USING ERRCODE = 'SE304';
	END IF;
	SELECT * INTO s FROM sealpg.seal_row((SELECT x.es_id FROM sealpg.seals x WHERE x.seal_id = req.seal_id));
	PERFORM sealpg.require_admin(s.organisation_id);
	-- read again under the seal lock: a concurrent approval has finished
	SELECT * INTO req FROM sealpg.revocation_requests q WHERE q.request_id = request;
	IF req.executed_at IS NOT NULL THEN
		RAISE EXCEPTION 'revocation request % is not pending', request USING ERRCODE = 'SE304',
			DETAIL = 'It was executed at ' || req.executed_at || '.';
	END IF;
	IF req.requested_by = sealpg.caller() THEN
		RAISE EXCEPTION 'role "%" asked for this revocation and cannot approve it too', sealpg.caller()
			USING ERRCODE = 'SE302', HINT = 'Another administrator of the organisation approves it.';
	END IF;
	UPDATE sealpg.revocation_requests SET approved_by = sealpg.caller() WHERE request_id = request;
	PERFORM sealpg.execute_revocation(request);
	RETURN request;
END
$$;
COMMENT ON FUNCTION sealpg.approve(uuid) IS
	'a second administrator of the seal''s organisation approves a pending loss report or revocation, which is executed at once (SE302 for the requester)';

CREATE FUNCTION sealpg.freeze(seal text, note text DEFAULT NULL) RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF s.status <> 'active' THEN
		RAISE EXCEPTION 'seal "%" is %, not active', seal, s.status USING ERRCODE = 'SE006',
			DETAIL = 'Only an active seal can be frozen.';
	END IF;
	UPDATE sealpg.seals SET status = 'frozen', status_reason = coalesce(note, 'frozen'),
		   status_changed_at = pg_catalog.now()
	 WHERE seal_id = s.seal_id;
	RETURN 'frozen';
END
$$;
COMMENT ON FUNCTION sealpg.freeze(text, text) IS
	'freezes a seal: it signs nothing and its certificates show as certificateHold; admins of the seal''s organisation';

CREATE FUNCTION sealpg.unfreeze(seal text, note text DEFAULT NULL) RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF s.status <> 'frozen' THEN
		RAISE EXCEPTION 'seal "%" is %, not frozen', seal, s.status USING ERRCODE = 'SE006',
			DETAIL = 'Only a frozen seal can be unfrozen.';
	END IF;
	UPDATE sealpg.seals SET status = 'active', status_reason = coalesce(note, 'unfrozen'),
		   status_changed_at = pg_catalog.now()
	 WHERE seal_id = s.seal_id;
	RETURN 'active';
END
$$;
COMMENT ON FUNCTION sealpg.unfreeze(text, text) IS
	'unfreezes a seal: active again, its holds listed as removeFromCRL in the next delta CRL; admins of the seal''s organisation';

-- ---- external authorities: the outbox ------------------------------

CREATE FUNCTION sealpg.outbox_delivered(outbox_id bigint, error text DEFAULT NULL) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_agent', 'MEMBER')
			OR pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_admin', 'MEMBER')) THEN
		RAISE EXCEPTION 'role "%" may not deliver revocations', sealpg.caller() USING ERRCODE = 'SE301';
	END IF;
	UPDATE sealpg.revocation_outbox o
	   SET attempts = o.attempts + 1, last_error = error,
		   delivered_at = CASE WHEN error IS NULL THEN pg_catalog.now() END
	 WHERE o.outbox_id = outbox_delivered.outbox_id AND o.delivered_at IS NULL;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'outbox entry % is not waiting for delivery', outbox_id USING ERRCODE = 'SE304';
	END IF;
END
$$;
COMMENT ON FUNCTION sealpg.outbox_delivered(bigint, text) IS
	'a connector reports an outbox entry delivered to the external authority (error: the attempt failed, it stays pending)';

-- ---- CRLs ----------------------------------------------------------

-- Has a CRL entry changed (been written or ended) since the snapshot?
-- PL/pgSQL with custom plans: the planner sees the snapshot's xmin and
-- reads the xid indexes from there, never the whole table.
CREATE FUNCTION sealpg.revocations_changed_since(snap pg_snapshot) RETURNS boolean
LANGUAGE plpgsql STABLE
SET search_path = pg_catalog, pg_temp
SET plan_cache_mode = force_custom_plan
AS $$
DECLARE
	since xid8 := pg_catalog.pg_snapshot_xmin(snap);
BEGIN
	RETURN EXISTS (SELECT 1 FROM sealpg.revocations r
					WHERE r.change_xid >= since
					  AND NOT pg_catalog.pg_visible_in_snapshot(r.change_xid, snap))
		OR EXISTS (SELECT 1 FROM sealpg.revocations r
					WHERE r.ended_xid >= since
					  AND NOT pg_catalog.pg_visible_in_snapshot(r.ended_xid, snap));
END
$$;
COMMENT ON FUNCTION sealpg.revocations_changed_since(pg_snapshot) IS
	'true when a CRL entry was written or ended by a transaction the snapshot does not see (internal)';
REVOKE ALL ON FUNCTION sealpg.revocations_changed_since(pg_snapshot) FROM PUBLIC;	-- internal

-- Issues a complete CRL now (the caller is on a primary).
CREATE FUNCTION sealpg.issue_crl(is_base boolean) RETURNS bytea
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	-- taken before the entries are read: whatever it sees, the CRL lists
	snap pg_snapshot := pg_catalog.pg_current_snapshot();
	n bigint := pg_catalog.nextval('sealpg.crl_number');
	t timestamptz := pg_catalog.date_trunc('second', pg_catalog.clock_timestamp());
	v interval := pg_catalog.current_setting('sealpg.crl_validity')::interval;
	r record;
BEGIN
	r := sealpg.crl_build(n, t, t + v, NULL, NULL);
	INSERT INTO sealpg.crls (crl_number, is_base, this_update, next_update, covers, entries, der)
		VALUES (n, is_base, t, t + v, snap, r.entries, r.der);
	-- keep the latest base, what came after it, and one day of history
	DELETE FROM sealpg.crls c
	 WHERE c.crl_number < (SELECT coalesce(max(b.crl_number), 0) FROM sealpg.crls b WHERE b.is_base)
	   AND c.this_update < t - interval '1 day';
	RETURN r.der;
END
$$;
COMMENT ON FUNCTION sealpg.issue_crl(boolean) IS 'issues and stores a complete CRL (internal)';
REVOKE ALL ON FUNCTION sealpg.issue_crl(boolean) FROM PUBLIC;	-- internal

CREATE FUNCTION sealpg.crl() RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c sealpg.crls;
BEGIN
	SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO c
	  FROM sealpg.crls x WHERE x.base_number IS NULL ORDER BY x.crl_number DESC LIMIT 1;
	IF pg_catalog.pg_is_in_recovery() THEN
		-- a standby serves what the primary issued last
		IF NOT FOUND THEN
			RAISE EXCEPTION 'no CRL has been issued yet' USING ERRCODE = '25006',
				HINT = 'SELECT sealpg.crl() on the primary issues one.';
		END IF;
		RETURN (SELECT x.der FROM sealpg.crls x WHERE x.crl_number = c.crl_number);
	END IF;
	IF FOUND AND NOT sealpg.revocations_changed_since(c.covers)
	   AND pg_catalog.clock_timestamp() < c.this_update + (c.next_update - c.this_update) / 2 THEN
		RETURN (SELECT x.der FROM sealpg.crls x WHERE x.crl_number = c.crl_number);
	END IF;
	-- one issuer at a time; the others then find its CRL current
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sealpg.crl'));
	SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO c
	  FROM sealpg.crls x WHERE x.base_number IS NULL ORDER BY x.crl_number DESC LIMIT 1;
	IF FOUND AND NOT sealpg.revocations_changed_since(c.covers)
	   AND pg_catalog.clock_timestamp() < c.this_update + (c.next_update - c.this_update) / 2 THEN
		RETURN (SELECT x.der FROM sealpg.crls x WHERE x.crl_number = c.crl_number);
	END IF;
	RETURN sealpg.issue_crl(NOT EXISTS (SELECT 1 FROM sealpg.crls x WHERE x.is_base));
END
$$;
COMMENT ON FUNCTION sealpg.crl() IS
	'the complete CRL (DER) signed by the authority: re-issued when a revocation, hold or release has committed since the last one, or past half its validity; on a standby the last one issued';

CREATE FUNCTION sealpg.delta_crl() RETURNS bytea
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	base sealpg.crls;
	d sealpg.crls;
	snap pg_snapshot;
	n bigint;
	t timestamptz;
	v interval := pg_catalog.current_setting('sealpg.crl_validity')::interval;
	r record;
BEGIN
	SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO base
	  FROM sealpg.crls x WHERE x.is_base ORDER BY x.crl_number DESC LIMIT 1;
	IF NOT FOUND THEN
		IF pg_catalog.pg_is_in_recovery() THEN
			RAISE EXCEPTION 'no CRL has been issued yet' USING ERRCODE = '25006';
		END IF;
		PERFORM sealpg.crl();
		SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO base
	  FROM sealpg.crls x WHERE x.is_base ORDER BY x.crl_number DESC LIMIT 1;
	END IF;
	SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO d
	  FROM sealpg.crls x WHERE x.base_number = base.crl_number ORDER BY x.crl_number DESC LIMIT 1;
	IF pg_catalog.pg_is_in_recovery() THEN
		IF d.crl_number IS NULL THEN
			RAISE EXCEPTION 'no delta CRL has been issued yet' USING ERRCODE = '25006';
		END IF;
		RETURN (SELECT x.der FROM sealpg.crls x WHERE x.crl_number = d.crl_number);
	END IF;
	IF d.crl_number IS NOT NULL AND NOT sealpg.revocations_changed_since(d.covers)
	   AND pg_catalog.clock_timestamp() < d.this_update + (d.next_update - d.this_update) / 2 THEN
		RETURN (SELECT x.der FROM sealpg.crls x WHERE x.crl_number = d.crl_number);
	END IF;
	snap := pg_catalog.pg_current_snapshot();
	n := pg_catalog.nextval('sealpg.crl_number');
	t := pg_catalog.date_trunc('second', pg_catalog.clock_timestamp());
	r := sealpg.crl_build(n, t, t + v, base.crl_number, base.covers);
	INSERT INTO sealpg.crls (crl_number, base_number, this_update, next_update, covers, entries, der)
		VALUES (n, base.crl_number, t, t + v, snap, r.entries, r.der);
	RETURN r.der;
END
$$;
COMMENT ON FUNCTION sealpg.delta_crl() IS
	'the delta CRL (DER) against the latest scheduled complete CRL: entries written since (with reasons), released holds as removeFromCRL';

CREATE FUNCTION sealpg.crl_refresh() RETURNS bigint
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	c sealpg.crls;
BEGIN
	IF pg_catalog.pg_is_in_recovery() THEN
		RETURN NULL;			-- the primary's job does it
	END IF;
	PERFORM pg_catalog.pg_advisory_xact_lock(pg_catalog.hashtext('sealpg.crl'));
	SELECT x.crl_number, x.base_number, x.is_base, x.this_update, x.next_update, x.covers, x.entries, NULL::bytea INTO c
	  FROM sealpg.crls x WHERE x.is_base ORDER BY x.crl_number DESC LIMIT 1;
	IF FOUND AND NOT sealpg.revocations_changed_since(c.covers)
	   AND pg_catalog.clock_timestamp() < c.this_update + (c.next_update - c.this_update) / 2 THEN
		RETURN c.crl_number;
	END IF;
	PERFORM sealpg.issue_crl(true);
	RETURN pg_catalog.currval('sealpg.crl_number');
END
$$;
COMMENT ON FUNCTION sealpg.crl_refresh() IS
	'issues a new base complete CRL when entries changed or half its validity has passed; returns the current base''s number (pg_cron job sealpg-crl)';

INSERT INTO sealpg.jobs VALUES
	('sealpg-crl', '*/15 * * * *', 'SELECT sealpg.crl_refresh()');

-- ---- OCSP ----------------------------------------------------------

CREATE FUNCTION sealpg.ocsp_respond(request bytea) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_ocsp_respond'
	LANGUAGE C STRICT VOLATILE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.ocsp_respond(bytea) IS
	'answers a DER OCSP request (RFC 6960): good, revoked (time, reason) or unknown, nonce echoed, signed by the delegated responder; malformed input gets an OCSP error status, never an SQL error; writes nothing (runs on a standby)';

CREATE FUNCTION sealpg.ocsp_responder_init(valid_for interval DEFAULT '90 days',
										   token text DEFAULT NULL)
RETURNS sealpg.x509
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	a sealpg.authority;
	k record;
	cert sealpg.x509;
BEGIN
	PERFORM sealpg.require_authority_admin();
	SELECT * INTO a FROM sealpg.authority;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this database has no seal authority' USING ERRCODE = 'SE201',
			HINT = 'Create it first with sealpg.authority_init(name).';
	END IF;
	k := sealpg.generate_key(coalesce(token, a.token_label), 'ec-p256', 'sealpg ocsp responder');
	cert := sealpg.issue_ocsp_certificate(k.spki, valid_for);
	UPDATE sealpg.ocsp_responders SET current = false WHERE current;
	INSERT INTO sealpg.ocsp_responders (token_label, key_id, certificate)
		VALUES (coalesce(token, a.token_label), k.key_id, cert);
	RETURN cert;
END
$$;
COMMENT ON FUNCTION sealpg.ocsp_responder_init(interval, text) IS
	'generates an OCSP responder key on the token (the authority''s by default) and has the authority certify it for OCSP signing; it replaces the previous responder; superusers and sealpg_admin';

-- ---- privileges ----------------------------------------------------

REVOKE ALL ON FUNCTION
	sealpg.report_loss(text, text, text, timestamptz),
	sealpg.revoke(text, text, text),
	sealpg.approve(uuid),
	sealpg.freeze(text, text),
	sealpg.unfreeze(text, text),
	sealpg.outbox_delivered(bigint, text),
	sealpg.crl(),
	sealpg.delta_crl(),
	sealpg.crl_refresh(),
	sealpg.ocsp_respond(bytea),
	sealpg.ocsp_responder_init(interval, text)
	FROM PUBLIC;
-- Each checks the caller's organisation itself (SE301).
GRANT EXECUTE ON FUNCTION
	sealpg.report_loss(text, text, text, timestamptz),
	sealpg.revoke(text, text, text),
	sealpg.approve(uuid),
	sealpg.freeze(text, text),
	sealpg.unfreeze(text, text),
	sealpg.ocsp_responder_init(interval, text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION sealpg.outbox_delivered(bigint, text) TO sealpg_admin, sealpg_agent;
-- Revocation status is public by design (RFC 5280, RFC 6960): every role
-- may fetch CRLs and ask OCSP, as relying parties do over HTTP.
GRANT EXECUTE ON FUNCTION sealpg.crl(), sealpg.delta_crl(), sealpg.ocsp_respond(bytea) TO PUBLIC;
