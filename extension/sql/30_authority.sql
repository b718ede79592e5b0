-- ===================================================================
-- 30 Authority: the seal CA of this database, seal certificates and
--    enrolment (keys generated on the token, never extractable)
-- ===================================================================

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.authority (
	singleton		boolean PRIMARY KEY DEFAULT true CHECK (singleton),
	name			text NOT NULL CHECK (name <> ''),
	token_label		text NOT NULL,
	key_id			bytea NOT NULL,
	key_algorithm	text NOT NULL CHECK (key_algorithm IN ('ec-p256', 'ed25519')),
	certificate		sealpg.x509 NOT NULL,
	imported		boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.authority IS
	'the seal authority (CA) of this database: at most one row; its key stays on the token';
COMMENT ON COLUMN sealpg.authority.imported IS
	'true when the certificate came from outside (sealpg.authority_import), false for a root made by authority_init';

CREATE TABLE sealpg.certificates (
	certificate_id	uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	serial			text NOT NULL UNIQUE,
	certificate		sealpg.x509 NOT NULL,
	issued_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	not_before		timestamptz NOT NULL,
	not_after		timestamptz NOT NULL,
	superseded_at	timestamptz,
	superseded_by	uuid REFERENCES sealpg.certificates,
	CHECK (not_before < not_after),
	CHECK ((superseded_at IS NULL) = (superseded_by IS NULL))
);
COMMENT ON TABLE sealpg.certificates IS
	'every certificate the authority issued to a seal; a re-enrolment supersedes the previous one';
COMMENT ON COLUMN sealpg.certificates.serial IS 'the serial number in hexadecimal, as sealpg.x509_serial() shows it';
COMMENT ON COLUMN sealpg.certificates.superseded_by IS 'the certificate that replaced this one (the CRL lists superseded certificates)';
CREATE INDEX ON sealpg.certificates (seal_id);

ALTER TABLE sealpg.seals ADD COLUMN certificate_id uuid REFERENCES sealpg.certificates;
COMMENT ON COLUMN sealpg.seals.certificate_id IS 'the seal''s current certificate (NULL: not enrolled)';

ALTER TABLE sealpg.authority ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.certificates ENABLE ROW LEVEL SECURITY;
-- The authority's certificate is public knowledge; its row is readable.
CREATE POLICY everyone ON sealpg.authority USING (true);
CREATE POLICY by_organisation ON sealpg.certificates
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = certificates.seal_id)));

-- Written only through the functions below.
REVOKE ALL ON sealpg.authority, sealpg.certificates FROM PUBLIC;
GRANT SELECT ON sealpg.authority, sealpg.certificates TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- cryptography in C (internal) ----------------------------------

CREATE FUNCTION sealpg.require_key_in_chip(attrs integer) RETURNS void
	AS 'MODULE_PATHNAME', 'sealpg_require_key_in_chip_sql'
	LANGUAGE C STRICT IMMUTABLE;
COMMENT ON FUNCTION sealpg.require_key_in_chip(integer) IS
	'raises SE106 unless agent attribute bits (sensitive 1, extractable 2, never-extractable 4, always-sensitive 8, local 16) prove a chip-born key';

CREATE FUNCTION sealpg.generate_key(token text, algorithm text, label text,
									OUT key_id bytea, OUT spki bytea)
	AS 'MODULE_PATHNAME', 'sealpg_generate_key'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.generate_key(text, text, text) IS
	'generates a key pair on a token through the agent; SE106 unless it is provably chip-bound (internal)';

CREATE FUNCTION sealpg.authority_root(name text, token text, key_id bytea, spki bytea,
									  valid_for interval) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_authority_root'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.authority_root(text, text, bytea, bytea, interval) IS
	'builds the self-signed root certificate of a new authority, signed on its token (internal)';

CREATE FUNCTION sealpg.authority_key_check(cert sealpg.x509, token text, key_id bytea) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_authority_key_check'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.authority_key_check(sealpg.x509, text, bytea) IS
	'checks that a CA certificate''s key is on the token and chip-bound; returns its algorithm (internal)';

CREATE FUNCTION sealpg.issue_seal_certificate(spki bytea, es_id text, organisation text,
											  seal_name text, not_before timestamptz,
											  not_after timestamptz) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_issue_seal_certificate'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.issue_seal_certificate(bytea, text, text, text, timestamptz, timestamptz) IS
	'the authority certifies a seal key: serialNumber=esID, CN=seal name, O=organisation (internal)';

CREATE FUNCTION sealpg.token_provider_selftest() RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_token_provider_selftest'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.token_provider_selftest() IS
	'checks the OpenSSL token provider with an in-memory key behind the raw-signer callback: certificates (P-256, Ed25519) and CMS (internal)';

-- Internal: they reach the token or sign in the authority's name, so only
-- the SECURITY DEFINER API below (owned by the extension owner) calls them.
REVOKE ALL ON FUNCTION
	sealpg.token_provider_selftest(),
	sealpg.require_key_in_chip(integer),
	sealpg.generate_key(text, text, text),
	sealpg.authority_root(text, text, bytea, bytea, interval),
	sealpg.authority_key_check(sealpg.x509, text, bytea),
	sealpg.issue_seal_certificate(bytea, text, text, text, timestamptz, timestamptz)
	FROM PUBLIC;

-- ---- API -----------------------------------------------------------

CREATE FUNCTION sealpg.require_authority_admin() RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT (pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_admin', 'MEMBER')
			OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = sealpg.caller())) THEN
		RAISE EXCEPTION 'role "%" may not manage the seal authority', sealpg.caller()
			USING ERRCODE = 'SE301', HINT = 'Superusers and members of sealpg_admin manage the authority.';
	END IF;
END
$$;
COMMENT ON FUNCTION sealpg.require_authority_admin() IS
	'raises SE301 unless the caller is a superuser or a member of sealpg_admin (internal)';
REVOKE ALL ON FUNCTION sealpg.require_authority_admin() FROM PUBLIC;	-- internal check

CREATE FUNCTION sealpg.authority_init(name text, token text DEFAULT 'sealpg-authority',
									  algorithm text DEFAULT 'ec-p256',
									  valid_for interval DEFAULT '20 years')
RETURNS sealpg.x509
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	k record;
	cert sealpg.x509;
BEGIN
	PERFORM sealpg.require_authority_admin();
	IF pg_catalog.pg_is_in_recovery() THEN
		RAISE EXCEPTION 'cannot create the authority on a standby' USING ERRCODE = '25006';
	END IF;
	-- Serialise concurrent initialisations; the second one sees the first.
	LOCK TABLE sealpg.authority IN EXCLUSIVE MODE;
	IF EXISTS (SELECT 1 FROM sealpg.authority) THEN
		RAISE EXCEPTION 'this database already has a seal authority'
			USING ERRCODE = 'SE202',
				  HINT = 'SELECT sealpg.authority_certificate() shows it; one database holds one authority.';
	END IF;
	IF name IS NULL OR name = '' THEN
		RAISE EXCEPTION 'the authority needs a name' USING ERRCODE = '22023';
	END IF;
	k := sealpg.generate_key(token, algorithm, 'sealpg authority ' || name);
	cert := sealpg.authority_root(name, token, k.key_id, k.spki, valid_for);
	INSERT INTO sealpg.authority (name, token_label, key_id, key_algorithm, certificate, imported)
		VALUES (authority_init.name, token, k.key_id, algorithm, cert, false);
	RETURN cert;
END
$$;
COMMENT ON FUNCTION sealpg.authority_init(text, text, text, interval) IS
	'creates this database''s seal authority: a key generated on the token and a self-signed root (CA:TRUE, keyCertSign, cRLSign); superusers and sealpg_admin';

CREATE FUNCTION sealpg.authority_import(cert sealpg.x509, token text, key_id bytea)
RETURNS sealpg.x509
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	alg text;
BEGIN
	PERFORM sealpg.require_authority_admin();
	LOCK TABLE sealpg.authority IN EXCLUSIVE MODE;
	IF EXISTS (SELECT 1 FROM sealpg.authority) THEN
		RAISE EXCEPTION 'this database already has a seal authority' USING ERRCODE = 'SE202';
	END IF;
	alg := sealpg.authority_key_check(cert, token, key_id);
	INSERT INTO sealpg.authority (name, token_label, key_id, key_algorithm, certificate, imported)
		VALUES (coalesce(sealpg.x509_subject_attr(cert, 'CN'), sealpg.x509_subject(cert)),
				token, key_id, alg, cert, true);
	RETURN cert;
END
$$;
COMMENT ON FUNCTION sealpg.authority_import(sealpg.x509, text, bytea) IS
	'makes an externally issued CA certificate this database''s authority; its key must already be on the token, chip-bound (SE106 otherwise); superusers and sealpg_admin';

CREATE FUNCTION sealpg.authority_csr_pem() RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_authority_csr_pem'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.authority_csr_pem() IS 'builds the authority''s PKCS#10 request, signed on its token (internal)';
REVOKE ALL ON FUNCTION sealpg.authority_csr_pem() FROM PUBLIC;	-- signs with the authority key

CREATE FUNCTION sealpg.authority_csr() RETURNS text
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM sealpg.require_authority_admin();
	RETURN sealpg.authority_csr_pem();
END
$$;
COMMENT ON FUNCTION sealpg.authority_csr() IS
	'a PEM certificate request (subject and key of this authority) for an external parent CA; superusers and sealpg_admin';

CREATE FUNCTION sealpg.authority_certificate() RETURNS sealpg.x509
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cert sealpg.x509;
BEGIN
	SELECT a.certificate INTO cert FROM sealpg.authority a;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'this database has no seal authority'
			USING ERRCODE = 'SE201', HINT = 'Create it with sealpg.authority_init(name).';
	END IF;
	RETURN cert;
END
$$;
COMMENT ON FUNCTION sealpg.authority_certificate() IS
	'the authority''s certificate (relying parties verify seal certificates and signatures with it)';

CREATE FUNCTION sealpg.enroll(seal text, token text DEFAULT 'sealpg-seals',
							  algorithm text DEFAULT 'ec-p256')
RETURNS sealpg.x509
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);	-- locks the seal row
	org text;
	k record;
	cert sealpg.x509;
	new_id uuid;
	from_ts timestamptz := greatest(s.valid_from, pg_catalog.clock_timestamp());
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF NOT EXISTS (SELECT 1 FROM sealpg.authority) THEN
		RAISE EXCEPTION 'this database has no seal authority'
			USING ERRCODE = 'SE201', HINT = 'Create it first with sealpg.authority_init(name).';
	END IF;
	IF s.status = 'revoked' THEN
		RAISE EXCEPTION 'seal "%" is revoked', seal USING ERRCODE = 'SE001',
			DETAIL = 'A revoked seal is never enrolled again; register a new seal.';
	END IF;
	IF s.status = 'expired' OR s.valid_until <= pg_catalog.clock_timestamp() THEN
		RAISE EXCEPTION 'seal "%" has expired', seal USING ERRCODE = 'SE003';
	END IF;
	IF algorithm <> 'ec-p256' THEN
		RAISE EXCEPTION 'seal keys must be ec-p256, not "%"', algorithm
			USING ERRCODE = '0A000',
				  DETAIL = 'Seal signatures are CMS SignedData; OpenSSL 3.0 signs CMS with ECDSA P-256, not with Ed25519.';
	END IF;
	SELECT o.name INTO org FROM sealpg.organisations o WHERE o.organisation_id = s.organisation_id;

	-- The key is generated on the token first: if the token cannot prove it
	-- chip-bound (SE106), this raises before anything is written.
	k := sealpg.generate_key(token, algorithm, 'seal ' || s.es_id);
	cert := sealpg.issue_seal_certificate(k.spki, s.es_id, org, s.name, from_ts, s.valid_until);

	INSERT INTO sealpg.certificates (seal_id, serial, certificate, not_before, not_after)
		VALUES (s.seal_id, sealpg.x509_serial(cert), cert,
				sealpg.x509_not_before(cert), sealpg.x509_not_after(cert))
		RETURNING certificate_id INTO new_id;
	UPDATE sealpg.certificates SET superseded_at = pg_catalog.now(), superseded_by = new_id
	 WHERE seal_id = s.seal_id AND certificate_id <> new_id AND superseded_at IS NULL;
	UPDATE sealpg.seals SET certificate_id = new_id, token_label = token, key_id = k.key_id,
		   key_algorithm = algorithm
	 WHERE seal_id = s.seal_id;
	RETURN cert;
END
$$;
COMMENT ON FUNCTION sealpg.enroll(text, text, text) IS
	'generates the seal''s key on the token (SE106 unless chip-bound) and issues its certificate; supersedes the previous one; admins of the seal''s organisation';

-- Every API function is refused to PUBLIC (PostgreSQL grants EXECUTE to
-- PUBLIC by default) and granted to the roles that need it.
REVOKE ALL ON FUNCTION
	sealpg.authority_init(text, text, text, interval),
	sealpg.authority_import(sealpg.x509, text, bytea),
	sealpg.authority_csr(),
	sealpg.authority_certificate(),
	sealpg.enroll(text, text, text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.authority_init(text, text, text, interval),
	sealpg.authority_import(sealpg.x509, text, bytea),
	sealpg.authority_csr(),
	sealpg.enroll(text, text, text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION sealpg.authority_certificate()
	TO sealpg_admin, sealpg_operator, sealpg_auditor, sealpg_agent;
