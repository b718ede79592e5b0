/*-------------------------------------------------------------------------
 *
 * x509.c
 *	  The type sealpg.x509: one X.509 certificate.
 *
 * Stored as a varlena holding the certificate's DER.  The text form is one
 * PEM block labelled CERTIFICATE; the binary form (recv/send) and the
 * bytea conversion are the DER itself.  All three entry points go through
 * CheckX509Der, so a stored value is always one well-formed certificate in
 * canonical DER with nothing after it.
 *
 * Comparison is bytewise on the DER (memcmp, then length), which makes
 * equality "the same certificate" and gives btree and hash support.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "common/hashfn.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "sealpg.h"
#include "ossl.h"
#include "sealpg_types.h"

static const char *const x509_pem_labels[] = {"CERTIFICATE"};

/* Refuse input for type x509 with the given reason. */
static void
ReportX509Input(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type x509"),
			 errdetail_internal("%s", detail)));
}

/* Refuse a time field of the certificate that does not parse. */
static inline void
CheckX509Time(const ASN1_TIME *value, const char *field)
{
	TimestampTz unused;

	if (!sealpg_asn1_time_to_timestamptz(value, &unused))
		ReportX509Input(psprintf("The certificate's %s is not a valid time.", field));
}

/*
 * Check that der/len is exactly one X.509 certificate in canonical DER:
 * a sound outer header, a successful decode that consumes every byte,
 * valid validity times, and a re-encoding (with the to-be-signed part
 * re-encoded too, not taken from OpenSSL's cache) equal to the input.
 */
static void
CheckX509Der(const unsigned char *der, size_t len)
{
	const char *problem;
	const unsigned char *p = der;
	X509	   *cert;
	SealpgOsslTracked *cert_t;
	int			enc_len;
	unsigned char *enc;
	unsigned char *q;

	problem = sealpg_der_outer_problem(der, len, SEALPG_X509_MAX_DER, false,
									   "certificate");
	if (problem != NULL)
		ReportX509Input(problem);

	ERR_clear_error();
	cert = d2i_X509(NULL, &p, (long) len);
	if (cert == NULL)
		ReportX509Input(psprintf("The DER encoding is not an X.509 certificate: %s.",
								 sealpg_ossl_error_reason()));
	cert_t = sealpg_track_x509(cert);

	if (p != der + len)
		ReportX509Input(psprintf("%zu byte(s) of trailing data follow the certificate.",
								 (size_t) (der + len - p)));

	CheckX509Time(X509_get0_notBefore(cert), "notBefore");
	CheckX509Time(X509_get0_notAfter(cert), "notAfter");

	/* mark the to-be-signed part modified so that it is really re-encoded */
	if (i2d_re_X509_tbs(cert, NULL) <= 0)
		ReportX509Input(psprintf("The certificate cannot be re-encoded: %s.",
								 sealpg_ossl_error_reason()));
	enc_len = i2d_X509(cert, NULL);
	if (enc_len <= 0)
		ReportX509Input(psprintf("The certificate cannot be re-encoded: %s.",
								 sealpg_ossl_error_reason()));
	enc = palloc(enc_len);
	q = enc;
	if (i2d_X509(cert, &q) != enc_len)
		ReportX509Input(psprintf("The certificate cannot be re-encoded: %s.",
								 sealpg_ossl_error_reason()));
	if ((size_t) enc_len != len || memcmp(enc, der, len) != 0)
		ReportX509Input("The certificate is not in canonical DER: re-encoding it gives different bytes.");

	pfree(enc);
	sealpg_ossl_free(cert_t);
}

/* Check DER and make a stored x509 value of it. */
bytea *
sealpg_x509_make(const unsigned char *der, size_t len)
{
	bytea	   *result;

	CheckX509Der(der, len);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), der, len);
	return result;
}

/* Decode a stored x509 value into a tracked X509 object. */
X509 *
sealpg_x509_decode(const bytea *value, SealpgOsslTracked **tracked)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(value);
	X509	   *cert;

	ERR_clear_error();
	cert = d2i_X509(NULL, &p, (long) VARSIZE_ANY_EXHDR(value));
	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
							"stored x509 value cannot be decoded");
	*tracked = sealpg_track_x509(cert);
	return cert;
}

/* Make a bytea holding a copy of len bytes. */
static bytea *
bytes_to_bytea(const unsigned char *bytes, size_t len)
{
	bytea	   *result = palloc(VARHDRSZ + len);

	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), bytes, len);
	return result;
}

/*
 * Convert the PEM text form to an x509 value
 */
PG_FUNCTION_INFO_V1(sealpg_x509_in);
Datum
sealpg_x509_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	const char *problem;
	unsigned char *der;
	size_t		der_len;

	problem = sealpg_pem_decode(str, strlen(str), x509_pem_labels, 1,
								"a CERTIFICATE", &der, &der_len);
	if (problem != NULL)
		ReportX509Input(problem);
	PG_RETURN_BYTEA_P(sealpg_x509_make(der, der_len));
}

/*
 * Convert an x509 value to its PEM text form
 */
PG_FUNCTION_INFO_V1(sealpg_x509_out);
Datum
sealpg_x509_out(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);

	PG_RETURN_CSTRING(sealpg_pem_encode("CERTIFICATE",
										(unsigned char *) VARDATA_ANY(value),
										VARSIZE_ANY_EXHDR(value)));
}

/*
 * Convert the binary form (DER) to an x509 value
 */
PG_FUNCTION_INFO_V1(sealpg_x509_recv);
Datum
sealpg_x509_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	size_t		len = buf->len - buf->cursor;
	bytea	   *result;

	result = sealpg_x509_make((unsigned char *) buf->data + buf->cursor, len);
	buf->cursor = buf->len;
	PG_RETURN_BYTEA_P(result);
}

/*
 * Convert an x509 value to its binary form (DER)
 */
PG_FUNCTION_INFO_V1(sealpg_x509_send);
Datum
sealpg_x509_send(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Convert DER held in a bytea to an x509 value
 */
PG_FUNCTION_INFO_V1(sealpg_x509_from_der);
Datum
sealpg_x509_from_der(PG_FUNCTION_ARGS)
{
	bytea	   *der = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_BYTEA_P(sealpg_x509_make((unsigned char *) VARDATA_ANY(der),
									   VARSIZE_ANY_EXHDR(der)));
}

/*
 * The DER of an x509 value, as bytea
 */
PG_FUNCTION_INFO_V1(sealpg_x509_der);
Datum
sealpg_x509_der(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);

	PG_RETURN_BYTEA_P(bytes_to_bytea((unsigned char *) VARDATA_ANY(value),
									 VARSIZE_ANY_EXHDR(value)));
}

/*
 * The subject name, as RFC 2253 text
 */
PG_FUNCTION_INFO_V1(sealpg_x509_subject);
Datum
sealpg_x509_subject(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(PG_GETARG_X509_PP(0), &cert_t);
	char	   *result = sealpg_x509_name_text(X509_get_subject_name(cert));

	sealpg_ossl_free(cert_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * The issuer name, as RFC 2253 text
 */
PG_FUNCTION_INFO_V1(sealpg_x509_issuer);
Datum
sealpg_x509_issuer(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(PG_GETARG_X509_PP(0), &cert_t);
	char	   *result = sealpg_x509_name_text(X509_get_issuer_name(cert));

	sealpg_ossl_free(cert_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * The serial number, as lowercase hex without leading zeros
 */
PG_FUNCTION_INFO_V1(sealpg_x509_serial);
Datum
sealpg_x509_serial(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(PG_GETARG_X509_PP(0), &cert_t);
	char	   *result = sealpg_asn1_integer_hex(X509_get0_serialNumber(cert));

	sealpg_ossl_free(cert_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/* The notBefore or notAfter time of a stored certificate. */
static TimestampTz
x509_validity_bound(bytea *value, bool not_after)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(value, &cert_t);
	const ASN1_TIME *bound;
	TimestampTz result;

	bound = not_after ? X509_get0_notAfter(cert) : X509_get0_notBefore(cert);
	if (!sealpg_asn1_time_to_timestamptz(bound, &result))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored x509 value has an invalid %s time",
						not_after ? "notAfter" : "notBefore")));
	sealpg_ossl_free(cert_t);
	return result;
}

/*
 * The start of the validity period
 */
PG_FUNCTION_INFO_V1(sealpg_x509_not_before);
Datum
sealpg_x509_not_before(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(x509_validity_bound(PG_GETARG_X509_PP(0), false));
}

/*
 * The end of the validity period
 */
PG_FUNCTION_INFO_V1(sealpg_x509_not_after);
Datum
sealpg_x509_not_after(PG_FUNCTION_ARGS)
{
	PG_RETURN_TIMESTAMPTZ(x509_validity_bound(PG_GETARG_X509_PP(0), true));
}

/*
 * The SHA-256 fingerprint: the digest of the whole DER
 */
PG_FUNCTION_INFO_V1(sealpg_x509_fingerprint);
Datum
sealpg_x509_fingerprint(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;

	ERR_clear_error();
	if (EVP_Digest(VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value),
				   md, &md_len, EVP_sha256(), NULL) != 1)
		sealpg_ossl_ereport(ERRCODE_INTERNAL_ERROR,
							"could not compute a SHA-256 digest");
	PG_RETURN_BYTEA_P(bytes_to_bytea(md, md_len));
}

/*
 * The subject public key info (SPKI), as DER
 */
PG_FUNCTION_INFO_V1(sealpg_x509_public_key);
Datum
sealpg_x509_public_key(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cert_t;
	X509	   *cert = sealpg_x509_decode(PG_GETARG_X509_PP(0), &cert_t);
	X509_PUBKEY *spki = X509_get_X509_PUBKEY(cert);
	int			len;
	bytea	   *result;
	unsigned char *q;

	len = i2d_X509_PUBKEY(spki, NULL);
	if (len <= 0)
		sealpg_ossl_ereport(ERRCODE_INTERNAL_ERROR,
							"could not encode the subject public key");
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	q = (unsigned char *) VARDATA(result);
	if (i2d_X509_PUBKEY(spki, &q) != len)
		sealpg_ossl_ereport(ERRCODE_INTERNAL_ERROR,
							"could not encode the subject public key");
	sealpg_ossl_free(cert_t);
	PG_RETURN_BYTEA_P(result);
}

/*
 * The first value of one subject attribute (by short name, long name or
 * dotted OID), or NULL if the subject has none
 */
PG_FUNCTION_INFO_V1(sealpg_x509_subject_attr);
Datum
sealpg_x509_subject_attr(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);
	char	   *attr = text_to_cstring(PG_GETARG_TEXT_PP(1));
	ASN1_OBJECT *obj;
	SealpgOsslTracked *obj_t;
	SealpgOsslTracked *cert_t;
	X509	   *cert;
	X509_NAME  *name;
	int			idx;
	unsigned char *utf8 = NULL;
	SealpgOsslTracked *utf8_t;
	int			utf8_len;
	text	   *result;

	ERR_clear_error();
	obj = OBJ_txt2obj(attr, 0);
	if (obj == NULL)
	{
		ERR_clear_error();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown attribute type \"%s\"", attr),
				 errhint("Use a short name such as CN, O, OU, C or serialNumber, or a dotted OID such as 2.5.4.3.")));
	}
	obj_t = sealpg_track_asn1_object(obj);

	cert = sealpg_x509_decode(value, &cert_t);
	name = X509_get_subject_name(cert);
	idx = X509_NAME_get_index_by_OBJ(name, obj, -1);
	if (idx < 0)
	{
		sealpg_ossl_free(cert_t);
		sealpg_ossl_free(obj_t);
		PG_RETURN_NULL();
	}

	utf8_len = ASN1_STRING_to_UTF8(&utf8,
								   X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
	if (utf8_len < 0)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
							"could not convert a subject attribute to UTF-8");
	utf8_t = sealpg_track_openssl_memory(utf8);
	result = sealpg_utf8_to_text((char *) utf8, utf8_len);

	sealpg_ossl_free(utf8_t);
	sealpg_ossl_free(cert_t);
	sealpg_ossl_free(obj_t);
	PG_RETURN_TEXT_P(result);
}

/* Compare two stored certificates bytewise: memcmp, then length. */
static int
x509_compare(bytea *a, bytea *b)
{
	size_t		alen = VARSIZE_ANY_EXHDR(a);
	size_t		blen = VARSIZE_ANY_EXHDR(b);
	int			cmp;

	cmp = memcmp(VARDATA_ANY(a), VARDATA_ANY(b), Min(alen, blen));
	if (cmp != 0)
		return cmp < 0 ? -1 : 1;
	if (alen != blen)
		return alen < blen ? -1 : 1;
	return 0;
}

/*
 * Same certificate (same DER)?
 */
PG_FUNCTION_INFO_V1(sealpg_x509_eq);
Datum
sealpg_x509_eq(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) == 0);
}

/*
 * Different certificates?
 */
PG_FUNCTION_INFO_V1(sealpg_x509_ne);
Datum
sealpg_x509_ne(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) != 0);
}

/*
 * Bytewise less than
 */
PG_FUNCTION_INFO_V1(sealpg_x509_lt);
Datum
sealpg_x509_lt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) < 0);
}

/*
 * Bytewise less than or equal
 */
PG_FUNCTION_INFO_V1(sealpg_x509_le);
Datum
sealpg_x509_le(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) <= 0);
}

/*
 * Bytewise greater than
 */
PG_FUNCTION_INFO_V1(sealpg_x509_gt);
Datum
sealpg_x509_gt(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) > 0);
}

/*
 * Bytewise greater than or equal
 */
PG_FUNCTION_INFO_V1(sealpg_x509_ge);
Datum
sealpg_x509_ge(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)) >= 0);
}

/*
 * Btree support: -1, 0 or 1
 */
PG_FUNCTION_INFO_V1(sealpg_x509_cmp);
Datum
sealpg_x509_cmp(PG_FUNCTION_ARGS)
{
	PG_RETURN_INT32(x509_compare(PG_GETARG_X509_PP(0), PG_GETARG_X509_PP(1)));
}

/*
 * Hash support: a hash of the DER
 */
PG_FUNCTION_INFO_V1(sealpg_x509_hash);
Datum
sealpg_x509_hash(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);

	return hash_any((unsigned char *) VARDATA_ANY(value),
					VARSIZE_ANY_EXHDR(value));
}

/*
 * Hash support with a seed (hash partitioning)
 */
PG_FUNCTION_INFO_V1(sealpg_x509_hash_extended);
Datum
sealpg_x509_hash_extended(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_X509_PP(0);

	return hash_any_extended((unsigned char *) VARDATA_ANY(value),
							 VARSIZE_ANY_EXHDR(value),
							 PG_GETARG_INT64(1));
}
