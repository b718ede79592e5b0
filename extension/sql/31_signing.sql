-- ===================================================================
-- 31 Signing: sealpg.sign() and sealpg.verify(), the record of every
--    signature and of every refused attempt
-- ===================================================================

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.signatures (
	signature_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id				uuid NOT NULL REFERENCES sealpg.seals,
	certificate_serial	text NOT NULL,
	document_digest		bytea NOT NULL CHECK (pg_catalog.length(document_digest) = 32),
	operator			name NOT NULL,
	client_addr			inet,
	signed_at			timestamptz NOT NULL,
	signature			sealpg.sealsig NOT NULL
);
COMMENT ON TABLE sealpg.signatures IS
	'every signature a seal made: who, from where, when, over which SHA-256 digest, and the CMS itself';
COMMENT ON COLUMN sealpg.signatures.document_digest IS 'SHA-256 of the signed document, computed in the database';
COMMENT ON COLUMN sealpg.signatures.client_addr IS 'the client''s address (NULL over a Unix socket)';
CREATE INDEX ON sealpg.signatures (seal_id, signed_at);
CREATE INDEX ON sealpg.signatures (document_digest);

CREATE TABLE sealpg.refused_signings (
	attempt_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid,			-- no foreign key: see the comment below
	es_id			text NOT NULL,
	operator		name NOT NULL,
	client_addr		inet,
	attempted_at	timestamptz NOT NULL,
	sqlstate		text NOT NULL CHECK (pg_catalog.length(sqlstate) = 5),
	reason			text NOT NULL
);
COMMENT ON TABLE sealpg.refused_signings IS
	'every refused sealpg.sign() call, written by the background worker so that it outlives the caller''s rollback';
COMMENT ON COLUMN sealpg.refused_signings.seal_id IS
	'the seal asked for; NULL when no seal has that esID.  No foreign key: the record must be kept even when the seal itself was created in the transaction that rolled back';
CREATE INDEX ON sealpg.refused_signings (seal_id, attempted_at);

ALTER TABLE sealpg.signatures ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.refused_signings ENABLE ROW LEVEL SECURITY;
CREATE POLICY by_organisation ON sealpg.signatures
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = signatures.seal_id)));
-- Attempts on unknown esIDs (seal_id NULL) are for the auditors' eyes only.
CREATE POLICY by_organisation ON sealpg.refused_signings
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = refused_signings.seal_id))
		   OR pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_auditor', 'MEMBER'));

-- Written only by sign() and the deferred writer.
REVOKE ALL ON sealpg.signatures, sealpg.refused_signings FROM PUBLIC;
GRANT SELECT ON sealpg.signatures, sealpg.refused_signings TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- the refused-attempt recorder (run by the background worker) ----

CREATE FUNCTION sealpg.record_refused_signing(payload jsonb) RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	INSERT INTO sealpg.refused_signings (seal_id, es_id, operator, client_addr, attempted_at, sqlstate, reason)
	VALUES ((payload->>'seal_id')::uuid,
			payload->>'es_id',
			payload->>'operator',
			(payload->>'client_addr')::inet,
			(payload->>'attempted_at')::timestamptz,
			payload->>'sqlstate',
			payload->>'reason');
END
$$;
COMMENT ON FUNCTION sealpg.record_refused_signing(jsonb) IS
	'writes one refused signing attempt (called by the deferred writer in its own transaction; internal)';
REVOKE ALL ON FUNCTION sealpg.record_refused_signing(jsonb) FROM PUBLIC;	-- forged records must be impossible

-- ---- API -----------------------------------------------------------

CREATE FUNCTION sealpg.sign(seal text, document bytea, attached boolean DEFAULT false)
RETURNS sealpg.sealsig
	AS 'MODULE_PATHNAME', 'sealpg_sign'
	LANGUAGE C VOLATILE STRICT SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.sign(text, bytea, boolean) IS
	'signs a document with a seal: CMS SignedData (CAdES-B), detached unless attached; refusals: SE007 SE009 SE001 SE002 SE003 SE008 SE004 SE005, each recorded in sealpg.refused_signings';

CREATE FUNCTION sealpg.verify(sig sealpg.sealsig, document bytea, authority sealpg.x509 DEFAULT NULL,
							  OUT valid boolean, OUT es_id text, OUT signer_serial text,
							  OUT signed_at timestamptz, OUT status_at_signing sealpg.seal_status,
							  OUT status_now sealpg.seal_status, OUT reason text)
	AS 'MODULE_PATHNAME', 'sealpg_verify'
	LANGUAGE C STABLE SECURITY DEFINER
	SET search_path = pg_catalog, pg_temp;
COMMENT ON FUNCTION sealpg.verify(sealpg.sealsig, bytea, sealpg.x509) IS
	'verifies a seal signature against this database''s authority (or the one given) and reports the seal''s status at signing and now; read-only (runs on a standby)';

-- sign() is for operators (whether one may use a given seal is checked per
-- seal against sealpg.seal_operators); verify() for every sealpg role.
REVOKE ALL ON FUNCTION
	sealpg.sign(text, bytea, boolean),
	sealpg.verify(sealpg.sealsig, bytea, sealpg.x509)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sealpg.sign(text, bytea, boolean) TO sealpg_operator;
GRANT EXECUTE ON FUNCTION sealpg.verify(sealpg.sealsig, bytea, sealpg.x509)
	TO sealpg_admin, sealpg_operator, sealpg_auditor, sealpg_agent;
