/*-------------------------------------------------------------------------
 *
 * ocsp_cert.c
 *	  The delegated OCSP responder's certificate (RFC 6960 4.2.2.2): the
 *	  authority certifies a key generated on a token for OCSP signing only.
 *
 * Extensions: basicConstraints CA:FALSE and keyUsage digitalSignature
 * (both critical), extendedKeyUsage id-kp-OCSPSigning, id-pkix-ocsp-nocheck
 * (relying parties do not ask about the responder itself, so its validity
 * should stay short: sealpg.ocsp_responder_init's valid_for), subject and
 * authority key identifiers.  The validity never outlasts the authority's.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "authority.h"
#include "ossl.h"
#include "sealpg.h"
#include "sealpg_types.h"
#include "token_provider.h"

/* Bytes of a responder certificate's random serial. */
#define OCSP_CERT_SERIAL_BYTES	16

/* Give the certificate a random positive serial of a fixed length. */
static void
put_random_serial(X509 *cert)
{
	unsigned char bytes[OCSP_CERT_SERIAL_BYTES];
	ASN1_INTEGER *serial;
	BIGNUM	   *bn;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not draw a serial number");
	bytes[0] = (bytes[0] & 0x3f) | 0x10;	/* positive, no leading zero */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (bn == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not hold a serial number");
	serial = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (serial == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not hold a serial number");
	if (X509_set_serialNumber(cert, serial) != 1)
	{
		ASN1_INTEGER_free(serial);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the serial number");
	}
	ASN1_INTEGER_free(serial);
}

/* Add one extension given in OpenSSL's configuration syntax. */
static void
put_extension(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int			ok;

	if (ext == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE,
							psprintf("could not make the %s extension", OBJ_nid2sn(nid)));
	ok = X509_add_ext(cert, ext, -1);
	X509_EXTENSION_free(ext);
	if (ok != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE,
							psprintf("could not add the %s extension", OBJ_nid2sn(nid)));
}

/* The subject: CN "OCSP responder", the authority's O when it has one. */
static void
put_subject(X509 *cert, X509 *authority)
{
	X509_NAME  *name = X509_get_subject_name(cert);
	X509_NAME  *ca = X509_get_subject_name(authority);
	int			at = X509_NAME_get_index_by_NID(ca, NID_organizationName, -1);

	if (at >= 0)
	{
		X509_NAME_ENTRY *e = X509_NAME_get_entry(ca, at);

		if (X509_NAME_add_entry(name, e, -1, 0) != 1)
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not name the responder");
	}
	if (X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
								   (const unsigned char *) "sealpg OCSP responder", -1, -1, 0) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not name the responder");
}

/* sealpg.issue_ocsp_certificate(spki, valid_for): the responder's certificate. */
PG_FUNCTION_INFO_V1(sealpg_issue_ocsp_certificate);
Datum
sealpg_issue_ocsp_certificate(PG_FUNCTION_ARGS)
{
	bytea	   *spki = PG_GETARG_BYTEA_PP(0);
	Interval   *valid_for = PG_GETARG_INTERVAL_P(1);
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz until;
	X509	   *authority;
	EVP_PKEY   *ca_key;
	EVP_PKEY   *pub;
	X509	   *cert;
	X509V3_CTX	ctx;
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(spki);
	time_t		ca_until;
	unsigned char *der = NULL;
	int			der_len;
	bytea	   *result;

	until = DatumGetTimestampTz(DirectFunctionCall2(timestamptz_pl_interval,
													TimestampTzGetDatum(now),
													IntervalPGetDatum(valid_for)));
	if (until <= now + USECS_PER_SEC * 60)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an OCSP responder certificate must be valid for at least a minute")));

	sealpg_authority_load(&authority, &ca_key);
	pub = d2i_PUBKEY(NULL, &p, (long) VARSIZE_ANY_EXHDR(spki));
	if (pub == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "could not read the responder's public key");
	sealpg_track_pkey(pub);

	cert = X509_new();
	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a certificate");
	sealpg_track_x509(cert);
	if (X509_set_version(cert, X509_VERSION_3) != 1 || X509_set_pubkey(cert, pub) != 1 ||
		X509_set_issuer_name(cert, X509_get_subject_name(authority)) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not start the responder certificate");
	put_random_serial(cert);
	put_subject(cert, authority);

	/* never valid longer than the authority */
	if (ASN1_TIME_set(X509_getm_notBefore(cert), timestamptz_to_time_t(now) - 60) == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the validity");
	if (X509_cmp_time(X509_get0_notAfter(authority), NULL) <= 0)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_CRYPTO_FAILURE),
				 errmsg("the authority's certificate has expired")));
	ca_until = timestamptz_to_time_t(until);
	if (X509_cmp_time(X509_get0_notAfter(authority), &ca_until) < 0)
	{
		if (X509_set1_notAfter(cert, X509_get0_notAfter(authority)) != 1)
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the validity");
	}
	else if (ASN1_TIME_set(X509_getm_notAfter(cert), ca_until) == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the validity");

	X509V3_set_ctx(&ctx, authority, cert, NULL, NULL, 0);
	put_extension(cert, &ctx, NID_basic_constraints, "critical,CA:FALSE");
	put_extension(cert, &ctx, NID_key_usage, "critical,digitalSignature");
	put_extension(cert, &ctx, NID_ext_key_usage, "OCSPSigning");
	put_extension(cert, &ctx, NID_id_pkix_OCSP_noCheck, "ignored");
	put_extension(cert, &ctx, NID_subject_key_identifier, "hash");
	put_extension(cert, &ctx, NID_authority_key_identifier, "keyid:always");

	ERR_clear_error();
	if (X509_sign(cert, ca_key, EVP_PKEY_is_a(ca_key, "ED25519") ? NULL : EVP_sha256()) <= 0)
		sealpg_token_sign_failed("could not sign the OCSP responder certificate");

	der_len = i2d_X509(cert, &der);
	if (der_len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the responder certificate");
	sealpg_track_openssl_memory(der);
	result = sealpg_x509_make(der, der_len);
	PG_RETURN_BYTEA_P(result);
}
