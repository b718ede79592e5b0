/*-------------------------------------------------------------------------
 *
 * authority.c
 *	  The seal authority: its root certificate (key generated on the
 *	  token), an imported key, its CSR for an external parent, and the
 *	  certificates it issues to seals at enrolment.
 *
 * The C functions here do the cryptography; the SQL functions of piece
 * 30_authority.sql check who asks, lock rows and write tables.  Every key
 * is generated inside a token through sealpg-agent and every signature is
 * made there (token_provider.c); OpenSSL builds the structures.
 *
 * A key is accepted only when the token proves it was born in the chip
 * and can never leave it: CKA_SENSITIVE, CKA_NEVER_EXTRACTABLE, CKA_LOCAL
 * set and CKA_EXTRACTABLE clear.  Otherwise SE106, and nothing is written.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "agent_client.h"
#include "authority.h"
#include "ossl.h"
#include "sealpg.h"
#include "sealpg_types.h"
#include "token_provider.h"

/* Serial numbers: 128 random bits, kept positive. */
#define SERIAL_BYTES			16

/* ---------------------------------------------------------------------
 * Shared helpers
 * ---------------------------------------------------------------------
 */

/* Raise SE106 unless the attribute bits prove a chip-born key. */
void
sealpg_require_key_in_chip(int attrs, const char *what)
{
	const char *why = NULL;

	if (attrs & SEALPG_ATTR_EXTRACTABLE)
		why = "it is extractable (CKA_EXTRACTABLE is set)";
	else if (!(attrs & SEALPG_ATTR_NEVER_EXTRACTABLE))
		why = "it has been extractable at some time (CKA_NEVER_EXTRACTABLE is not set)";
	else if (!(attrs & SEALPG_ATTR_SENSITIVE))
		why = "it is not sensitive (CKA_SENSITIVE is not set)";
	else if (!(attrs & SEALPG_ATTR_LOCAL))
		why = "it was not generated on the token (CKA_LOCAL is not set)";
	if (why != NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_KEY_NOT_IN_CHIP),
				 errmsg("%s cannot be proven to stay in the chip", what),
				 errdetail("The token reports that %s.", why),
				 errhint("Generate the key on the token, non-extractable and sensitive; sealpg does so itself.")));
}

/* The algorithm named by the SQL argument. */
static SealpgKeyAlg
parse_algorithm(const char *name)
{
	if (strcmp(name, "ec-p256") == 0)
		return SEALPG_KEY_EC_P256;
	if (strcmp(name, "ed25519") == 0)
		return SEALPG_KEY_ED25519;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unknown key algorithm \"%s\"", name),
			 errhint("Use ec-p256 or ed25519.")));
	pg_unreachable();
}

/* The DER SubjectPublicKeyInfo of a certificate. */
unsigned char *
sealpg_cert_spki(X509 *cert, size_t *len)
{
	X509_PUBKEY *xpk = X509_get_X509_PUBKEY(cert);
	unsigned char *der = NULL;
	unsigned char *copy;
	int			n;

	if (xpk == NULL || (n = i2d_X509_PUBKEY(xpk, &der)) <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the certificate's public key");
	copy = palloc(n);
	memcpy(copy, der, n);
	OPENSSL_free(der);
	*len = (size_t) n;
	return copy;
}

/* A certificate as a sealpg.x509 value. */
bytea *
sealpg_x509_from_cert(X509 *cert)
{
	unsigned char *der = NULL;
	SealpgOsslTracked *der_t;
	bytea	   *result;
	int			n;

	n = i2d_X509(cert, &der);
	if (n <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the certificate");
	der_t = sealpg_track_openssl_memory(der);
	result = sealpg_x509_make(der, (size_t) n);
	sealpg_ossl_free(der_t);
	return result;
}

/* A public key read from a DER SPKI (tracked). */
static EVP_PKEY *
spki_public_key(const unsigned char *spki, size_t len)
{
	const unsigned char *p = spki;
	EVP_PKEY   *pub = d2i_PUBKEY(NULL, &p, (long) len);

	if (pub == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_AGENT_PROTOCOL, "the agent returned an unreadable public key");
	sealpg_track_pkey(pub);
	return pub;
}

/* Set a random positive 128-bit serial number. */
static void
set_random_serial(X509 *cert)
{
	unsigned char bytes[SERIAL_BYTES];
	BIGNUM	   *bn;
	ASN1_INTEGER *serial;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not draw a serial number");
	bytes[0] &= 0x7F;			/* positive */
	bytes[0] |= 0x40;			/* and always 16 bytes long */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	serial = bn ? BN_to_ASN1_INTEGER(bn, NULL) : NULL;
	BN_free(bn);
	if (serial == NULL || !X509_set_serialNumber(cert, serial))
	{
		ASN1_INTEGER_free(serial);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the serial number");
	}
	ASN1_INTEGER_free(serial);
}

/* Set the validity window. */
static void
set_validity(X509 *cert, TimestampTz from, TimestampTz until)
{
	if (ASN1_TIME_set(X509_getm_notBefore(cert), timestamptz_to_time_t(from)) == NULL ||
		ASN1_TIME_set(X509_getm_notAfter(cert), timestamptz_to_time_t(until)) == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the validity");
}

/* Add one name entry in UTF-8. */
static void
name_add(X509_NAME *name, int nid, const char *value)
{
	if (!X509_NAME_add_entry_by_NID(name, nid, MBSTRING_UTF8,
									(const unsigned char *) value, -1, -1, 0))
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE,
							psprintf("could not put \"%s\" into a certificate name", value));
}

/* Add an extension written in OpenSSL's configuration syntax. */
static void
add_extension(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);

	if (ext == NULL || !X509_add_ext(cert, ext, -1))
	{
		X509_EXTENSION_free(ext);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE,
							psprintf("could not add the extension %s", OBJ_nid2sn(nid)));
	}
	X509_EXTENSION_free(ext);
}

/* Sign a certificate with a token key (the right digest for its type). */
static void
sign_certificate(X509 *cert, EVP_PKEY *key)
{
	const EVP_MD *md = EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256();

	ERR_clear_error();
	if (X509_sign(cert, key, md) <= 0)
		sealpg_token_sign_failed("could not sign the certificate");
}

/* A new, tracked, version 3 certificate with a fresh serial. */
static X509 *
new_certificate(EVP_PKEY *subject_public)
{
	X509	   *cert = X509_new();

	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a certificate");
	sealpg_track_x509(cert);
	if (!X509_set_version(cert, X509_VERSION_3) || !X509_set_pubkey(cert, subject_public))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not start a certificate");
	set_random_serial(cert);
	return cert;
}

/* Load this database's authority: certificate and token key. */
void
sealpg_authority_load(X509 **cert, EVP_PKEY **key)
{
	MemoryContext caller_cxt = CurrentMemoryContext;
	char	   *token;
	bytea	   *key_id;
	bytea	   *cert_value;
	bool		isnull;
	SealpgOsslTracked *unused;
	unsigned char *spki;
	size_t		spki_len;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (SPI_execute("SELECT token_label, key_id, certificate FROM sealpg.authority", true, 2) != SPI_OK_SELECT)
		elog(ERROR, "could not read sealpg.authority");
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NO_AUTHORITY),
				 errmsg("this database has no seal authority"),
				 errhint("A superuser or a member of sealpg_admin creates it with sealpg.authority_init(name), or imports one with sealpg.authority_import(...).")));
	{
		MemoryContext spi_cxt = MemoryContextSwitchTo(caller_cxt);
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;

		token = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		key_id = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 2, &isnull));
		cert_value = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 3, &isnull));
		MemoryContextSwitchTo(spi_cxt);
	}
	SPI_finish();

	*cert = sealpg_x509_decode(cert_value, &unused);
	spki = sealpg_cert_spki(*cert, &spki_len);
	*key = sealpg_token_key(token, (unsigned char *) VARDATA_ANY(key_id),
							VARSIZE_ANY_EXHDR(key_id), spki, spki_len);
}

/* ---------------------------------------------------------------------
 * SQL-callable functions (internal: 30_authority.sql wraps them)
 * ---------------------------------------------------------------------
 */

/* sealpg.require_key_in_chip(attrs): the attribute check, alone. */
PG_FUNCTION_INFO_V1(sealpg_require_key_in_chip_sql);
Datum
sealpg_require_key_in_chip_sql(PG_FUNCTION_ARGS)
{
	sealpg_require_key_in_chip(PG_GETARG_INT32(0), "the key");
	PG_RETURN_VOID();
}

/* Build a (key_id bytea, spki bytea) result row from an agent key. */
static Datum
key_row(FunctionCallInfo fcinfo, const SealKeyInfo *k)
{
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};

	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	if (k->key_id == NULL || k->spki == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("the agent did not report the new key's id and public key")));
	values[0] = PointerGetDatum(k->key_id);
	values[1] = PointerGetDatum(k->spki);
	return HeapTupleGetDatum(heap_form_tuple(BlessTupleDesc(desc), values, nulls));
}

/*
 * sealpg.generate_key(token, algorithm, label) -> (key_id, spki): a key
 * generated on the token, refused with SE106 unless it is provably
 * chip-bound.
 */
PG_FUNCTION_INFO_V1(sealpg_generate_key);
Datum
sealpg_generate_key(PG_FUNCTION_ARGS)
{
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(0));
	SealpgKeyAlg alg = parse_algorithm(text_to_cstring(PG_GETARG_TEXT_PP(1)));
	char	   *label = text_to_cstring(PG_GETARG_TEXT_PP(2));
	SealKeyInfo k;

	if (strlen(label) > SEALPG_MAX_KEY_LABEL)
		label[SEALPG_MAX_KEY_LABEL] = '\0';
	sealpg_agent_keygen(token, alg == SEALPG_KEY_EC_P256 ? "ecdsa-p256" : "ed25519", label, &k);
	sealpg_require_key_in_chip(k.attrs, "the new key");
	PG_RETURN_DATUM(key_row(fcinfo, &k));
}

/*
 * sealpg.authority_root(name, token, key_id, spki, valid_for) -> x509:
 * the self-signed root certificate of a new authority.
 */
PG_FUNCTION_INFO_V1(sealpg_authority_root);
Datum
sealpg_authority_root(PG_FUNCTION_ARGS)
{
	char	   *name = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *key_id = PG_GETARG_BYTEA_PP(2);
	bytea	   *spki = PG_GETARG_BYTEA_PP(3);
	Interval   *valid_for = PG_GETARG_INTERVAL_P(4);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until;
	EVP_PKEY   *key;
	X509	   *cert;
	X509_NAME  *subject;
	X509V3_CTX ctx;

	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(now),
													IntervalPGetDatum(valid_for)));
	if (until <= now)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the authority must be valid for a positive interval")));

	key = sealpg_token_key(token, (unsigned char *) VARDATA_ANY(key_id),
						   VARSIZE_ANY_EXHDR(key_id),
						   (unsigned char *) VARDATA_ANY(spki), VARSIZE_ANY_EXHDR(spki));
	cert = new_certificate(spki_public_key((unsigned char *) VARDATA_ANY(spki),
										   VARSIZE_ANY_EXHDR(spki)));
	subject = X509_get_subject_name(cert);
	name_add(subject, NID_commonName, name);
	if (!X509_set_issuer_name(cert, subject))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the issuer");
	set_validity(cert, now, until);

	X509V3_set_ctx(&ctx, cert, cert, NULL, NULL, 0);
	add_extension(cert, &ctx, NID_basic_constraints, "critical,CA:TRUE");
	add_extension(cert, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign");
	add_extension(cert, &ctx, NID_subject_key_identifier, "hash");
	add_extension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
	sign_certificate(cert, key);

	PG_RETURN_BYTEA_P(sealpg_x509_from_cert(cert));
}

/*
 * sealpg.authority_key_check(cert, token, key_id) -> algorithm: the key
 * is on the token, chip-bound, and the certificate's (a CA's) public key.
 */
PG_FUNCTION_INFO_V1(sealpg_authority_key_check);
Datum
sealpg_authority_key_check(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(PG_GETARG_BYTEA_PP(0), &cert_t);
	char	   *token = text_to_cstring(PG_GETARG_TEXT_PP(1));
	bytea	   *key_id = PG_GETARG_BYTEA_PP(2);
	SealKeyInfo k;
	unsigned char *spki;
	size_t		spki_len;

	if (VARSIZE_ANY_EXHDR(key_id) == 0 || VARSIZE_ANY_EXHDR(key_id) > SEALPG_MAX_KEY_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key id is not 1 to %d bytes long", SEALPG_MAX_KEY_ID)));
	if (X509_check_ca(cert) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the certificate is not a CA certificate"),
				 errdetail("An authority certificate needs basicConstraints CA:TRUE and, if it has a key usage, keyCertSign.")));
	sealpg_agent_pubkey(token, (unsigned char *) VARDATA_ANY(key_id), VARSIZE_ANY_EXHDR(key_id), &k);
	sealpg_require_key_in_chip(k.attrs, "the authority key");
	spki = sealpg_cert_spki(cert, &spki_len);
	if (k.spki == NULL || spki_len != VARSIZE_ANY_EXHDR(k.spki) ||
		memcmp(spki, VARDATA_ANY(k.spki), spki_len) != 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the key on token \"%s\" is not the certificate's key", token),
				 errdetail("The public key the agent reports differs from the one in the certificate.")));
	PG_RETURN_TEXT_P(cstring_to_text(sealpg_spki_alg(spki, spki_len) == SEALPG_KEY_EC_P256
									 ? "ec-p256" : "ed25519"));
}

/*
 * sealpg.authority_csr_pem() -> text: a PKCS#10 request with the
 * authority's subject and key, signed on its token.
 */
PG_FUNCTION_INFO_V1(sealpg_authority_csr_pem);
Datum
sealpg_authority_csr_pem(PG_FUNCTION_ARGS)
{
	X509	   *cert;
	EVP_PKEY   *key;
	X509_REQ   *req;
	SealpgOsslTracked *req_t;
	BIO		   *bio;
	SealpgOsslTracked *bio_t;
	char	   *pem;
	long		len;
	text	   *result;

	sealpg_authority_load(&cert, &key);
	req = X509_REQ_new();
	if (req == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a request");
	req_t = sealpg_ossl_track(req, (void (*) (void *)) X509_REQ_free);
	if (!X509_REQ_set_version(req, 0) ||
		!X509_REQ_set_subject_name(req, X509_get_subject_name(cert)) ||
		!X509_REQ_set_pubkey(req, X509_get0_pubkey(cert)))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the request");
	ERR_clear_error();
	if (X509_REQ_sign(req, key, EVP_PKEY_is_a(key, "ED25519") ? NULL : EVP_sha256()) <= 0)
		sealpg_token_sign_failed("could not sign the request");

	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a buffer");
	bio_t = sealpg_track_bio(bio);
	if (!PEM_write_bio_X509_REQ(bio, req))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not write the request");
	len = BIO_get_mem_data(bio, &pem);
	result = cstring_to_text_with_len(pem, (int) len);
	sealpg_ossl_free(bio_t);
	sealpg_ossl_free(req_t);
	PG_RETURN_TEXT_P(result);
}

/*
 * sealpg.issue_seal_certificate(spki, es_id, organisation, seal_name,
 * not_before, not_after) -> x509: the authority certifies a seal's key.
 */
PG_FUNCTION_INFO_V1(sealpg_issue_seal_certificate);
Datum
sealpg_issue_seal_certificate(PG_FUNCTION_ARGS)
{
	bytea	   *spki = PG_GETARG_BYTEA_PP(0);
	char	   *es_id = text_to_cstring(PG_GETARG_TEXT_PP(1));
	char	   *organisation = text_to_cstring(PG_GETARG_TEXT_PP(2));
	char	   *seal_name = text_to_cstring(PG_GETARG_TEXT_PP(3));
	TimestampTz not_before = PG_GETARG_TIMESTAMPTZ(4);
	TimestampTz not_after = PG_GETARG_TIMESTAMPTZ(5);
	X509	   *ca;
	EVP_PKEY   *ca_key;
	X509	   *cert;
	X509_NAME  *subject;
	X509V3_CTX ctx;
	TimestampTz ca_until;

	sealpg_authority_load(&ca, &ca_key);
	if (!sealpg_asn1_time_to_timestamptz(X509_get0_notAfter(ca), &ca_until))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("the authority certificate's validity cannot be read")));
	if (not_after > ca_until)
		not_after = ca_until;
	if (not_after <= not_before)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_EXPIRED),
				 errmsg("no validity left for a certificate of seal \"%s\"", es_id),
				 errdetail("The seal's validity, cut to the authority's, ends before it begins.")));

	cert = new_certificate(spki_public_key((unsigned char *) VARDATA_ANY(spki),
										   VARSIZE_ANY_EXHDR(spki)));
	subject = X509_get_subject_name(cert);
	name_add(subject, NID_organizationName, organisation);
	name_add(subject, NID_commonName, seal_name);
	name_add(subject, NID_serialNumber, es_id);
	if (!X509_set_issuer_name(cert, X509_get_subject_name(ca)))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the issuer");
	set_validity(cert, not_before, not_after);

	X509V3_set_ctx(&ctx, ca, cert, NULL, NULL, 0);
	add_extension(cert, &ctx, NID_basic_constraints, "CA:FALSE");
	add_extension(cert, &ctx, NID_key_usage, "critical,digitalSignature,nonRepudiation");
	add_extension(cert, &ctx, NID_subject_key_identifier, "hash");
	add_extension(cert, &ctx, NID_authority_key_identifier, "keyid:always");
	if (sealpg_crl_url != NULL && sealpg_crl_url[0] != '\0')
		add_extension(cert, &ctx, NID_crl_distribution_points,
					  psprintf("URI:%s", sealpg_crl_url));
	if (sealpg_ocsp_url != NULL && sealpg_ocsp_url[0] != '\0')
		add_extension(cert, &ctx, NID_info_access,
					  psprintf("OCSP;URI:%s", sealpg_ocsp_url));
	sign_certificate(cert, ca_key);

	PG_RETURN_BYTEA_P(sealpg_x509_from_cert(cert));
}
