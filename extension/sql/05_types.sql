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
