-- sealpg 0.1.0: the first release (registry, types, agent helpers, jobs). Frozen: never edit.
\echo Use "CREATE EXTENSION sealpg" to load this file. \quit

-- ===================================================================
-- 00 Schema and roles
-- ===================================================================
-- The schema "sealpg" is created by CREATE EXTENSION (control file).
-- Roles are cluster-wide: they are created once and kept when the
-- extension is dropped, so later installs find them in place.

DO $roles$
DECLARE
	r text;
BEGIN
	FOREACH r IN ARRAY ARRAY['sealpg_admin', 'sealpg_operator', 'sealpg_auditor', 'sealpg_agent'] LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = r) THEN
			EXECUTE pg_catalog.format('CREATE ROLE %I NOLOGIN', r);
		END IF;
	END LOOP;
END
$roles$;

-- Everyone may look up names in the schema; each object grants its own use.
GRANT USAGE ON SCHEMA sealpg TO PUBLIC;

-- ===================================================================
-- 05 Types: sealpg.x509 (a certificate) and sealpg.sealsig (a CMS
--    SignedData), their conversions, accessors, operators and opclasses
-- ===================================================================
-- Both types are varlenas holding the encoding as accepted (DER; BER is
-- kept as given for sealsig).  Every way in (text, binary, bytea) runs the
-- same checks in C and refuses bad input with SQLSTATE 22P02 and a detail
-- that says what is wrong.
--
-- Privileges: the I/O functions must stay callable by everyone (a type
-- that cannot be read or written is useless), and the accessors,
-- conversions and comparison functions are granted to PUBLIC on purpose:
-- they are pure functions over a value the caller already holds, so they
-- reveal nothing the caller could not compute with openssl.

-- -------------------------------------------------------------------
-- sealpg.x509: type
-- -------------------------------------------------------------------

CREATE TYPE sealpg.x509;

CREATE FUNCTION sealpg.x509_in(cstring) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_x509_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_out(sealpg.x509) RETURNS cstring
	AS 'MODULE_PATHNAME', 'sealpg_x509_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_recv(internal) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_x509_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_send(sealpg.x509) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_x509_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE sealpg.x509 (
	INPUT = sealpg.x509_in,
	OUTPUT = sealpg.x509_out,
	RECEIVE = sealpg.x509_recv,
	SEND = sealpg.x509_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

COMMENT ON TYPE sealpg.x509 IS 'an X.509 certificate: PEM as text, DER inside and on the wire';
COMMENT ON FUNCTION sealpg.x509_in(cstring) IS 'x509 input: one PEM block labelled CERTIFICATE';
COMMENT ON FUNCTION sealpg.x509_out(sealpg.x509) IS 'x509 output: one PEM block labelled CERTIFICATE';
COMMENT ON FUNCTION sealpg.x509_recv(internal) IS 'x509 binary input: the DER';
COMMENT ON FUNCTION sealpg.x509_send(sealpg.x509) IS 'x509 binary output: the DER';

-- -------------------------------------------------------------------
-- sealpg.x509: conversions and accessors
-- -------------------------------------------------------------------

CREATE FUNCTION sealpg.x509_from_der(bytea) RETURNS sealpg.x509
	AS 'MODULE_PATHNAME', 'sealpg_x509_from_der'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_der(sealpg.x509) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_x509_der'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_subject(sealpg.x509) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_x509_subject'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_issuer(sealpg.x509) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_x509_issuer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_serial(sealpg.x509) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_x509_serial'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_not_before(sealpg.x509) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sealpg_x509_not_before'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_not_after(sealpg.x509) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sealpg_x509_not_after'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_fingerprint(sealpg.x509) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_x509_fingerprint'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_public_key(sealpg.x509) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_x509_public_key'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.x509_subject_attr(sealpg.x509, text) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_x509_subject_attr'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (bytea AS sealpg.x509) WITH FUNCTION sealpg.x509_from_der(bytea);
CREATE CAST (sealpg.x509 AS bytea) WITH FUNCTION sealpg.x509_der(sealpg.x509);

COMMENT ON FUNCTION sealpg.x509_from_der(bytea) IS 'the certificate whose DER is given (checked as on input)';
COMMENT ON FUNCTION sealpg.x509_der(sealpg.x509) IS 'the DER of a certificate';
COMMENT ON FUNCTION sealpg.x509_subject(sealpg.x509) IS 'subject name, RFC 2253 text (most specific first)';
COMMENT ON FUNCTION sealpg.x509_issuer(sealpg.x509) IS 'issuer name, RFC 2253 text (most specific first)';
COMMENT ON FUNCTION sealpg.x509_serial(sealpg.x509) IS 'serial number, lowercase hex without leading zeros';
COMMENT ON FUNCTION sealpg.x509_not_before(sealpg.x509) IS 'start of the validity period';
COMMENT ON FUNCTION sealpg.x509_not_after(sealpg.x509) IS 'end of the validity period';
COMMENT ON FUNCTION sealpg.x509_fingerprint(sealpg.x509) IS 'SHA-256 digest of the DER';
COMMENT ON FUNCTION sealpg.x509_public_key(sealpg.x509) IS 'subject public key info (SPKI), DER';
COMMENT ON FUNCTION sealpg.x509_subject_attr(sealpg.x509, text) IS 'first value of a subject attribute named by short name, long name or dotted OID; NULL if absent';
COMMENT ON CAST (bytea AS sealpg.x509) IS 'DER to certificate, checked as on input';
COMMENT ON CAST (sealpg.x509 AS bytea) IS 'certificate to its DER';

GRANT EXECUTE ON FUNCTION
	sealpg.x509_from_der(bytea),
	sealpg.x509_der(sealpg.x509),
	sealpg.x509_subject(sealpg.x509),
	sealpg.x509_issuer(sealpg.x509),
	sealpg.x509_serial(sealpg.x509),
	sealpg.x509_not_before(sealpg.x509),
	sealpg.x509_not_after(sealpg.x509),
	sealpg.x509_fingerprint(sealpg.x509),
	sealpg.x509_public_key(sealpg.x509),
	sealpg.x509_subject_attr(sealpg.x509, text)
	TO PUBLIC;

-- -------------------------------------------------------------------
-- sealpg.x509: comparison (bytewise on the DER), btree and hash
-- -------------------------------------------------------------------

CREATE FUNCTION sealpg.x509_eq(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_eq'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_ne(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_ne'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_lt(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_lt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_le(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_le'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_gt(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_gt'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_ge(sealpg.x509, sealpg.x509) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_x509_ge'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_cmp(sealpg.x509, sealpg.x509) RETURNS integer
	AS 'MODULE_PATHNAME', 'sealpg_x509_cmp'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_hash(sealpg.x509) RETURNS integer
	AS 'MODULE_PATHNAME', 'sealpg_x509_hash'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;
CREATE FUNCTION sealpg.x509_hash_extended(sealpg.x509, bigint) RETURNS bigint
	AS 'MODULE_PATHNAME', 'sealpg_x509_hash_extended'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE LEAKPROOF;

COMMENT ON FUNCTION sealpg.x509_eq(sealpg.x509, sealpg.x509) IS 'same certificate (same DER)';
COMMENT ON FUNCTION sealpg.x509_ne(sealpg.x509, sealpg.x509) IS 'different certificates';
COMMENT ON FUNCTION sealpg.x509_lt(sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: less than';
COMMENT ON FUNCTION sealpg.x509_le(sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: less than or equal';
COMMENT ON FUNCTION sealpg.x509_gt(sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: greater than';
COMMENT ON FUNCTION sealpg.x509_ge(sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: greater than or equal';
COMMENT ON FUNCTION sealpg.x509_cmp(sealpg.x509, sealpg.x509) IS 'btree support: bytewise comparison of the DER';
COMMENT ON FUNCTION sealpg.x509_hash(sealpg.x509) IS 'hash support: hash of the DER';
COMMENT ON FUNCTION sealpg.x509_hash_extended(sealpg.x509, bigint) IS 'hash support: seeded hash of the DER';

GRANT EXECUTE ON FUNCTION
	sealpg.x509_eq(sealpg.x509, sealpg.x509),
	sealpg.x509_ne(sealpg.x509, sealpg.x509),
	sealpg.x509_lt(sealpg.x509, sealpg.x509),
	sealpg.x509_le(sealpg.x509, sealpg.x509),
	sealpg.x509_gt(sealpg.x509, sealpg.x509),
	sealpg.x509_ge(sealpg.x509, sealpg.x509),
	sealpg.x509_cmp(sealpg.x509, sealpg.x509),
	sealpg.x509_hash(sealpg.x509),
	sealpg.x509_hash_extended(sealpg.x509, bigint)
	TO PUBLIC;

CREATE OPERATOR sealpg.= (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_eq,
	COMMUTATOR = OPERATOR(sealpg.=), NEGATOR = OPERATOR(sealpg.<>),
	RESTRICT = eqsel, JOIN = eqjoinsel, HASHES, MERGES
);
CREATE OPERATOR sealpg.<> (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_ne,
	COMMUTATOR = OPERATOR(sealpg.<>), NEGATOR = OPERATOR(sealpg.=),
	RESTRICT = neqsel, JOIN = neqjoinsel
);
CREATE OPERATOR sealpg.< (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_lt,
	COMMUTATOR = OPERATOR(sealpg.>), NEGATOR = OPERATOR(sealpg.>=),
	RESTRICT = scalarltsel, JOIN = scalarltjoinsel
);
CREATE OPERATOR sealpg.<= (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_le,
	COMMUTATOR = OPERATOR(sealpg.>=), NEGATOR = OPERATOR(sealpg.>),
	RESTRICT = scalarlesel, JOIN = scalarlejoinsel
);
CREATE OPERATOR sealpg.> (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_gt,
	COMMUTATOR = OPERATOR(sealpg.<), NEGATOR = OPERATOR(sealpg.<=),
	RESTRICT = scalargtsel, JOIN = scalargtjoinsel
);
CREATE OPERATOR sealpg.>= (
	LEFTARG = sealpg.x509, RIGHTARG = sealpg.x509,
	FUNCTION = sealpg.x509_ge,
	COMMUTATOR = OPERATOR(sealpg.<=), NEGATOR = OPERATOR(sealpg.<),
	RESTRICT = scalargesel, JOIN = scalargejoinsel
);

COMMENT ON OPERATOR sealpg.= (sealpg.x509, sealpg.x509) IS 'same certificate (same DER)';
COMMENT ON OPERATOR sealpg.<> (sealpg.x509, sealpg.x509) IS 'different certificates';
COMMENT ON OPERATOR sealpg.< (sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: less than';
COMMENT ON OPERATOR sealpg.<= (sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: less than or equal';
COMMENT ON OPERATOR sealpg.> (sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: greater than';
COMMENT ON OPERATOR sealpg.>= (sealpg.x509, sealpg.x509) IS 'bytewise order of the DER: greater than or equal';

CREATE OPERATOR CLASS sealpg.x509_ops
	DEFAULT FOR TYPE sealpg.x509 USING btree AS
	OPERATOR 1 sealpg.< ,
	OPERATOR 2 sealpg.<= ,
	OPERATOR 3 sealpg.= ,
	OPERATOR 4 sealpg.>= ,
	OPERATOR 5 sealpg.> ,
	FUNCTION 1 sealpg.x509_cmp(sealpg.x509, sealpg.x509);

CREATE OPERATOR CLASS sealpg.x509_hash_ops
	DEFAULT FOR TYPE sealpg.x509 USING hash AS
	OPERATOR 1 sealpg.= ,
	FUNCTION 1 sealpg.x509_hash(sealpg.x509),
	FUNCTION 2 sealpg.x509_hash_extended(sealpg.x509, bigint);

COMMENT ON OPERATOR CLASS sealpg.x509_ops USING btree IS 'btree (unique indexes, sorting, merge joins) over the DER bytes';
COMMENT ON OPERATOR CLASS sealpg.x509_hash_ops USING hash IS 'hash (hash joins, hash aggregation, hash partitioning) over the DER bytes';
COMMENT ON OPERATOR FAMILY sealpg.x509_ops USING btree IS 'btree operators of sealpg.x509';
COMMENT ON OPERATOR FAMILY sealpg.x509_hash_ops USING hash IS 'hash operators of sealpg.x509';

-- -------------------------------------------------------------------
-- sealpg.sealsig: type
-- -------------------------------------------------------------------

CREATE TYPE sealpg.sealsig;

CREATE FUNCTION sealpg.sealsig_in(cstring) RETURNS sealpg.sealsig
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_in'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_out(sealpg.sealsig) RETURNS cstring
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_out'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_recv(internal) RETURNS sealpg.sealsig
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_recv'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_send(sealpg.sealsig) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_send'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE TYPE sealpg.sealsig (
	INPUT = sealpg.sealsig_in,
	OUTPUT = sealpg.sealsig_out,
	RECEIVE = sealpg.sealsig_recv,
	SEND = sealpg.sealsig_send,
	INTERNALLENGTH = VARIABLE,
	ALIGNMENT = int4,
	STORAGE = extended
);

COMMENT ON TYPE sealpg.sealsig IS 'a seal signature: CMS SignedData, PEM (CMS) as text, DER/BER inside and on the wire';
COMMENT ON FUNCTION sealpg.sealsig_in(cstring) IS 'sealsig input: one PEM block labelled CMS or PKCS7, or bare base64';
COMMENT ON FUNCTION sealpg.sealsig_out(sealpg.sealsig) IS 'sealsig output: one PEM block labelled CMS';
COMMENT ON FUNCTION sealpg.sealsig_recv(internal) IS 'sealsig binary input: the encoding';
COMMENT ON FUNCTION sealpg.sealsig_send(sealpg.sealsig) IS 'sealsig binary output: the encoding';

-- -------------------------------------------------------------------
-- sealpg.sealsig: conversions and accessors
-- -------------------------------------------------------------------

CREATE FUNCTION sealpg.sealsig_from_der(bytea) RETURNS sealpg.sealsig
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_from_der'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_der(sealpg.sealsig) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_der'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_signer_count(sealpg.sealsig) RETURNS integer
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_signer_count'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_signer_serial(sealpg.sealsig) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_signer_serial'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_signer_issuer(sealpg.sealsig) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_signer_issuer'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_signing_time(sealpg.sealsig) RETURNS timestamptz
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_signing_time'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_digest_algorithm(sealpg.sealsig) RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_digest_algorithm'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_certificates(sealpg.sealsig) RETURNS sealpg.x509[]
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_certificates'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_is_detached(sealpg.sealsig) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_is_detached'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;
CREATE FUNCTION sealpg.sealsig_content(sealpg.sealsig) RETURNS bytea
	AS 'MODULE_PATHNAME', 'sealpg_sealsig_content'
	LANGUAGE C IMMUTABLE STRICT PARALLEL SAFE;

CREATE CAST (bytea AS sealpg.sealsig) WITH FUNCTION sealpg.sealsig_from_der(bytea);
CREATE CAST (sealpg.sealsig AS bytea) WITH FUNCTION sealpg.sealsig_der(sealpg.sealsig);

COMMENT ON FUNCTION sealpg.sealsig_from_der(bytea) IS 'the signature whose DER (or BER) is given (checked as on input)';
COMMENT ON FUNCTION sealpg.sealsig_der(sealpg.sealsig) IS 'the encoding of a signature, as accepted';
COMMENT ON FUNCTION sealpg.sealsig_signer_count(sealpg.sealsig) IS 'number of signers (at least 1)';
COMMENT ON FUNCTION sealpg.sealsig_signer_serial(sealpg.sealsig) IS 'serial number of the first signer''s certificate, lowercase hex; NULL if the signer is named by key identifier';
COMMENT ON FUNCTION sealpg.sealsig_signer_issuer(sealpg.sealsig) IS 'issuer of the first signer''s certificate, RFC 2253 text; NULL if the signer is named by key identifier';
COMMENT ON FUNCTION sealpg.sealsig_signing_time(sealpg.sealsig) IS 'signing-time signed attribute of the first signer; NULL if absent';
COMMENT ON FUNCTION sealpg.sealsig_digest_algorithm(sealpg.sealsig) IS 'digest algorithm of the first signer, e.g. sha256';
COMMENT ON FUNCTION sealpg.sealsig_certificates(sealpg.sealsig) IS 'certificates embedded in the SignedData (empty array if none)';
COMMENT ON FUNCTION sealpg.sealsig_is_detached(sealpg.sealsig) IS 'true if the signed content is not carried inside';
COMMENT ON FUNCTION sealpg.sealsig_content(sealpg.sealsig) IS 'the attached content; NULL if detached';
COMMENT ON CAST (bytea AS sealpg.sealsig) IS 'DER/BER to signature, checked as on input';
COMMENT ON CAST (sealpg.sealsig AS bytea) IS 'signature to its encoding';

GRANT EXECUTE ON FUNCTION
	sealpg.sealsig_from_der(bytea),
	sealpg.sealsig_der(sealpg.sealsig),
	sealpg.sealsig_signer_count(sealpg.sealsig),
	sealpg.sealsig_signer_serial(sealpg.sealsig),
	sealpg.sealsig_signer_issuer(sealpg.sealsig),
	sealpg.sealsig_signing_time(sealpg.sealsig),
	sealpg.sealsig_digest_algorithm(sealpg.sealsig),
	sealpg.sealsig_certificates(sealpg.sealsig),
	sealpg.sealsig_is_detached(sealpg.sealsig),
	sealpg.sealsig_content(sealpg.sealsig)
	TO PUBLIC;

-- ===================================================================
-- 10 Registry: organisations, members, calendars, seals, operators,
--    status history; the guard trigger; row-level security
-- ===================================================================

-- ---- helpers written in C ------------------------------------------

CREATE FUNCTION sealpg.caller() RETURNS name
	AS 'MODULE_PATHNAME', 'sealpg_caller'
	LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION sealpg.caller() IS
	'the role that called into sealpg: the session role or the one set by SET ROLE, even inside SECURITY DEFINER functions';

CREATE FUNCTION sealpg.is_time_zone(text) RETURNS boolean
	AS 'MODULE_PATHNAME', 'sealpg_is_time_zone'
	LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION sealpg.is_time_zone(text) IS
	'true when the text names an IANA time zone (not an abbreviation or a POSIX offset)';

-- Both are harmless to anyone: they reveal only the caller's own name and
-- whether a zone name exists.
GRANT EXECUTE ON FUNCTION sealpg.caller(), sealpg.is_time_zone(text) TO PUBLIC;

-- ---- types ---------------------------------------------------------

CREATE TYPE sealpg.seal_kind AS ENUM
	('organisation', 'personal', 'finance', 'contract', 'legal_representative');
COMMENT ON TYPE sealpg.seal_kind IS 'what a seal stands for: the organisation, a person, finance, contracts, the legal representative';

CREATE TYPE sealpg.seal_status AS ENUM ('active', 'frozen', 'revoked', 'expired');
COMMENT ON TYPE sealpg.seal_status IS
	'active <-> frozen; active|frozen -> revoked (terminal); -> expired when the validity window ends';

-- ---- tables --------------------------------------------------------

CREATE TABLE sealpg.organisations (
	organisation_id	uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	name			text NOT NULL UNIQUE CHECK (name <> ''),
	two_person_rule	boolean NOT NULL DEFAULT false,
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.organisations IS 'organisations that own seals; row-level security separates them';

CREATE TABLE sealpg.organisation_members (
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations ON DELETE CASCADE,
	member			name NOT NULL,
	is_admin		boolean NOT NULL DEFAULT false,
	PRIMARY KEY (organisation_id, member)
);
COMMENT ON TABLE sealpg.organisation_members IS
	'database roles that belong to an organisation (is_admin: may manage its seals and report losses)';

CREATE TABLE sealpg.calendars (
	calendar_id		uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations,
	name			text NOT NULL,
	work_days		integer[] NOT NULL DEFAULT '{1,2,3,4,5}'
		CHECK (work_days <@ '{1,2,3,4,5,6,7}'::integer[] AND pg_catalog.cardinality(work_days) > 0),
	day_start		time NOT NULL DEFAULT '08:00',
	day_end			time NOT NULL DEFAULT '18:00',
	CHECK (day_start < day_end),
	UNIQUE (organisation_id, name)
);
COMMENT ON TABLE sealpg.calendars IS
	'working calendars: ISO week days (1 = Monday) and working hours, read in each seal''s own time zone';

CREATE TABLE sealpg.seals (
	seal_id			uuid PRIMARY KEY DEFAULT pg_catalog.gen_random_uuid(),
	es_id			text NOT NULL UNIQUE,	-- format checked by seal_guard()
	name			text NOT NULL CHECK (name <> ''),
	kind			sealpg.seal_kind NOT NULL,
	organisation_id	uuid NOT NULL REFERENCES sealpg.organisations,
	holder			text,
	valid_from		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	valid_until		timestamptz NOT NULL,
	time_zone		text NOT NULL DEFAULT 'UTC',
	calendar_id		uuid REFERENCES sealpg.calendars,
	home_latitude	double precision,
	home_longitude	double precision,
	home_radius_m	double precision,
	device_id		text,
	token_label		text,
	key_id			bytea,
	key_algorithm	text,
	status			sealpg.seal_status NOT NULL DEFAULT 'active',
	status_reason	text,
	status_changed_at timestamptz NOT NULL DEFAULT pg_catalog.now(),
	created_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.seals IS
	'one row per seal: its esID, owner, validity, time zone, calendar, home location, bound device, key reference and status';
COMMENT ON COLUMN sealpg.seals.es_id IS 'the seal''s esID, unique, the key every API function takes first';
COMMENT ON COLUMN sealpg.seals.device_id IS 'identity of the physical (smart) seal device bound to this seal';
COMMENT ON COLUMN sealpg.seals.token_label IS 'label of the PKCS#11 token holding the seal''s key';
COMMENT ON COLUMN sealpg.seals.key_id IS 'CKA_ID of the seal''s private key on its token';
CREATE INDEX ON sealpg.seals (organisation_id);

CREATE TABLE sealpg.seal_operators (
	seal_id			uuid NOT NULL REFERENCES sealpg.seals ON DELETE CASCADE,
	operator		name NOT NULL,
	grant_from		timestamptz,
	grant_until		timestamptz,
	max_uses		integer CHECK (max_uses > 0),
	uses			integer NOT NULL DEFAULT 0 CHECK (uses >= 0),
	granted_by		name NOT NULL,
	granted_at		timestamptz NOT NULL DEFAULT pg_catalog.now(),
	PRIMARY KEY (seal_id, operator),
	CHECK (grant_until IS NULL OR grant_from IS NULL OR grant_until > grant_from)
);
COMMENT ON TABLE sealpg.seal_operators IS
	'which role may use which seal, optionally only within a time range and up to a number of uses';

CREATE TABLE sealpg.seal_status_history (
	history_id		bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
	seal_id			uuid NOT NULL REFERENCES sealpg.seals,
	old_status		sealpg.seal_status,
	new_status		sealpg.seal_status NOT NULL,
	reason			text,
	actor			name NOT NULL,
	changed_at		timestamptz NOT NULL DEFAULT pg_catalog.now()
);
COMMENT ON TABLE sealpg.seal_status_history IS 'every status a seal has had, who set it and why (written by the guard trigger)';
CREATE INDEX ON sealpg.seal_status_history (seal_id, changed_at);

-- ---- the guard trigger ---------------------------------------------

CREATE FUNCTION sealpg.seal_guard() RETURNS trigger
	AS 'MODULE_PATHNAME', 'seal_guard'
	LANGUAGE C;
COMMENT ON FUNCTION sealpg.seal_guard() IS
	'validates seal rows, enforces the status state machine, writes the history and notifies sealpg_status';
REVOKE ALL ON FUNCTION sealpg.seal_guard() FROM PUBLIC;	-- a trigger, never called directly

CREATE TRIGGER seal_guard_before BEFORE INSERT OR UPDATE ON sealpg.seals
	FOR EACH ROW EXECUTE FUNCTION sealpg.seal_guard();
CREATE TRIGGER seal_guard_after AFTER INSERT OR UPDATE OF status ON sealpg.seals
	FOR EACH ROW EXECUTE FUNCTION sealpg.seal_guard();

-- ---- membership checks ---------------------------------------------

CREATE FUNCTION sealpg.is_member(organisation uuid, admin_only boolean DEFAULT false)
RETURNS boolean
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	RETURN EXISTS (
		SELECT 1
		  FROM sealpg.organisation_members m
		  JOIN pg_catalog.pg_roles r ON r.rolname = m.member
		 WHERE m.organisation_id = organisation
		   AND (m.is_admin OR NOT admin_only)
		   AND pg_catalog.pg_has_role(sealpg.caller(), r.oid, 'MEMBER'))
		OR (SELECT rolsuper FROM pg_catalog.pg_roles WHERE rolname = sealpg.caller());
END
$$;
COMMENT ON FUNCTION sealpg.is_member(uuid, boolean) IS
	'true when the caller belongs to the organisation (as an admin, with admin_only); superusers belong everywhere';
REVOKE ALL ON FUNCTION sealpg.is_member(uuid, boolean) FROM PUBLIC;	-- only sealpg's roles ask
GRANT EXECUTE ON FUNCTION sealpg.is_member(uuid, boolean)
	TO sealpg_admin, sealpg_operator, sealpg_auditor, sealpg_agent;

CREATE FUNCTION sealpg.require_admin(organisation uuid) RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	IF NOT sealpg.is_member(organisation, true) THEN
		RAISE EXCEPTION 'role "%" is not an administrator of organisation %', sealpg.caller(), organisation
			USING ERRCODE = 'SE301',
				  HINT = 'An administrator of the organisation adds you with sealpg.add_member(organisation, role, true).';
	END IF;
END
$$;
COMMENT ON FUNCTION sealpg.require_admin(uuid) IS 'raises SE301 unless the caller administers the organisation';
REVOKE ALL ON FUNCTION sealpg.require_admin(uuid) FROM PUBLIC;	-- internal check

-- ---- row-level security --------------------------------------------
-- The tables' owner (the superuser who created the extension) and the
-- SECURITY DEFINER API functions see everything; every other role sees
-- the rows of its own organisations only.

ALTER TABLE sealpg.organisations ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.organisation_members ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.calendars ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seals ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_operators ENABLE ROW LEVEL SECURITY;
ALTER TABLE sealpg.seal_status_history ENABLE ROW LEVEL SECURITY;

CREATE POLICY by_organisation ON sealpg.organisations
	USING (sealpg.is_member(organisation_id));
CREATE POLICY by_organisation ON sealpg.organisation_members
	USING (sealpg.is_member(organisation_id));
CREATE POLICY by_organisation ON sealpg.calendars
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.seals
	USING (sealpg.is_member(organisation_id))
	WITH CHECK (sealpg.is_member(organisation_id, true));
CREATE POLICY by_organisation ON sealpg.seal_operators
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_operators.seal_id)));
CREATE POLICY by_organisation ON sealpg.seal_status_history
	USING (sealpg.is_member((SELECT s.organisation_id FROM sealpg.seals s WHERE s.seal_id = seal_status_history.seal_id)));

-- Tables are read directly; they are changed through the API functions
-- below (which check who asks), so no role but the owner writes them.
REVOKE ALL ON ALL TABLES IN SCHEMA sealpg FROM PUBLIC;
GRANT SELECT ON sealpg.organisations, sealpg.organisation_members, sealpg.calendars,
	sealpg.seals, sealpg.seal_operators, sealpg.seal_status_history
	TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ---- API -----------------------------------------------------------

CREATE FUNCTION sealpg.create_organisation(name text, two_person_rule boolean DEFAULT false,
										   admin name DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	IF NOT pg_catalog.pg_has_role(sealpg.caller(), 'sealpg_admin', 'MEMBER') THEN
		RAISE EXCEPTION 'role "%" may not create organisations', sealpg.caller()
			USING ERRCODE = 'SE301', HINT = 'Members of sealpg_admin create organisations.';
	END IF;
	INSERT INTO sealpg.organisations (name, two_person_rule)
		VALUES (create_organisation.name, create_organisation.two_person_rule)
		RETURNING organisation_id INTO id;
	INSERT INTO sealpg.organisation_members (organisation_id, member, is_admin)
		VALUES (id, coalesce(admin, sealpg.caller()), true);
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_organisation(text, boolean, name) IS
	'creates an organisation whose first administrator is the caller (or admin); members of sealpg_admin only';

CREATE FUNCTION sealpg.add_member(organisation uuid, member name, is_admin boolean DEFAULT false)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM sealpg.require_admin(organisation);
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = member) THEN
		RAISE EXCEPTION 'role "%" does not exist', member USING ERRCODE = '42704';
	END IF;
	INSERT INTO sealpg.organisation_members AS m (organisation_id, member, is_admin)
		VALUES (organisation, add_member.member, add_member.is_admin)
		ON CONFLICT ON CONSTRAINT organisation_members_pkey DO UPDATE SET is_admin = EXCLUDED.is_admin;
END
$$;
COMMENT ON FUNCTION sealpg.add_member(uuid, name, boolean) IS
	'adds a role to an organisation (or changes whether it is an admin); organisation admins only';

CREATE FUNCTION sealpg.create_calendar(organisation uuid, name text,
									   work_days integer[] DEFAULT '{1,2,3,4,5}',
									   day_start time DEFAULT '08:00', day_end time DEFAULT '18:00')
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	PERFORM sealpg.require_admin(organisation);
	IF day_start >= day_end THEN
		RAISE EXCEPTION 'working hours end (%) before they start (%)', day_end, day_start
			USING ERRCODE = '22023', HINT = 'A working day lies within one calendar day.';
	END IF;
	IF work_days IS NULL OR cardinality(work_days) = 0 OR NOT work_days <@ '{1,2,3,4,5,6,7}'::integer[] THEN
		RAISE EXCEPTION 'invalid work days %', work_days
			USING ERRCODE = '22023', DETAIL = 'Work days are ISO week days, 1 (Monday) to 7 (Sunday), at least one.';
	END IF;
	INSERT INTO sealpg.calendars (organisation_id, name, work_days, day_start, day_end)
		VALUES (organisation, create_calendar.name, create_calendar.work_days,
				create_calendar.day_start, create_calendar.day_end)
		RETURNING calendar_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_calendar(uuid, text, integer[], time, time) IS
	'creates a working calendar (ISO week days, working hours); organisation admins only';

CREATE FUNCTION sealpg.create_seal(es_id text, name text, kind sealpg.seal_kind,
								   organisation uuid, valid_until timestamptz,
								   holder text DEFAULT NULL,
								   time_zone text DEFAULT 'UTC',
								   valid_from timestamptz DEFAULT pg_catalog.now(),
								   home_latitude double precision DEFAULT NULL,
								   home_longitude double precision DEFAULT NULL,
								   home_radius_m double precision DEFAULT NULL,
								   device_id text DEFAULT NULL,
								   calendar uuid DEFAULT NULL)
RETURNS uuid
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	id uuid;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM sealpg.organisations o WHERE o.organisation_id = organisation) THEN
		RAISE EXCEPTION 'organisation % does not exist', organisation
			USING ERRCODE = '23503', HINT = 'Create it with sealpg.create_organisation(name).';
	END IF;
	PERFORM sealpg.require_admin(organisation);
	IF calendar IS NOT NULL AND NOT EXISTS (SELECT 1 FROM sealpg.calendars c
		WHERE c.calendar_id = calendar AND c.organisation_id = organisation) THEN
		RAISE EXCEPTION 'calendar % is not one of this organisation''s calendars', calendar
			USING ERRCODE = '23503';
	END IF;
	INSERT INTO sealpg.seals (es_id, name, kind, organisation_id, holder, valid_from, valid_until,
							  time_zone, calendar_id, home_latitude, home_longitude,
							  home_radius_m, device_id)
		VALUES (create_seal.es_id, create_seal.name, create_seal.kind, organisation,
				create_seal.holder, create_seal.valid_from, create_seal.valid_until,
				create_seal.time_zone, calendar, create_seal.home_latitude,
				create_seal.home_longitude, create_seal.home_radius_m, create_seal.device_id)
		RETURNING seal_id INTO id;
	RETURN id;
END
$$;
COMMENT ON FUNCTION sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
	timestamptz, double precision, double precision, double precision, text, uuid) IS
	'registers a seal (active, not yet enrolled); organisation admins only';

-- seal_row(es_id): the seal's row, locked FOR UPDATE, or SE007.
CREATE FUNCTION sealpg.seal_row(seal text) RETURNS sealpg.seals
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r sealpg.seals;
BEGIN
	SELECT * INTO r FROM sealpg.seals s WHERE s.es_id = seal FOR UPDATE;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal
			USING ERRCODE = 'SE007', HINT = 'Seals are named by their esID; SELECT es_id FROM sealpg.seals lists the ones you may see.';
	END IF;
	RETURN r;
END
$$;
COMMENT ON FUNCTION sealpg.seal_row(text) IS 'the seal''s row locked for update, or SQLSTATE SE007 (internal)';
REVOKE ALL ON FUNCTION sealpg.seal_row(text) FROM PUBLIC;	-- internal: locks rows

CREATE FUNCTION sealpg.grant_seal(seal text, operator name,
								  grant_from timestamptz DEFAULT NULL,
								  grant_until timestamptz DEFAULT NULL,
								  max_uses integer DEFAULT NULL)
RETURNS void
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = operator) THEN
		RAISE EXCEPTION 'role "%" does not exist', operator USING ERRCODE = '42704';
	END IF;
	INSERT INTO sealpg.seal_operators (seal_id, operator, grant_from, grant_until, max_uses, granted_by)
		VALUES (s.seal_id, grant_seal.operator, grant_seal.grant_from, grant_seal.grant_until,
				grant_seal.max_uses, sealpg.caller())
		ON CONFLICT ON CONSTRAINT seal_operators_pkey DO UPDATE
		   SET grant_from = EXCLUDED.grant_from, grant_until = EXCLUDED.grant_until,
			   max_uses = EXCLUDED.max_uses, uses = 0,
			   granted_by = EXCLUDED.granted_by, granted_at = EXCLUDED.granted_at;
END
$$;
COMMENT ON FUNCTION sealpg.grant_seal(text, name, timestamptz, timestamptz, integer) IS
	'lets a role use a seal, optionally within a time range and up to max_uses; organisation admins only';

CREATE FUNCTION sealpg.revoke_seal_grant(seal text, operator name) RETURNS boolean
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	DELETE FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id AND o.operator = revoke_seal_grant.operator;
	RETURN FOUND;
END
$$;
COMMENT ON FUNCTION sealpg.revoke_seal_grant(text, name) IS
	'takes a role''s use of a seal away; true if it had one; organisation admins only';

CREATE FUNCTION sealpg.set_status(seal text, status sealpg.seal_status, reason text)
RETURNS sealpg.seal_status
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s sealpg.seals := sealpg.seal_row(seal);
BEGIN
	PERFORM sealpg.require_admin(s.organisation_id);
	UPDATE sealpg.seals SET status = set_status.status, status_reason = reason,
		   status_changed_at = pg_catalog.now()
	 WHERE seal_id = s.seal_id;
	RETURN set_status.status;
END
$$;
COMMENT ON FUNCTION sealpg.set_status(text, sealpg.seal_status, text) IS
	'moves a seal through its state machine (illegal moves raise SE006); organisation admins only';

CREATE FUNCTION sealpg.expire_seals() RETURNS integer
LANGUAGE plpgsql VOLATILE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n integer;
BEGIN
	UPDATE sealpg.seals SET status = 'expired', status_reason = 'validity ended',
		   status_changed_at = pg_catalog.now()
	 WHERE status IN ('active', 'frozen') AND valid_until <= pg_catalog.now();
	GET DIAGNOSTICS n = ROW_COUNT;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.expire_seals() IS
	'marks every seal whose validity has ended as expired; returns how many (run by pg_cron)';

CREATE FUNCTION sealpg.status(seal text) RETURNS sealpg.seal_status
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	r sealpg.seals;
BEGIN
	SELECT * INTO r FROM sealpg.seals s WHERE s.es_id = seal;
	IF NOT FOUND OR NOT sealpg.is_member(r.organisation_id) THEN
		RAISE EXCEPTION 'seal "%" does not exist', seal USING ERRCODE = 'SE007';
	END IF;
	IF r.status IN ('active', 'frozen') AND r.valid_until <= pg_catalog.now() THEN
		RETURN 'expired';
	END IF;
	RETURN r.status;
END
$$;
COMMENT ON FUNCTION sealpg.status(text) IS
	'the seal''s status now (expired as soon as the validity window has ended)';

-- Every API function is refused to PUBLIC (PostgreSQL grants EXECUTE to
-- PUBLIC by default) and granted to the roles that need it.
REVOKE ALL ON FUNCTION
	sealpg.create_organisation(text, boolean, name),
	sealpg.add_member(uuid, name, boolean),
	sealpg.create_calendar(uuid, text, integer[], time, time),
	sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
		timestamptz, double precision, double precision, double precision, text, uuid),
	sealpg.grant_seal(text, name, timestamptz, timestamptz, integer),
	sealpg.revoke_seal_grant(text, name),
	sealpg.set_status(text, sealpg.seal_status, text),
	sealpg.expire_seals(),
	sealpg.status(text)
	FROM PUBLIC;
GRANT EXECUTE ON FUNCTION
	sealpg.create_organisation(text, boolean, name),
	sealpg.add_member(uuid, name, boolean),
	sealpg.create_calendar(uuid, text, integer[], time, time),
	sealpg.create_seal(text, text, sealpg.seal_kind, uuid, timestamptz, text, text,
		timestamptz, double precision, double precision, double precision, text, uuid),
	sealpg.grant_seal(text, name, timestamptz, timestamptz, integer),
	sealpg.revoke_seal_grant(text, name),
	sealpg.set_status(text, sealpg.seal_status, text)
	TO sealpg_admin;
GRANT EXECUTE ON FUNCTION sealpg.status(text) TO sealpg_admin, sealpg_operator, sealpg_auditor;

-- ===================================================================
-- 12 The agent: what the database may ask sealpg-agent directly
-- ===================================================================
-- Key generation and signing are deliberately not exposed here: they go
-- only through the policy checks of enrolment and signing.

CREATE FUNCTION sealpg.agent_ping() RETURNS text
	AS 'MODULE_PATHNAME', 'sealpg_agent_ping'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_ping() IS
	'connects to sealpg-agent (sealpg.agent_socket) and returns its name and protocol version';

CREATE FUNCTION sealpg.agent_tokens(OUT label text, OUT serial text, OUT manufacturer text,
									OUT model text, OUT present boolean, OUT initialized boolean)
	RETURNS SETOF record
	AS 'MODULE_PATHNAME', 'sealpg_agent_tokens'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_tokens() IS 'the tokens (security chips) the agent sees';

CREATE FUNCTION sealpg.agent_key(token text, key_id bytea, OUT algorithm text, OUT spki bytea,
								 OUT sensitive boolean, OUT extractable boolean,
								 OUT never_extractable boolean, OUT always_sensitive boolean,
								 OUT local boolean)
	RETURNS record
	AS 'MODULE_PATHNAME', 'sealpg_agent_key'
	LANGUAGE C STRICT VOLATILE;
COMMENT ON FUNCTION sealpg.agent_key(text, bytea) IS
	'a key''s public part and the attributes its token reports (proof that it was born in the chip)';

-- What the agent sees is for administrators and auditors, not for everyone.
REVOKE ALL ON FUNCTION sealpg.agent_ping(), sealpg.agent_tokens(), sealpg.agent_key(text, bytea) FROM PUBLIC;
GRANT EXECUTE ON FUNCTION sealpg.agent_ping(), sealpg.agent_tokens(), sealpg.agent_key(text, bytea)
	TO sealpg_admin, sealpg_auditor;

-- ===================================================================
-- 15 Scheduled jobs (pg_cron)
-- ===================================================================
-- Each part of sealpg lists the jobs it needs here; schedule_jobs()
-- hands them to pg_cron when pg_cron is installed in this database.

CREATE TABLE sealpg.jobs (
	job_name	text PRIMARY KEY CHECK (job_name ~ '^sealpg-[a-z0-9-]+$'),
	schedule	text NOT NULL,
	command		text NOT NULL
);
COMMENT ON TABLE sealpg.jobs IS 'the periodic jobs sealpg needs; sealpg.schedule_jobs() gives them to pg_cron';
REVOKE ALL ON sealpg.jobs FROM PUBLIC;	-- commands run as the scheduling superuser
GRANT SELECT ON sealpg.jobs TO sealpg_admin, sealpg_auditor;

INSERT INTO sealpg.jobs VALUES
	('sealpg-expire', '* * * * *', 'SELECT sealpg.expire_seals()');

CREATE FUNCTION sealpg.schedule_jobs() RETURNS integer
LANGUAGE plpgsql VOLATILE
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	j record;
	n integer := 0;
BEGIN
	IF NOT EXISTS (SELECT 1 FROM pg_catalog.pg_extension WHERE extname = 'pg_cron') THEN
		RAISE EXCEPTION 'pg_cron is not installed in this database'
			USING ERRCODE = '55000',
				  HINT = 'Add pg_cron to shared_preload_libraries, set cron.database_name to this database, then CREATE EXTENSION pg_cron.';
	END IF;
	FOR j IN SELECT * FROM sealpg.jobs ORDER BY job_name LOOP
		-- cron.schedule(name, ...) replaces a job of the same name
		EXECUTE 'SELECT cron.schedule($1, $2, $3)' USING j.job_name, j.schedule, j.command;
		n := n + 1;
	END LOOP;
	RETURN n;
END
$$;
COMMENT ON FUNCTION sealpg.schedule_jobs() IS
	'schedules (or reschedules) every job of sealpg.jobs with pg_cron; returns how many';
REVOKE ALL ON FUNCTION sealpg.schedule_jobs() FROM PUBLIC;	-- superusers schedule jobs
