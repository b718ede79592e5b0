/*-------------------------------------------------------------------------
 *
 * sign.c
 *	  sealpg.sign(): check a seal and its operator under the seal's row
 *	  lock, then make a CMS SignedData (CAdES baseline B) whose signature
 *	  comes from the seal's token.
 *
 * Order of the checks, each with its own SQLSTATE:
 *	  SE007 seal not found, SE009 not enrolled, SE001 revoked, SE002 frozen,
 *	  SE003 expired (status, seal validity or certificate), SE008 not yet
 *	  valid, SE004 caller not granted (no grant for a role the caller is a
 *	  member of, or outside its time range), SE005 grant's uses exhausted.
 * Concurrent signers and revokers serialise on the seal row, so a sign
 * that starts after a revocation commits is refused, without a window.
 *
 * A refusal is recorded in sealpg.refused_signings through the deferred
 * writer (sealpg_defer) before the error is raised: the record is written
 * by the background worker in a transaction of its own, so it survives
 * the rollback of the caller's transaction, which the error causes.  A
 * failure while signing (the agent or the token) is recorded the same way
 * with its own SQLSTATE (SE101..SE107, SE203), then raised unchanged.
 *
 * The CMS structure: SignedData, digest SHA-256, the signer's certificate
 * included, signed attributes content-type, message-digest (the SHA-256
 * of the document, computed here once and stored in sealpg.signatures),
 * signing-time and signing-certificate-v2 (ESSCertIDv2, RFC 5035).  The
 * content is detached unless asked for.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/cms.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/x509.h>

#include "access/xact.h"
#include "access/xlog.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "storage/itemptr.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/json.h"
#include "utils/memutils.h"
#include "utils/syscache.h"
#include "utils/timestamp.h"
#include "utils/uuid.h"

#include "authority.h"
#include "deferred.h"
#include "ossl.h"
#include "sealpg.h"
#include "sealpg_types.h"
#include "token_provider.h"

/* What sign() knows about the attempt, for checks and refusal records. */
typedef struct SignAttempt
{
	const char *es_id;
	char	   *seal_id;		/* NULL until the seal is found */
	const char *operator;
	char	   *client_addr;	/* NULL for Unix-socket connections */
	TimestampTz at;
} SignAttempt;

/* The seal's signing key, kept across calls while its certificate is the same. */
typedef struct KeyCache
{
	unsigned char *cert_der;	/* malloc'd */
	size_t		cert_len;
	X509	   *cert;
	EVP_PKEY   *key;
} KeyCache;

static KeyCache key_cache;

/*
 * The grant used last, within the current transaction: where its newest
 * version is (its ctid after our own update), so that the next signature
 * of a batch reads and updates it by ctid.  Found by key instead, each
 * signature of a batch would walk the chain of versions that the batch's
 * own updates of "uses" leave behind: quadratic in the batch size.  A
 * stale entry cannot mislead: a version that is no longer the newest one
 * (updated since, or made by a subtransaction that rolled back) is not
 * visible, the ctid lookup finds nothing, and the lookup by key is used.
 */
typedef struct GrantCache
{
	bool		valid;
	TransactionId xid;
	Oid			caller;
	pg_uuid_t	seal_id;
	NameData	grantee;
	ItemPointerData tid;
} GrantCache;

static GrantCache grant_cache;

static SPIPlanPtr seal_plan = NULL;
static SPIPlanPtr grant_plan = NULL;
static SPIPlanPtr grant_tid_plan = NULL;
static SPIPlanPtr uses_plan = NULL;
static SPIPlanPtr uses_tid_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr chip_plan = NULL;

/* ---------------------------------------------------------------------
 * Refusals
 * ---------------------------------------------------------------------
 */

/* The client's address as text, or NULL (Unix socket, background). */
static char *
client_address(void)
{
	LOCAL_FCINFO(call, 0);
	Datum		addr;

	InitFunctionCallInfoData(*call, NULL, 0, InvalidOid, NULL, NULL);
	addr = inet_client_addr(call);
	if (call->isnull)
		return NULL;
	return DatumGetCString(DirectFunctionCall1(inet_out, addr));
}

/* Append "key":value (a JSON string or null). */
static void
json_field(StringInfo js, const char *key, const char *value)
{
	appendStringInfo(js, ",\"%s\":", key);
	if (value)
		escape_json(js, value);
	else
		appendStringInfoString(js, "null");
}

/*
 * Record a refused or failed attempt through the deferred writer: the
 * background worker writes it in a transaction of its own, so the record
 * survives the rollback that the error raised next causes.
 */
static void
record_attempt(const SignAttempt *a, int sqlstate, const char *reason)
{
	StringInfoData js;

	initStringInfo(&js);
	appendStringInfo(&js, "{\"v\":%d", SEALPG_PAYLOAD_VERSION);
	json_field(&js, "seal_id", a->seal_id);
	json_field(&js, "es_id", a->es_id);
	json_field(&js, "operator", a->operator);
	json_field(&js, "client_addr", a->client_addr);
	json_field(&js, "attempted_at", timestamptz_to_str(a->at));
	json_field(&js, "sqlstate", unpack_sql_state(sqlstate));
	json_field(&js, "reason", reason);
	appendStringInfoChar(&js, '}');
	sealpg_defer("sealpg.record_refused_signing", js.data);
}

/* Record the refusal (before raising it, see above) and raise it. */
static void
refuse(const SignAttempt *a, int sqlstate, const char *message,
	   const char *detail, const char *hint)
{
	record_attempt(a, sqlstate, message);
	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 detail ? errdetail_internal("%s", detail) : 0,
			 hint ? errhint("%s", hint) : 0));
}

/* ---------------------------------------------------------------------
 * The CMS structure
 * ---------------------------------------------------------------------
 */

/* The cached key and certificate for a certificate DER (made if needed). */
static void
cached_key(const unsigned char *cert_der, size_t cert_len, const char *token,
		   const bytea *key_id, X509 **cert, EVP_PKEY **key)
{
	const unsigned char *p = cert_der;
	SealpgOsslTracked *cert_t;
	SealpgOsslTracked *key_t;
	unsigned char *spki;
	size_t		spki_len;
	X509	   *new_cert;
	unsigned char *copy;

	if (key_cache.cert_der != NULL && key_cache.cert_len == cert_len &&
		memcmp(key_cache.cert_der, cert_der, cert_len) == 0)
	{
		*cert = key_cache.cert;
		*key = key_cache.key;
		return;
	}

	new_cert = d2i_X509(NULL, &p, (long) cert_len);
	if (new_cert == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED, "the seal's stored certificate cannot be decoded");
	cert_t = sealpg_track_x509(new_cert);
	spki = sealpg_cert_spki(new_cert, &spki_len);
	(void) sealpg_token_key_tracked(token, (const unsigned char *) VARDATA_ANY(key_id),
									   VARSIZE_ANY_EXHDR(key_id), spki, spki_len, &key_t);
	copy = malloc(cert_len);
	if (copy == NULL)
		ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));

	/* nothing below can fail: hand the objects over to the cache */
	free(key_cache.cert_der);
	X509_free(key_cache.cert);
	EVP_PKEY_free(key_cache.key);
	memcpy(copy, cert_der, cert_len);
	key_cache.cert_der = copy;
	key_cache.cert_len = cert_len;
	key_cache.cert = sealpg_ossl_untrack(cert_t);
	key_cache.key = sealpg_ossl_untrack(key_t);
	*cert = key_cache.cert;
	*key = key_cache.key;
}

/* Add a signed attribute or raise. */
static void
add_signed_attr(CMS_SignerInfo *si, int nid, int type, const void *value, int len)
{
	if (!CMS_signed_add1_attr_by_NID(si, nid, type, value, len))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE,
							psprintf("could not add the signed attribute %s", OBJ_nid2sn(nid)));
}

/*
 * Build the SignedData over a document whose SHA-256 is digest and return
 * its DER (palloc'd).
 */
static unsigned char *
build_signed_data(X509 *cert, EVP_PKEY *key, const unsigned char *digest,
				  unsigned int digest_len, const bytea *document, bool attached,
				  TimestampTz signed_at, size_t *der_len)
{
	int			flags = CMS_PARTIAL | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES;
	CMS_ContentInfo *cms;
	SealpgOsslTracked *cms_t;
	CMS_SignerInfo *si;
	ASN1_TIME  *when;
	SealpgOsslTracked *when_t;
	unsigned char *der = NULL;
	unsigned char *result;
	int			len;

	ERR_clear_error();
	cms = CMS_sign(NULL, NULL, NULL, NULL, flags);
	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not start a SignedData");
	cms_t = sealpg_track_cms(cms);

	si = CMS_add1_signer(cms, cert, key, EVP_sha256(), flags);
	if (si == NULL)
		sealpg_token_sign_failed("could not add the signer");

	when = ASN1_TIME_set(NULL, timestamptz_to_time_t(signed_at));
	if (when == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the signing time");
	when_t = sealpg_ossl_track(when, (void (*) (void *)) ASN1_TIME_free);
	add_signed_attr(si, NID_pkcs9_contentType, V_ASN1_OBJECT, OBJ_nid2obj(NID_pkcs7_data), -1);
	add_signed_attr(si, NID_pkcs9_signingTime, when->type, when, -1);
	add_signed_attr(si, NID_pkcs9_messageDigest, V_ASN1_OCTET_STRING, digest, (int) digest_len);
	sealpg_ossl_free(when_t);

	if (!CMS_set_detached(cms, attached ? 0 : 1))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set the content");
	if (attached)
	{
		ASN1_OCTET_STRING **content = CMS_get0_content(cms);

		if (content == NULL || *content == NULL ||
			!ASN1_OCTET_STRING_set(*content, (const unsigned char *) VARDATA_ANY(document),
								   (int) VARSIZE_ANY_EXHDR(document)))
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not embed the document");
		(*content)->flags &= ~ASN1_STRING_FLAG_CONT;
	}

	/* the token signs the DER of the signed attributes */
	if (!CMS_SignerInfo_sign(si))
		sealpg_token_sign_failed("the seal's token could not sign");

	len = i2d_CMS_ContentInfo(cms, &der);
	if (len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the SignedData");
	result = palloc(len);
	memcpy(result, der, len);
	OPENSSL_free(der);
	sealpg_ossl_free(cms_t);
	*der_len = (size_t) len;
	return result;
}

/* ---------------------------------------------------------------------
 * Checks
 * ---------------------------------------------------------------------
 */

/* Prepare a statement once per backend. */
static SPIPlanPtr
prepare_once(SPIPlanPtr *plan, const char *sql, int nargs, Oid *types)
{
	if (*plan == NULL)
	{
		SPIPlanPtr	p = SPI_prepare(sql, nargs, types);

		if (p == NULL || SPI_keepplan(p) != 0)
			elog(ERROR, "could not prepare \"%s\": %s", sql, SPI_result_code_string(SPI_result));
		*plan = p;
	}
	return *plan;
}

/* Column value by number, with its null flag. */
static Datum
col(int n, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, n, isnull);
}

/*
 * A seal whose security chip is bound to a host (piece 70, devices) signs
 * only while the agent reports the chip plugged into that host: SE103,
 * recorded like any refusal, otherwise.  Seals without a bound chip pass.
 */
static void
check_chip_present(const SignAttempt *a, Datum seal_id)
{
	Oid			types[1] = {UUIDOID};
	Datum		values[1];
	char	   *detail;

	values[0] = seal_id;
	prepare_once(&chip_plan, "SELECT detail, hint FROM sealpg.chip_absence($1)", 1, types);
	if (SPI_execute_plan(chip_plan, values, NULL, true, 1) != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check the seal's security chip");
	detail = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1);
	if (detail != NULL)
		refuse(a, ERRCODE_SEAL_TOKEN_ABSENT,
			   psprintf("the security chip of seal \"%s\" is not present", a->es_id), detail,
			   SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2));
}

/*
 * The grant check: SE004 or SE005 unless one of the caller's grants
 * applies.  A grant names a role; it applies to the caller when the caller
 * is that role or a member of it (superusers too: they are not granted
 * every seal by being superusers).  Of the applicable grants, one that is
 * in its time range and has uses left is taken, and its use counted.
 */
static void
check_grant(SignAttempt *a, Datum seal_id)
{
	Oid			types[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		values[2];
	Oid			caller = GetOuterUserId();
	bool		granted = false;
	bool		in_window = false;
	Datum		grantee = (Datum) 0;
	bool		by_tid = false;
	bool		isnull;

	/* a batch in one transaction: the grant used last, by its ctid */
	if (grant_cache.valid && grant_cache.xid == GetTopTransactionIdIfAny() &&
		grant_cache.caller == caller &&
		memcmp(&grant_cache.seal_id, DatumGetUUIDP(seal_id), UUID_LEN) == 0)
	{
		Oid			ttypes[3] = {TIDOID, UUIDOID, TIMESTAMPTZOID};
		Datum		tvalues[3];

		tvalues[0] = PointerGetDatum(&grant_cache.tid);
		tvalues[1] = seal_id;
		tvalues[2] = TimestampTzGetDatum(a->at);
		prepare_once(&grant_tid_plan,
					 "SELECT o.operator FROM sealpg.seal_operators o"
					 " WHERE o.ctid = $1 AND o.seal_id = $2"
					 " AND (o.grant_from IS NULL OR o.grant_from <= $3)"
					 " AND (o.grant_until IS NULL OR o.grant_until > $3)"
					 " AND (o.max_uses IS NULL OR o.uses < o.max_uses)",
					 3, ttypes);
		if (SPI_execute_plan(grant_tid_plan, tvalues, NULL, false, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not read the seal's operators");
		if (SPI_processed == 1)
		{
			Datum		role = col(1, &isnull);
			Oid			role_oid = get_role_oid(NameStr(*DatumGetName(role)), true);

			if (OidIsValid(role_oid) && is_member_of_role_nosuper(caller, role_oid))
			{
				grantee = role;
				by_tid = true;
			}
		}
	}

	if (!by_tid)
	{
		values[0] = seal_id;
		values[1] = TimestampTzGetDatum(a->at);
		prepare_once(&grant_plan,
					 "SELECT o.operator,"
					 " (o.grant_from IS NULL OR o.grant_from <= $2)"
					 "   AND (o.grant_until IS NULL OR o.grant_until > $2),"
					 " (o.max_uses IS NULL OR o.uses < o.max_uses)"
					 " FROM sealpg.seal_operators o WHERE o.seal_id = $1"
					 " ORDER BY o.operator",
					 2, types);
		if (SPI_execute_plan(grant_plan, values, NULL, false, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not read the seal's operators");

		for (uint64 i = 0; i < SPI_processed && grantee == (Datum) 0; i++)
		{
			HeapTuple	tup = SPI_tuptable->vals[i];
			TupleDesc	desc = SPI_tuptable->tupdesc;
			Datum		role = SPI_getbinval(tup, desc, 1, &isnull);
			Oid			role_oid = get_role_oid(NameStr(*DatumGetName(role)), true);

			if (!OidIsValid(role_oid) || !is_member_of_role_nosuper(caller, role_oid))
				continue;
			granted = true;
			if (!DatumGetBool(SPI_getbinval(tup, desc, 2, &isnull)))
				continue;
			in_window = true;
			if (DatumGetBool(SPI_getbinval(tup, desc, 3, &isnull)))
				grantee = role;
		}
		if (!granted)
			refuse(a, ERRCODE_SEAL_NOT_GRANTED,
				   psprintf("role \"%s\" may not use seal \"%s\"", a->operator, a->es_id),
				   "No grant of this seal names the role or a role it belongs to.",
				   "An administrator of the seal's organisation grants it with sealpg.grant_seal(seal, role).");
		if (!in_window)
			refuse(a, ERRCODE_SEAL_NOT_GRANTED,
				   psprintf("role \"%s\" may not use seal \"%s\" at this time", a->operator, a->es_id),
				   "The grant's time range (grant_from, grant_until) does not include now.",
				   NULL);
		if (grantee == (Datum) 0)
			refuse(a, ERRCODE_SEAL_GRANT_EXHAUSTED,
				   psprintf("role \"%s\" has used up its grant of seal \"%s\"", a->operator, a->es_id),
				   "The grant's max_uses has been reached.",
				   "An administrator renews the grant with sealpg.grant_seal(...).");
	}

	/* count the use; remember where the grant's new version is */
	grant_cache.valid = false;
	if (by_tid)
	{
		Oid			utypes[1] = {TIDOID};
		Datum		uvalues[1];

		uvalues[0] = PointerGetDatum(&grant_cache.tid);
		prepare_once(&uses_tid_plan,
					 "UPDATE sealpg.seal_operators SET uses = uses + 1 WHERE ctid = $1 RETURNING ctid",
					 1, utypes);
		if (SPI_execute_plan(uses_tid_plan, uvalues, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not count the use of the grant");
	}
	else
	{
		Oid			utypes[2] = {UUIDOID, NAMEOID};
		Datum		uvalues[2];

		uvalues[0] = seal_id;
		uvalues[1] = grantee;
		prepare_once(&uses_plan,
					 "UPDATE sealpg.seal_operators SET uses = uses + 1"
					 " WHERE seal_id = $1 AND operator = $2 RETURNING ctid",
					 2, utypes);
		if (SPI_execute_plan(uses_plan, uvalues, NULL, false, 0) != SPI_OK_UPDATE_RETURNING ||
			SPI_processed != 1)
			elog(ERROR, "could not count the use of the grant");
	}
	grant_cache.tid = *(ItemPointer) DatumGetPointer(col(1, &isnull));
	grant_cache.xid = GetTopTransactionId();
	grant_cache.caller = caller;
	memcpy(&grant_cache.seal_id, DatumGetUUIDP(seal_id), UUID_LEN);
	namestrcpy(&grant_cache.grantee, NameStr(*DatumGetName(grantee)));
	grant_cache.valid = true;
}

/* ---------------------------------------------------------------------
 * sealpg.sign
 * ---------------------------------------------------------------------
 */

/*
 * sealpg.sign(seal text, document bytea, attached boolean) -> sealsig.
 * SECURITY DEFINER: the caller is sealpg.caller() (the outer role).
 */
PG_FUNCTION_INFO_V1(sealpg_sign);
Datum
sealpg_sign(PG_FUNCTION_ARGS)
{
	text	   *seal_arg = PG_GETARG_TEXT_PP(0);
	bytea	   *document = PG_GETARG_BYTEA_PP(1);
	bool		attached = PG_GETARG_BOOL(2);
	MemoryContext call_cxt = CurrentMemoryContext;
	SignAttempt a;
	Oid			seal_types[1] = {TEXTOID};
	Datum		seal_values[1];
	Datum		seal_id;
	bool		isnull;
	char	   *status;
	TimestampTz valid_from,
				valid_until,
				not_before,
				not_after;
	char	   *token;
	bytea	   *key_id;
	bytea	   *cert_value;
	char	   *serial;
	X509	   *cert;
	EVP_PKEY   *key;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	unsigned char *der;
	size_t		der_len;
	bytea	   *sig;
	bytea	   *digest_value;
	Oid			ins_types[7] = {UUIDOID, TEXTOID, BYTEAOID, NAMEOID, TEXTOID, TIMESTAMPTZOID, BYTEAOID};
	Datum		ins_values[7];
	char		ins_nulls[7] = {' ', ' ', ' ', ' ', ' ', ' ', ' '};

	if (RecoveryInProgress())
		ereport(ERROR,
				(errcode(ERRCODE_READ_ONLY_SQL_TRANSACTION),
				 errmsg("cannot sign on a standby"),
				 errhint("Signing writes the signature record and counts the use; run it on the primary.")));

	a.es_id = text_to_cstring(seal_arg);
	a.seal_id = NULL;
	a.operator = GetUserNameFromId(GetOuterUserId(), false);
	a.client_addr = client_address();
	a.at = GetCurrentTimestamp();

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");

	/* the seal row, locked: signers and status changes serialise here */
	seal_values[0] = PointerGetDatum(seal_arg);
	prepare_once(&seal_plan,
				 "SELECT s.seal_id, s.status::text, s.valid_from, s.valid_until,"
				 " s.token_label, s.key_id, c.certificate, c.serial, c.not_before, c.not_after"
				 " FROM sealpg.seals s"
				 " LEFT JOIN sealpg.certificates c ON c.certificate_id = s.certificate_id"
				 " WHERE s.es_id = $1 FOR UPDATE OF s",
				 1, seal_types);
	if (SPI_execute_plan(seal_plan, seal_values, NULL, false, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read the seal");
	if (SPI_processed == 0)
		refuse(&a, ERRCODE_SEAL_NOT_FOUND,
			   psprintf("seal \"%s\" does not exist", a.es_id), NULL,
			   "Seals are named by their esID.");

	{
		MemoryContext spi_cxt = MemoryContextSwitchTo(call_cxt);

		seal_id = datumCopy(col(1, &isnull), false, UUID_LEN);
		a.seal_id = DatumGetCString(DirectFunctionCall1(uuid_out, seal_id));
		status = TextDatumGetCString(col(2, &isnull));
		valid_from = DatumGetTimestampTz(col(3, &isnull));
		valid_until = DatumGetTimestampTz(col(4, &isnull));
		col(7, &isnull);
		if (isnull)
			refuse(&a, ERRCODE_SEAL_NOT_ENROLLED,
				   psprintf("seal \"%s\" is not enrolled", a.es_id),
				   "The seal has no key and certificate yet.",
				   "An administrator of its organisation enrols it with sealpg.enroll(seal).");
		token = TextDatumGetCString(col(5, &isnull));
		key_id = DatumGetByteaPCopy(col(6, &isnull));
		cert_value = DatumGetByteaPCopy(col(7, &isnull));
		serial = TextDatumGetCString(col(8, &isnull));
		not_before = DatumGetTimestampTz(col(9, &isnull));
		not_after = DatumGetTimestampTz(col(10, &isnull));
		MemoryContextSwitchTo(spi_cxt);
	}

	if (strcmp(status, "revoked") == 0)
		refuse(&a, ERRCODE_SEAL_REVOKED, psprintf("seal \"%s\" is revoked", a.es_id),
			   "A revoked seal never signs again.", NULL);
	if (strcmp(status, "frozen") == 0)
		refuse(&a, ERRCODE_SEAL_FROZEN, psprintf("seal \"%s\" is frozen", a.es_id),
			   "A frozen seal signs again once an administrator unfreezes it.", NULL);
	if (strcmp(status, "expired") == 0 || valid_until <= a.at)
		refuse(&a, ERRCODE_SEAL_EXPIRED, psprintf("seal \"%s\" has expired", a.es_id),
			   "The seal's validity has ended.", NULL);
	if (not_after <= a.at)
		refuse(&a, ERRCODE_SEAL_EXPIRED,
			   psprintf("the certificate of seal \"%s\" has expired", a.es_id),
			   "The certificate's validity has ended.",
			   "An administrator re-enrols the seal with sealpg.enroll(seal).");
	if (valid_from > a.at || not_before > a.at)
		refuse(&a, ERRCODE_SEAL_NOT_YET_VALID,
			   psprintf("seal \"%s\" is not yet valid", a.es_id),
			   psprintf("Its validity begins at %s.",
						timestamptz_to_str(valid_from > not_before ? valid_from : not_before)),
			   NULL);
	check_grant(&a, seal_id);
	check_chip_present(&a, seal_id);

	/* the document's digest, computed here once */
	if (!EVP_Digest(VARDATA_ANY(document), VARSIZE_ANY_EXHDR(document), digest, &digest_len,
					EVP_sha256(), NULL))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not hash the document");

	/*
	 * The signature.  A failure here (agent unavailable, token absent, ...)
	 * is recorded like a refusal, then raised as it came.
	 */
	{
		MemoryContext spi_cxt = MemoryContextSwitchTo(call_cxt);

		PG_TRY();
		{
			cached_key((unsigned char *) VARDATA_ANY(cert_value), VARSIZE_ANY_EXHDR(cert_value),
					   token, key_id, &cert, &key);
			der = build_signed_data(cert, key, digest, digest_len, document, attached, a.at,
									&der_len);
		}
		PG_CATCH();
		{
			ErrorData  *edata;

			MemoryContextSwitchTo(call_cxt);
			edata = CopyErrorData();
			record_attempt(&a, edata->sqlerrcode, edata->message);
			PG_RE_THROW();
		}
		PG_END_TRY();

		/* made here, so not parsed again (sealpg_sealsig_make would) */
		sig = palloc(VARHDRSZ + der_len);
		SET_VARSIZE(sig, VARHDRSZ + der_len);
		memcpy(VARDATA(sig), der, der_len);
		digest_value = palloc(VARHDRSZ + digest_len);
		SET_VARSIZE(digest_value, VARHDRSZ + digest_len);
		memcpy(VARDATA(digest_value), digest, digest_len);
		MemoryContextSwitchTo(spi_cxt);
	}

	/* the signature is bound as sealpg.sealsig, made above */
	if (insert_plan == NULL)
		ins_types[6] = GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid, CStringGetDatum("sealsig"),
									   ObjectIdGetDatum(get_namespace_oid("sealpg", false)));
	ins_values[0] = seal_id;
	ins_values[1] = CStringGetTextDatum(serial);
	ins_values[2] = PointerGetDatum(digest_value);
	ins_values[3] = DirectFunctionCall1(namein, CStringGetDatum(a.operator));
	ins_values[4] = a.client_addr ? CStringGetTextDatum(a.client_addr) : (Datum) 0;
	ins_nulls[4] = a.client_addr ? ' ' : 'n';
	ins_values[5] = TimestampTzGetDatum(a.at);
	ins_values[6] = PointerGetDatum(sig);
	prepare_once(&insert_plan,
				 "INSERT INTO sealpg.signatures (seal_id, certificate_serial, document_digest,"
				 " operator, client_addr, signed_at, signature)"
				 " VALUES ($1, $2, $3, $4, $5::inet, $6, $7)",
				 7, ins_types);
	if (SPI_execute_plan(insert_plan, ins_values, ins_nulls, false, 0) != SPI_OK_INSERT)
		elog(ERROR, "could not record the signature");
	SPI_finish();

	PG_RETURN_BYTEA_P(sig);
}
