/*-------------------------------------------------------------------------
 *
 * verify.c
 *	  sealpg.verify(): check a seal signature against an authority and say
 *	  what the seal's status was when it signed and is now.
 *
 * The cryptographic check is CMS_verify with the authority certificate as
 * the only trust anchor, the certificate chain checked at the signing
 * time the signature carries (a signature made while the certificate was
 * valid stays valid after the certificate expires; status_now tells what
 * became of the seal since).  A signature from another sealpg database
 * verifies with that database's authority certificate given as argument;
 * the seal columns are then NULL unless this database issued the signer's
 * certificate.
 *
 * "valid" is the cryptographic verdict only; the status columns are
 * reported beside it, not folded into it.  The status at signing comes
 * from sealpg.seal_status_history, whose times are those of the changing
 * transactions' starts, so a change that raced with the signature may
 * show a few moments early.  The signing time in the CMS has whole
 * seconds: for a signature recorded in sealpg.signatures its exact time
 * is used, otherwise the history is read up to the end of that second.
 *
 * Read-only: only SELECTs, so it runs on a hot standby.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "ossl.h"
#include "sealpg.h"
#include "sealpg_types.h"

/* The columns of the result row. */
enum
{
	COL_VALID,
	COL_ES_ID,
	COL_SIGNER_SERIAL,
	COL_SIGNED_AT,
	COL_STATUS_AT_SIGNING,
	COL_STATUS_NOW,
	COL_REASON,
	NCOLS
};

/* The signing time of a signer info, if it carries one. */
static bool
signing_time(CMS_SignerInfo *si, TimestampTz *result)
{
	int			idx = CMS_signed_get_attr_by_NID(si, NID_pkcs9_signingTime, -1);
	X509_ATTRIBUTE *attr;
	ASN1_TYPE  *value;

	if (idx < 0)
		return false;
	attr = CMS_signed_get_attr(si, idx);
	value = attr ? X509_ATTRIBUTE_get0_type(attr, 0) : NULL;
	if (value == NULL ||
		(value->type != V_ASN1_UTCTIME && value->type != V_ASN1_GENERALIZEDTIME))
		return false;
	return sealpg_asn1_time_to_timestamptz((ASN1_TIME *) value->value.asn1_string, result);
}

/* The message-digest attribute of the only signer (NULL if absent). */
static bytea *
signed_digest(STACK_OF(CMS_SignerInfo) *infos)
{
	ASN1_OCTET_STRING *md;
	bytea	   *result;

	md = CMS_signed_get0_data_by_OBJ(sk_CMS_SignerInfo_value(infos, 0),
									 OBJ_nid2obj(NID_pkcs9_messageDigest), -3,
									 V_ASN1_OCTET_STRING);
	if (md == NULL)
		return NULL;
	result = palloc(VARHDRSZ + ASN1_STRING_length(md));
	SET_VARSIZE(result, VARHDRSZ + ASN1_STRING_length(md));
	memcpy(VARDATA(result), ASN1_STRING_get0_data(md), ASN1_STRING_length(md));
	return result;
}

/* The authority certificate of this database (DER copy), or SE201. */
static bytea *
own_authority(void)
{
	MemoryContext cxt = CurrentMemoryContext;
	bytea	   *result;
	bool		isnull;

	if (SPI_execute("SELECT certificate FROM sealpg.authority", true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sealpg.authority");
	/* SPI leaves us in its own context: copy the result into ours */
	MemoryContextSwitchTo(cxt);
	if (SPI_processed == 0)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NO_AUTHORITY),
				 errmsg("this database has no seal authority"),
				 errhint("Pass the certificate of the authority that issued the signer's certificate.")));
	result = DatumGetByteaPCopy(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	return result;
}

/* The text of the serialNumber attribute of a name (the esID), or NULL. */
static char *
name_serial_number(X509_NAME *name)
{
	int			idx = X509_NAME_get_index_by_NID(name, NID_serialNumber, -1);
	ASN1_STRING *value;
	unsigned char *utf8 = NULL;
	int			len;
	char	   *result;

	if (idx < 0)
		return NULL;
	value = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
	len = ASN1_STRING_to_UTF8(&utf8, value);
	if (len < 0)
		return NULL;
	result = pnstrdup((char *) utf8, len);
	OPENSSL_free(utf8);
	return result;
}

/*
 * Fill the seal columns from this database when it issued this very
 * certificate: es_id, status at signing (from the status history) and now.
 */
static bool
lookup_seal(const char *serial, X509 *signer, bool has_time, TimestampTz at,
			bytea *digest, bytea *sig, Datum *values, bool *nulls)
{
	MemoryContext cxt = CurrentMemoryContext;
	unsigned char *der = NULL;
	int			der_len;
	bool		isnull;
	bytea	   *stored;
	Datum		args[4];
	char		argnulls[4] = {' ', ' ', ' ', ' '};
	Oid			types[4] = {TEXTOID, TIMESTAMPTZOID, BYTEAOID, BYTEAOID};
	bool		same;

	der_len = i2d_X509(signer, &der);
	if (der_len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the signer's certificate");

	args[0] = CStringGetTextDatum(serial);
	args[1] = TimestampTzGetDatum(at);
	args[2] = PointerGetDatum(digest);
	argnulls[2] = digest ? ' ' : 'n';
	args[3] = PointerGetDatum(sig);
	if (SPI_execute_with_args(
							  "WITH t AS (SELECT coalesce("
							  "   (SELECT g.signed_at FROM sealpg.signatures g"
							  "     WHERE g.document_digest = $3 AND g.signature::bytea = $4 LIMIT 1),"
							  "   $2 + interval '999999 microseconds') AS at)"
							  "SELECT c.certificate::bytea, s.es_id,"
							  " (SELECT h.new_status::text FROM sealpg.seal_status_history h"
							  "   WHERE h.seal_id = s.seal_id AND h.changed_at <= t.at"
							  "   ORDER BY h.changed_at DESC, h.history_id DESC LIMIT 1),"
							  " CASE WHEN s.status IN ('active', 'frozen')"
							  "       AND s.valid_until <= pg_catalog.now()"
							  "      THEN 'expired' ELSE s.status::text END"
							  " FROM t, sealpg.certificates c JOIN sealpg.seals s ON s.seal_id = c.seal_id"
							  " WHERE c.serial = $1",
							  4, types, args, argnulls, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sealpg.certificates");
	/* SPI leaves us in its own context: what is kept is made in ours */
	MemoryContextSwitchTo(cxt);
	if (SPI_processed == 0)
	{
		OPENSSL_free(der);
		return false;
	}
	stored = DatumGetByteaPP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	same = VARSIZE_ANY_EXHDR(stored) == (Size) der_len &&
		memcmp(VARDATA_ANY(stored), der, der_len) == 0;
	OPENSSL_free(der);
	if (!same)
		return false;

	values[COL_ES_ID] = CStringGetTextDatum(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
	nulls[COL_ES_ID] = false;
	if (has_time)
	{
		char	   *at_signing = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);

		if (at_signing != NULL)
		{
			values[COL_STATUS_AT_SIGNING] = CStringGetDatum(at_signing);
			nulls[COL_STATUS_AT_SIGNING] = false;
		}
	}
	values[COL_STATUS_NOW] = CStringGetDatum(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4));
	nulls[COL_STATUS_NOW] = false;
	return true;
}

/*
 * sealpg.verify(sig sealsig, document bytea, authority x509) -> row.
 * document may be NULL for an attached signature; authority NULL means
 * this database's.
 */
PG_FUNCTION_INFO_V1(sealpg_verify);
Datum
sealpg_verify(PG_FUNCTION_ARGS)
{
	TupleDesc	desc;
	AttInMetadata *attin;
	Datum		values[NCOLS];
	bool		nulls[NCOLS];
	char	   *cstr[NCOLS];
	SealpgOsslTracked *cms_t;
	CMS_ContentInfo *cms;
	bytea	   *ca_value;
	X509	   *ca;
	SealpgOsslTracked *ca_t;
	X509_STORE *store;
	SealpgOsslTracked *store_t;
	BIO		   *dcont = NULL;
	SealpgOsslTracked *dcont_t = NULL;
	STACK_OF(CMS_SignerInfo) *infos;
	CMS_SignerInfo *si;
	X509_NAME  *issuer = NULL;
	ASN1_INTEGER *serial = NULL;
	ASN1_OCTET_STRING *keyid = NULL;
	TimestampTz at = 0;
	bool		has_time = false;
	bool		detached;
	char	   *reason = NULL;
	char	   *serial_hex = NULL;
	HeapTuple	tuple;
	MemoryContext call_cxt;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	call_cxt = CurrentMemoryContext;
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "return type must be a row type");
	for (int i = 0; i < NCOLS; i++)
	{
		nulls[i] = true;
		values[i] = (Datum) 0;
	}

	cms = sealpg_sealsig_decode(PG_GETARG_SEALSIG_PP(0), &cms_t);
	/*
	 * Everything made from here on (tracked OpenSSL objects, result strings)
	 * lives in the function's own context, not in SPI's, which SPI_finish
	 * deletes.
	 */
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	MemoryContextSwitchTo(call_cxt);
	ca_value = PG_ARGISNULL(2) ? own_authority() : PG_GETARG_X509_PP(2);
	ca = sealpg_x509_decode(ca_value, &ca_t);

	infos = CMS_get0_SignerInfos(cms);
	if (infos == NULL || sk_CMS_SignerInfo_num(infos) != 1)
		reason = "the signature does not have exactly one signer";
	else
	{
		si = sk_CMS_SignerInfo_value(infos, 0);
		if (CMS_SignerInfo_get0_signer_id(si, &keyid, &issuer, &serial) && serial != NULL)
			serial_hex = sealpg_asn1_integer_hex(serial);
		has_time = signing_time(si, &at);
	}

	detached = CMS_is_detached(cms) == 1;
	if (reason == NULL && detached && PG_ARGISNULL(1))
		reason = "the signature is detached: the signed document must be given";

	if (reason == NULL)
	{
		store = X509_STORE_new();
		if (store == NULL)
			sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a certificate store");
		store_t = sealpg_ossl_track(store, (void (*) (void *)) X509_STORE_free);
		if (!X509_STORE_add_cert(store, ca))
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not use the authority certificate");
		if (has_time)
			X509_VERIFY_PARAM_set_time(X509_STORE_get0_param(store), timestamptz_to_time_t(at));
		if (detached)
		{
			bytea	   *doc = PG_GETARG_BYTEA_PP(1);

			dcont = BIO_new_mem_buf(VARDATA_ANY(doc), (int) VARSIZE_ANY_EXHDR(doc));
			if (dcont == NULL)
				sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a buffer");
			dcont_t = sealpg_track_bio(dcont);
		}
		ERR_clear_error();
		if (CMS_verify(cms, NULL, store, dcont, NULL, CMS_BINARY) != 1)
			reason = sealpg_ossl_error_reason();
		else if (!detached && !PG_ARGISNULL(1))
		{
			ASN1_OCTET_STRING **content = CMS_get0_content(cms);
			bytea	   *doc = PG_GETARG_BYTEA_PP(1);

			if (content == NULL || *content == NULL ||
				ASN1_STRING_length(*content) != (int) VARSIZE_ANY_EXHDR(doc) ||
				memcmp(ASN1_STRING_get0_data(*content), VARDATA_ANY(doc), VARSIZE_ANY_EXHDR(doc)) != 0)
				reason = "the document differs from the signed content";
		}
		if (dcont_t)
			sealpg_ossl_free(dcont_t);
		sealpg_ossl_free(store_t);
	}

	/* the signer: this database's seal, or the certificate's own words */
	if (serial_hex != NULL)
	{
		STACK_OF(X509) *certs = CMS_get1_certs(cms);
		X509	   *signer = NULL;

		if (certs != NULL)
		{
			sealpg_track_x509_stack(certs);
			for (int i = 0; i < sk_X509_num(certs); i++)
				if (CMS_SignerInfo_cert_cmp(sk_CMS_SignerInfo_value(infos, 0),
											sk_X509_value(certs, i)) == 0)
					signer = sk_X509_value(certs, i);
		}
		if (signer != NULL &&
			!lookup_seal(serial_hex, signer, has_time, at, signed_digest(infos),
						 PG_GETARG_BYTEA_PP(0), values, nulls))
		{
			char	   *es_id = name_serial_number(X509_get_subject_name(signer));

			if (es_id != NULL)
			{
				values[COL_ES_ID] = CStringGetTextDatum(es_id);
				nulls[COL_ES_ID] = false;
			}
		}
	}
	SPI_finish();

	/* build the row through the column types' input functions */
	attin = TupleDescGetAttInMetadata(desc);
	memset(cstr, 0, sizeof(cstr));
	cstr[COL_VALID] = reason == NULL ? "t" : "f";
	if (!nulls[COL_ES_ID])
		cstr[COL_ES_ID] = TextDatumGetCString(values[COL_ES_ID]);
	cstr[COL_SIGNER_SERIAL] = serial_hex;
	if (has_time)
		cstr[COL_SIGNED_AT] = pstrdup(timestamptz_to_str(at));
	if (!nulls[COL_STATUS_AT_SIGNING])
		cstr[COL_STATUS_AT_SIGNING] = DatumGetCString(values[COL_STATUS_AT_SIGNING]);
	if (!nulls[COL_STATUS_NOW])
		cstr[COL_STATUS_NOW] = DatumGetCString(values[COL_STATUS_NOW]);
	cstr[COL_REASON] = reason;
	tuple = BuildTupleFromCStrings(attin, cstr);
	sealpg_ossl_free(ca_t);
	sealpg_ossl_free(cms_t);
	PG_RETURN_DATUM(HeapTupleGetDatum(tuple));
}
