/*-------------------------------------------------------------------------
 *
 * sealsig.c
 *	  The type sealpg.sealsig: one CMS SignedData (a seal's signature),
 *	  detached or with its content attached.
 *
 * Stored as a varlena holding the ContentInfo's encoding exactly as
 * accepted.  That is DER when sealpg made it, but CMS from elsewhere is
 * often BER (indefinite lengths from streaming signers), and re-encoding it
 * would change the bytes a relying party sees, so BER is kept as given.
 * The text form is a PEM block labelled CMS (PKCS7 accepted on input) or
 * bare base64; the binary form and the bytea conversion are the bytes.
 * All entry points go through CheckSealsigDer: one ContentInfo of type
 * signedData, at least one signer, valid signing-time attributes, nothing
 * after it.  The signature itself is not verified here: that needs the
 * content and a trust decision, and belongs to the verify functions.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "fmgr.h"
#include "libpq/pqformat.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/lsyscache.h"
#include "utils/timestamp.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "sealpg.h"
#include "ossl.h"
#include "sealpg_types.h"

static const char *const sealsig_pem_labels[] = {"CMS", "PKCS7"};

/* Refuse input for type sealsig with the given reason. */
static void
ReportSealsigInput(const char *detail)
{
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
			 errmsg("invalid input syntax for type sealsig"),
			 errdetail_internal("%s", detail)));
}

/* The name of an ASN.1 object: its long name if known, else the dotted OID. */
static char *
object_name(const ASN1_OBJECT *obj)
{
	int			nid = OBJ_obj2nid(obj);
	char		buf[128];

	if (nid != NID_undef && OBJ_nid2ln(nid) != NULL)
		return pstrdup(OBJ_nid2ln(nid));
	if (OBJ_obj2txt(buf, sizeof(buf), obj, 1) <= 0)
		return pstrdup("an unreadable object identifier");
	return pstrdup(buf);
}

/* The signing-time attribute of a signer: its time, NULL if absent. */
static const ASN1_TIME *
signer_signing_time(CMS_SignerInfo *si, bool *invalid)
{
	int			idx;
	X509_ATTRIBUTE *attr;
	ASN1_TYPE  *type;

	*invalid = false;
	idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	if (idx < 0)
		return NULL;
	attr = CMS_signed_get_attr(si, idx);
	if (attr == NULL || X509_ATTRIBUTE_count(attr) != 1 ||
		CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, idx) >= 0)
	{
		*invalid = true;
		return NULL;
	}
	type = X509_ATTRIBUTE_get0_type(attr, 0);
	if (type == NULL)
	{
		*invalid = true;
		return NULL;
	}
	if (type->type == V_ASN1_UTCTIME)
		return type->value.utctime;
	if (type->type == V_ASN1_GENERALIZEDTIME)
		return type->value.generalizedtime;
	*invalid = true;
	return NULL;
}

/*
 * Check that der/len is exactly one CMS ContentInfo holding a SignedData
 * with at least one signer, each signing-time attribute a single valid
 * time, and no bytes after it.
 */
static void
CheckSealsigDer(const unsigned char *der, size_t len)
{
	const char *problem;
	const unsigned char *p = der;
	CMS_ContentInfo *cms;
	SealpgOsslTracked *cms_t;
	const ASN1_OBJECT *type;
	STACK_OF(CMS_SignerInfo) *signers;
	int			nsigners;
	int			i;

	problem = sealpg_der_outer_problem(der, len, SEALPG_SEALSIG_MAX_DER, true,
									   "CMS structure");
	if (problem != NULL)
		ReportSealsigInput(problem);

	ERR_clear_error();
	cms = d2i_CMS_ContentInfo(NULL, &p, (long) len);
	if (cms == NULL)
		ReportSealsigInput(psprintf("The encoding is not a CMS ContentInfo: %s.",
									sealpg_ossl_error_reason()));
	cms_t = sealpg_track_cms(cms);

	if (p != der + len)
		ReportSealsigInput(psprintf("%zu byte(s) of trailing data follow the CMS structure.",
									(size_t) (der + len - p)));

	type = CMS_get0_type(cms);
	if (OBJ_obj2nid(type) != NID_pkcs7_signed)
		ReportSealsigInput(psprintf("The CMS content type is %s, not signedData.",
									object_name(type)));

	signers = CMS_get0_SignerInfos(cms);
	nsigners = signers != NULL ? sk_CMS_SignerInfo_num(signers) : 0;
	if (nsigners <= 0)
		ReportSealsigInput("The SignedData has no signers.");

	for (i = 0; i < nsigners; i++)
	{
		bool		invalid;
		const ASN1_TIME *when;
		TimestampTz unused;

		when = signer_signing_time(sk_CMS_SignerInfo_value(signers, i), &invalid);
		if (invalid || (when != NULL &&
						!sealpg_asn1_time_to_timestamptz(when, &unused)))
			ReportSealsigInput(psprintf("The signing-time attribute of signer %d is not one valid time.",
										i + 1));
	}

	sealpg_ossl_free(cms_t);
}

/* Check an encoding and make a stored sealsig value of it. */
bytea *
sealpg_sealsig_make(const unsigned char *der, size_t len)
{
	bytea	   *result;

	CheckSealsigDer(der, len);
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), der, len);
	return result;
}

/* Decode a stored sealsig value into a tracked CMS_ContentInfo. */
CMS_ContentInfo *
sealpg_sealsig_decode(const bytea *value, SealpgOsslTracked **tracked)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(value);
	CMS_ContentInfo *cms;

	ERR_clear_error();
	cms = d2i_CMS_ContentInfo(NULL, &p, (long) VARSIZE_ANY_EXHDR(value));
	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
							"stored sealsig value cannot be decoded");
	*tracked = sealpg_track_cms(cms);
	return cms;
}

/* The first signer of a decoded sealsig (checked on input to exist). */
static CMS_SignerInfo *
first_signer(CMS_ContentInfo *cms)
{
	STACK_OF(CMS_SignerInfo) *signers = CMS_get0_SignerInfos(cms);

	if (signers == NULL || sk_CMS_SignerInfo_num(signers) < 1)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored sealsig value has no signer")));
	return sk_CMS_SignerInfo_value(signers, 0);
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
 * Convert the text form (PEM CMS/PKCS7, or bare base64) to a sealsig value
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_in);
Datum
sealpg_sealsig_in(PG_FUNCTION_ARGS)
{
	char	   *str = PG_GETARG_CSTRING(0);
	size_t		len = strlen(str);
	const char *trimmed;
	const char *problem;
	unsigned char *der;
	size_t		der_len;

	trimmed = sealpg_trim_whitespace(str, &len);
	if (len == 0)
		ReportSealsigInput("The input is empty.");
	if (trimmed[0] == '-')
		problem = sealpg_pem_decode(trimmed, len, sealsig_pem_labels, 2,
									"a CMS or PKCS7", &der, &der_len);
	else
		problem = sealpg_base64_decode(trimmed, len, &der, &der_len);
	if (problem != NULL)
		ReportSealsigInput(problem);
	PG_RETURN_BYTEA_P(sealpg_sealsig_make(der, der_len));
}

/*
 * Convert a sealsig value to its PEM text form (label CMS)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_out);
Datum
sealpg_sealsig_out(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_SEALSIG_PP(0);

	PG_RETURN_CSTRING(sealpg_pem_encode("CMS",
										(unsigned char *) VARDATA_ANY(value),
										VARSIZE_ANY_EXHDR(value)));
}

/*
 * Convert the binary form (the encoding) to a sealsig value
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_recv);
Datum
sealpg_sealsig_recv(PG_FUNCTION_ARGS)
{
	StringInfo	buf = (StringInfo) PG_GETARG_POINTER(0);
	size_t		len = buf->len - buf->cursor;
	bytea	   *result;

	result = sealpg_sealsig_make((unsigned char *) buf->data + buf->cursor, len);
	buf->cursor = buf->len;
	PG_RETURN_BYTEA_P(result);
}

/*
 * Convert a sealsig value to its binary form (the encoding)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_send);
Datum
sealpg_sealsig_send(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_SEALSIG_PP(0);
	StringInfoData buf;

	pq_begintypsend(&buf);
	pq_sendbytes(&buf, VARDATA_ANY(value), VARSIZE_ANY_EXHDR(value));
	PG_RETURN_BYTEA_P(pq_endtypsend(&buf));
}

/*
 * Convert an encoding held in a bytea to a sealsig value
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_from_der);
Datum
sealpg_sealsig_from_der(PG_FUNCTION_ARGS)
{
	bytea	   *der = PG_GETARG_BYTEA_PP(0);

	PG_RETURN_BYTEA_P(sealpg_sealsig_make((unsigned char *) VARDATA_ANY(der),
										  VARSIZE_ANY_EXHDR(der)));
}

/*
 * The encoding of a sealsig value, as bytea
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_der);
Datum
sealpg_sealsig_der(PG_FUNCTION_ARGS)
{
	bytea	   *value = PG_GETARG_SEALSIG_PP(0);

	PG_RETURN_BYTEA_P(bytes_to_bytea((unsigned char *) VARDATA_ANY(value),
									 VARSIZE_ANY_EXHDR(value)));
}

/*
 * The number of signers
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_signer_count);
Datum
sealpg_sealsig_signer_count(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	int			count = sk_CMS_SignerInfo_num(CMS_get0_SignerInfos(cms));

	sealpg_ossl_free(cms_t);
	PG_RETURN_INT32(count);
}

/* The issuer and serial naming the first signer; false if it is named by key id. */
static bool
first_signer_id(CMS_ContentInfo *cms, X509_NAME **issuer, ASN1_INTEGER **serial)
{
	ASN1_OCTET_STRING *keyid = NULL;

	*issuer = NULL;
	*serial = NULL;
	if (CMS_SignerInfo_get0_signer_id(first_signer(cms), &keyid, issuer, serial) != 1)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
							"stored sealsig value has an unreadable signer identifier");
	return *issuer != NULL && *serial != NULL;
}

/*
 * The serial number of the first signer's certificate, as lowercase hex
 * (NULL when the signer is identified by subject key identifier)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_signer_serial);
Datum
sealpg_sealsig_signer_serial(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	X509_NAME  *issuer;
	ASN1_INTEGER *serial;
	char	   *result;

	if (!first_signer_id(cms, &issuer, &serial))
	{
		sealpg_ossl_free(cms_t);
		PG_RETURN_NULL();
	}
	result = sealpg_asn1_integer_hex(serial);
	sealpg_ossl_free(cms_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * The issuer of the first signer's certificate, as RFC 2253 text
 * (NULL when the signer is identified by subject key identifier)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_signer_issuer);
Datum
sealpg_sealsig_signer_issuer(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	X509_NAME  *issuer;
	ASN1_INTEGER *serial;
	char	   *result;

	if (!first_signer_id(cms, &issuer, &serial))
	{
		sealpg_ossl_free(cms_t);
		PG_RETURN_NULL();
	}
	result = sealpg_x509_name_text(issuer);
	sealpg_ossl_free(cms_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * The first signer's signing-time attribute (NULL if it has none)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_signing_time);
Datum
sealpg_sealsig_signing_time(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	const ASN1_TIME *when;
	bool		invalid;
	TimestampTz result;

	when = signer_signing_time(first_signer(cms), &invalid);
	if (when == NULL && !invalid)
	{
		sealpg_ossl_free(cms_t);
		PG_RETURN_NULL();
	}
	if (invalid || !sealpg_asn1_time_to_timestamptz(when, &result))
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored sealsig value has an invalid signing time")));
	sealpg_ossl_free(cms_t);
	PG_RETURN_TIMESTAMPTZ(result);
}

/*
 * The first signer's digest algorithm, e.g. sha256
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_digest_algorithm);
Datum
sealpg_sealsig_digest_algorithm(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	X509_ALGOR *digest = NULL;
	const ASN1_OBJECT *obj = NULL;
	char	   *result;

	CMS_SignerInfo_get0_algs(first_signer(cms), NULL, NULL, &digest, NULL);
	if (digest == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_DATA_CORRUPTED),
				 errmsg("stored sealsig value has no digest algorithm")));
	X509_ALGOR_get0(&obj, NULL, NULL, digest);
	result = object_name(obj);
	sealpg_ossl_free(cms_t);
	PG_RETURN_TEXT_P(cstring_to_text(result));
}

/*
 * The certificates embedded in the SignedData, as an x509 array (empty if
 * there are none)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_certificates);
Datum
sealpg_sealsig_certificates(PG_FUNCTION_ARGS)
{
	Oid			array_type = get_fn_expr_rettype(fcinfo->flinfo);
	Oid			elem_type = OidIsValid(array_type) ? get_element_type(array_type) : InvalidOid;
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms;
	STACK_OF(X509) *certs;
	SealpgOsslTracked *certs_t;
	int			ncerts;
	Datum	   *elems;
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			i;

	if (!OidIsValid(elem_type))
		elog(ERROR, "sealsig_certificates must be declared to return sealpg.x509[]");
	get_typlenbyvalalign(elem_type, &typlen, &typbyval, &typalign);

	cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	ERR_clear_error();
	certs = CMS_get1_certs(cms);
	if (certs == NULL)
	{
		ERR_clear_error();
		sealpg_ossl_free(cms_t);
		PG_RETURN_ARRAYTYPE_P(construct_empty_array(elem_type));
	}
	certs_t = sealpg_track_x509_stack(certs);

	ncerts = sk_X509_num(certs);
	elems = palloc(sizeof(Datum) * Max(ncerts, 1));
	for (i = 0; i < ncerts; i++)
	{
		X509	   *cert = sk_X509_value(certs, i);
		int			len = i2d_X509(cert, NULL);
		unsigned char *der;
		unsigned char *q;

		if (len <= 0)
			sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
								"could not encode an embedded certificate");
		der = palloc(len);
		q = der;
		if (i2d_X509(cert, &q) != len)
			sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
								"could not encode an embedded certificate");
		elems[i] = PointerGetDatum(sealpg_x509_make(der, len));
		pfree(der);
	}

	sealpg_ossl_free(certs_t);
	sealpg_ossl_free(cms_t);
	PG_RETURN_ARRAYTYPE_P(construct_array(elems, ncerts, elem_type,
										  typlen, typbyval, typalign));
}

/*
 * Is the content detached (not carried inside the SignedData)?
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_is_detached);
Datum
sealpg_sealsig_is_detached(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	int			detached = CMS_is_detached(cms);

	if (detached < 0)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED,
							"stored sealsig value has no content field");
	sealpg_ossl_free(cms_t);
	PG_RETURN_BOOL(detached == 1);
}

/*
 * The attached content (NULL when the content is detached)
 */
PG_FUNCTION_INFO_V1(sealpg_sealsig_content);
Datum
sealpg_sealsig_content(PG_FUNCTION_ARGS)
{
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	ASN1_OCTET_STRING **content = CMS_get0_content(cms);
	bytea	   *result;

	if (content == NULL || *content == NULL)
	{
		ERR_clear_error();
		sealpg_ossl_free(cms_t);
		PG_RETURN_NULL();
	}
	result = bytes_to_bytea(ASN1_STRING_get0_data(*content),
							ASN1_STRING_length(*content));
	sealpg_ossl_free(cms_t);
	PG_RETURN_BYTEA_P(result);
}
