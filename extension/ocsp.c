/*-------------------------------------------------------------------------
 *
 * ocsp.c
 *	  The OCSP responder (RFC 6960, with the RFC 5019 profile in mind):
 *	  sealpg.ocsp_respond(request bytea) returns the DER response.
 *
 * The request is read with the strict DER reader of der.c, never trusting
 * a length; anything that is not a well-formed OCSPRequest of version 1
 * asking about 1 to OCSP_MAX_CERTS certificates in at most
 * OCSP_MAX_REQUEST bytes is answered with the OCSP error status
 * malformedRequest (a three-byte response), never with an SQL error.  A
 * CertID whose issuer hashes are not those of this database's authority
 * (SHA-1 or SHA-256 CertIDs) gets "unauthorized": this responder is not
 * authoritative for it.  When no responder certificate exists yet the
 * answer is internalError.
 *
 * Each certificate's status comes from sealpg.certificates and the current
 * entry of sealpg.revocations: no certificate with the serial -> unknown;
 * a current entry -> revoked with its time and reason (certificateHold
 * while the seal is frozen, superseded after re-enrolment); else good.
 * The response is written with the lean DER encoder and signed through
 * the token by the delegated responder key (sealpg.ocsp_responders, its
 * certificate included), identified by key hash; a nonce in the request
 * is echoed.
 *
 * Nothing is written: the function runs on a hot standby.  The responder
 * key and the authority's CertID hashes are kept per backend and reloaded
 * when the current responder or the authority changes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "utils/builtins.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include <openssl/sha.h>

#include "authority.h"
#include "der.h"
#include "ossl.h"
#include "sealpg.h"
#include "sealpg_types.h"
#include "token_provider.h"

/* Limits on what is accepted (larger: malformedRequest). */
#define OCSP_MAX_REQUEST	8192
#define OCSP_MAX_CERTS		16
#define OCSP_MAX_SERIAL		21
#define OCSP_MAX_NONCE		34		/* extnValue: OCTET STRING of 1..32 */

/* OCSPResponseStatus (RFC 6960 4.2.1) */
#define OCSP_SUCCESSFUL			0
#define OCSP_MALFORMED_REQUEST	1
#define OCSP_INTERNAL_ERROR		2
#define OCSP_UNAUTHORIZED		6

/* Certificate status found for one CertID. */
#define CERT_GOOD		0
#define CERT_REVOKED	1
#define CERT_UNKNOWN	2

static const unsigned char oid_sha1[] = {0x2b, 0x0e, 0x03, 0x02, 0x1a};
static const unsigned char oid_sha256[] = {0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01};
static const unsigned char oid_nonce[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x02};
static const unsigned char oid_basic[] = {0x2b, 0x06, 0x01, 0x05, 0x05, 0x07, 0x30, 0x01, 0x01};

/* One certificate asked about, pointing into the request's bytes. */
typedef struct OcspCertRef
{
	const unsigned char *certid;	/* the whole CertID, echoed */
	size_t		certid_len;
	bool		sha256;			/* else SHA-1 */
	const unsigned char *name_hash;
	size_t		name_hash_len;
	const unsigned char *key_hash;
	size_t		key_hash_len;
	const unsigned char *serial;	/* INTEGER content */
	size_t		serial_len;
	/* filled by the lookup */
	int			status;
	int			reason;
	TimestampTz revoked_at;
} OcspCertRef;

typedef struct OcspRequest
{
	int			ncerts;
	OcspCertRef certs[OCSP_MAX_CERTS];
	const unsigned char *nonce_ext; /* the whole nonce Extension, or NULL */
	size_t		nonce_ext_len;
} OcspRequest;

/* The current responder and the authority's CertID hashes, per backend. */
typedef struct ResponderCache
{
	bool		valid;
	MemoryContext cxt;
	char	   *responder_id;
	bytea	   *authority_der;
	EVP_PKEY   *key;
	unsigned char *cert_der;
	size_t		cert_len;
	unsigned char responder_key_hash[SHA_DIGEST_LENGTH];
	unsigned char name_sha1[SHA_DIGEST_LENGTH];
	unsigned char key_sha1[SHA_DIGEST_LENGTH];
	unsigned char name_sha256[SHA256_DIGEST_LENGTH];
	unsigned char key_sha256[SHA256_DIGEST_LENGTH];
} ResponderCache;

static ResponderCache responder;
static SPIPlanPtr status_plan = NULL;
static SPIPlanPtr responder_plan = NULL;

/* Read an OID; *matches when its content is oid.  False when malformed. */
static bool
read_oid(DerReader *r, const unsigned char *oid, size_t oid_len, bool *matches)
{
	unsigned char tag;
	DerReader	c;

	if (!der_read(r, &tag, &c, NULL, NULL) || tag != DER_OID || c.left == 0)
		return false;
	*matches = (c.left == oid_len && memcmp(c.p, oid, oid_len) == 0);
	return true;
}

/* Parse a CertID; false when malformed. */
static bool
parse_certid(DerReader *r, OcspCertRef *ref)
{
	unsigned char tag;
	DerReader	certid,
				alg,
				c;
	bool		is_sha1,
				is_sha256;

	if (!der_read(r, &tag, &certid, &ref->certid, &ref->certid_len) || tag != DER_SEQUENCE)
		return false;
	/* hashAlgorithm AlgorithmIdentifier: OID, optional NULL parameters */
	if (!der_read(&certid, &tag, &alg, NULL, NULL) || tag != DER_SEQUENCE)
		return false;
	{
		DerReader	oid = alg;

		if (!read_oid(&alg, oid_sha1, sizeof(oid_sha1), &is_sha1) ||
			!read_oid(&oid, oid_sha256, sizeof(oid_sha256), &is_sha256))
			return false;
	}
	if (alg.left > 0)
	{
		if (!der_read(&alg, &tag, &c, NULL, NULL) || tag != DER_NULL || c.left != 0 || alg.left != 0)
			return false;
	}
	if (!der_read(&certid, &tag, &c, NULL, NULL) || tag != DER_OCTET_STRING)
		return false;
	ref->name_hash = c.p;
	ref->name_hash_len = c.left;
	if (!der_read(&certid, &tag, &c, NULL, NULL) || tag != DER_OCTET_STRING)
		return false;
	ref->key_hash = c.p;
	ref->key_hash_len = c.left;
	if (!der_read(&certid, &tag, &c, NULL, NULL) || tag != DER_INTEGER)
		return false;
	/* a positive INTEGER in minimal form, at most 21 bytes */
	if (c.left == 0 || c.left > OCSP_MAX_SERIAL || (c.p[0] & 0x80) ||
		(c.left > 1 && c.p[0] == 0 && !(c.p[1] & 0x80)))
		return false;
	ref->serial = c.p;
	ref->serial_len = c.left;
	ref->sha256 = is_sha256;
	/* an unknown hash algorithm: marked so that it cannot match */
	if (!is_sha1 && !is_sha256)
		ref->name_hash_len = 0;
	return certid.left == 0;
}

/* Parse requestExtensions: find the nonce; false when malformed. */
static bool
parse_extensions(DerReader *r, OcspRequest *req)
{
	unsigned char tag;
	DerReader	exts;

	if (!der_read(r, &tag, &exts, NULL, NULL) || tag != DER_SEQUENCE || exts.left == 0)
		return false;
	while (exts.left > 0)
	{
		DerReader	ext,
					c;
		const unsigned char *tlv;
		size_t		tlv_len;
		bool		is_nonce;

		if (!der_read(&exts, &tag, &ext, &tlv, &tlv_len) || tag != DER_SEQUENCE)
			return false;
		if (!read_oid(&ext, oid_nonce, sizeof(oid_nonce), &is_nonce))
			return false;
		if (der_peek(&ext, DER_BOOLEAN) &&
			(!der_read(&ext, &tag, &c, NULL, NULL) || c.left != 1))
			return false;
		if (!der_read(&ext, &tag, &c, NULL, NULL) || tag != DER_OCTET_STRING || ext.left != 0)
			return false;
		if (is_nonce)
		{
			if (req->nonce_ext != NULL || c.left == 0 || c.left > OCSP_MAX_NONCE)
				return false;
			req->nonce_ext = tlv;
			req->nonce_ext_len = tlv_len;
		}
	}
	return true;
}

/* Parse an OCSPRequest; OCSP_SUCCESSFUL or OCSP_MALFORMED_REQUEST. */
static int
parse_request(const unsigned char *p, size_t len, OcspRequest *req)
{
	DerReader	whole,
				outer,
				tbs,
				list,
				c;
	unsigned char tag;

	memset(req, 0, sizeof(*req));
	if (len == 0 || len > OCSP_MAX_REQUEST)
		return OCSP_MALFORMED_REQUEST;
	der_reader_init(&whole, p, len);
	if (!der_read(&whole, &tag, &outer, NULL, NULL) || tag != DER_SEQUENCE || whole.left != 0)
		return OCSP_MALFORMED_REQUEST;
	if (!der_read(&outer, &tag, &tbs, NULL, NULL) || tag != DER_SEQUENCE)
		return OCSP_MALFORMED_REQUEST;
	/* optionalSignature [0]: accepted, not required, not checked */
	if (outer.left > 0 &&
		(!der_read(&outer, &tag, &c, NULL, NULL) || tag != DER_CONTEXT_CONS(0) || outer.left != 0))
		return OCSP_MALFORMED_REQUEST;

	/* version [0] EXPLICIT INTEGER DEFAULT v1(0) */
	if (der_peek(&tbs, DER_CONTEXT_CONS(0)))
	{
		if (!der_read(&tbs, &tag, &c, NULL, NULL) ||
			c.left != 3 || c.p[0] != DER_INTEGER || c.p[1] != 1 || c.p[2] != 0)
			return OCSP_MALFORMED_REQUEST;
	}
	/* requestorName [1]: skipped */
	if (der_peek(&tbs, DER_CONTEXT_CONS(1)) && !der_read(&tbs, &tag, &c, NULL, NULL))
		return OCSP_MALFORMED_REQUEST;
	/* requestList SEQUENCE OF Request */
	if (!der_read(&tbs, &tag, &list, NULL, NULL) || tag != DER_SEQUENCE || list.left == 0)
		return OCSP_MALFORMED_REQUEST;
	while (list.left > 0)
	{
		DerReader	one;

		if (req->ncerts == OCSP_MAX_CERTS)
			return OCSP_MALFORMED_REQUEST;
		if (!der_read(&list, &tag, &one, NULL, NULL) || tag != DER_SEQUENCE)
			return OCSP_MALFORMED_REQUEST;
		if (!parse_certid(&one, &req->certs[req->ncerts]))
			return OCSP_MALFORMED_REQUEST;
		/* singleRequestExtensions [0]: skipped */
		if (one.left > 0 &&
			(!der_read(&one, &tag, &c, NULL, NULL) || tag != DER_CONTEXT_CONS(0) || one.left != 0))
			return OCSP_MALFORMED_REQUEST;
		req->ncerts++;
	}
	/* requestExtensions [2] EXPLICIT Extensions */
	if (der_peek(&tbs, DER_CONTEXT_CONS(2)))
	{
		if (!der_read(&tbs, &tag, &c, NULL, NULL) || !parse_extensions(&c, req) || c.left != 0)
			return OCSP_MALFORMED_REQUEST;
	}
	if (tbs.left != 0)
		return OCSP_MALFORMED_REQUEST;
	return OCSP_SUCCESSFUL;
}

/* A response with an error status and no body. */
static bytea *
error_response(int status)
{
	bytea	   *out = palloc(VARHDRSZ + 5);
	unsigned char *p = (unsigned char *) VARDATA(out);

	SET_VARSIZE(out, VARHDRSZ + 5);
	p[0] = DER_SEQUENCE;
	p[1] = 3;
	p[2] = DER_ENUMERATED;
	p[3] = 1;
	p[4] = (unsigned char) status;
	return out;
}

/* Digest helper for the CertID hashes; ereports on failure. */
static void
cert_digests(X509 *cert, const EVP_MD *md, unsigned char *name_hash,
			 unsigned char *key_hash)
{
	unsigned int len;

	if (X509_NAME_digest(X509_get_subject_name(cert), md, name_hash, &len) != 1 ||
		X509_pubkey_digest(cert, md, key_hash, &len) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not hash the authority's name and key");
}

/*
 * (Re)load the responder cache from the row read by SPI (responder id,
 * token, key id, responder certificate, authority certificate).  The
 * caller has finished with SPI; the values are copies.
 */
static void
load_responder(const char *id, const char *token, bytea *key_id,
			   bytea *cert_value, bytea *authority_value)
{
	MemoryContext old;
	X509	   *cert;
	X509	   *authority;
	const unsigned char *p;
	unsigned char *spki;
	size_t		spki_len;
	unsigned int len;

	responder.valid = false;
	if (responder.cxt == NULL)
		responder.cxt = AllocSetContextCreate(TopMemoryContext, "sealpg OCSP responder",
											  ALLOCSET_SMALL_SIZES);
	MemoryContextReset(responder.cxt);	/* frees the previous key */
	old = MemoryContextSwitchTo(responder.cxt);

	p = (const unsigned char *) VARDATA_ANY(cert_value);
	cert = d2i_X509(NULL, &p, VARSIZE_ANY_EXHDR(cert_value));
	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED, "could not read the OCSP responder certificate");
	sealpg_track_x509(cert);
	p = (const unsigned char *) VARDATA_ANY(authority_value);
	authority = d2i_X509(NULL, &p, VARSIZE_ANY_EXHDR(authority_value));
	if (authority == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED, "could not read the authority certificate");
	sealpg_track_x509(authority);

	cert_digests(authority, EVP_sha1(), responder.name_sha1, responder.key_sha1);
	cert_digests(authority, EVP_sha256(), responder.name_sha256, responder.key_sha256);
	if (X509_pubkey_digest(cert, EVP_sha1(), responder.responder_key_hash, &len) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not hash the responder's key");

	spki = sealpg_cert_spki(cert, &spki_len);
	responder.key = sealpg_token_key(token, (unsigned char *) VARDATA_ANY(key_id),
									 VARSIZE_ANY_EXHDR(key_id), spki, spki_len);
	responder.cert_len = VARSIZE_ANY_EXHDR(cert_value);
	responder.cert_der = palloc(responder.cert_len);
	memcpy(responder.cert_der, VARDATA_ANY(cert_value), responder.cert_len);
	responder.authority_der = DatumGetByteaPCopy(PointerGetDatum(authority_value));
	responder.responder_id = pstrdup(id);
	MemoryContextSwitchTo(old);
	responder.valid = true;
}

/*
 * Read the current responder and the authority; reload the cache when
 * either changed.  False when there is no responder (or no authority).
 */
static bool
current_responder(void)
{
	MemoryContext caller = CurrentMemoryContext;
	char	   *id;
	char	   *token = NULL;
	bytea	   *key_id = NULL;
	bytea	   *cert = NULL;
	bytea	   *authority;
	bool		isnull;
	bool		reload;

	if (responder_plan == NULL)
	{
		SPIPlanPtr	plan = SPI_prepare("SELECT r.responder_id::text, r.token_label, r.key_id,"
									   "       r.certificate::bytea, a.certificate::bytea"
									   "  FROM sealpg.ocsp_responders r CROSS JOIN sealpg.authority a"
									   " WHERE r.current", 0, NULL);

		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the OCSP responder query: %s",
				 SPI_result_code_string(SPI_result));
		responder_plan = plan;
	}
	if (SPI_execute_plan(responder_plan, NULL, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read sealpg.ocsp_responders");
	if (SPI_processed == 0)
		return false;
	{
		HeapTuple	tup = SPI_tuptable->vals[0];
		TupleDesc	desc = SPI_tuptable->tupdesc;
		MemoryContext spi = MemoryContextSwitchTo(caller);

		id = TextDatumGetCString(SPI_getbinval(tup, desc, 1, &isnull));
		authority = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 5, &isnull));
		reload = !responder.valid || strcmp(id, responder.responder_id) != 0 ||
			VARSIZE_ANY_EXHDR(authority) != VARSIZE_ANY_EXHDR(responder.authority_der) ||
			memcmp(VARDATA_ANY(authority), VARDATA_ANY(responder.authority_der),
				   VARSIZE_ANY_EXHDR(authority)) != 0;
		if (reload)
		{
			token = TextDatumGetCString(SPI_getbinval(tup, desc, 2, &isnull));
			key_id = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 3, &isnull));
			cert = DatumGetByteaPCopy(SPI_getbinval(tup, desc, 4, &isnull));
		}
		MemoryContextSwitchTo(spi);
	}
	if (reload)
		load_responder(id, token, key_id, cert, authority);
	return true;
}

/* Does the CertID name this database's authority as issuer? */
static bool
issuer_matches(const OcspCertRef *ref)
{
	if (ref->name_hash_len == 0)
		return false;
	if (ref->sha256)
		return ref->name_hash_len == SHA256_DIGEST_LENGTH &&
			ref->key_hash_len == SHA256_DIGEST_LENGTH &&
			memcmp(ref->name_hash, responder.name_sha256, SHA256_DIGEST_LENGTH) == 0 &&
			memcmp(ref->key_hash, responder.key_sha256, SHA256_DIGEST_LENGTH) == 0;
	return ref->name_hash_len == SHA_DIGEST_LENGTH &&
		ref->key_hash_len == SHA_DIGEST_LENGTH &&
		memcmp(ref->name_hash, responder.name_sha1, SHA_DIGEST_LENGTH) == 0 &&
		memcmp(ref->key_hash, responder.key_sha1, SHA_DIGEST_LENGTH) == 0;
}

/* Look up one certificate's status by serial. */
static void
lookup_status(OcspCertRef *ref)
{
	Datum		arg;
	bool		isnull;
	int			rc;

	if (status_plan == NULL)
	{
		Oid			types[1] = {TEXTOID};
		SPIPlanPtr	plan;

		plan = SPI_prepare("SELECT r.reason_code, r.revoked_at"
						   "  FROM sealpg.certificates c"
						   "  LEFT JOIN sealpg.revocations r"
						   "    ON r.serial = c.serial AND r.ended_at IS NULL"
						   " WHERE c.serial = $1", 1, types);
		if (plan == NULL || SPI_keepplan(plan) != 0)
			elog(ERROR, "could not prepare the OCSP status query: %s",
				 SPI_result_code_string(SPI_result));
		status_plan = plan;
	}
	arg = CStringGetTextDatum(der_serial_to_hex(ref->serial, ref->serial_len));
	rc = SPI_execute_plan(status_plan, &arg, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read a certificate's status: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		ref->status = CERT_UNKNOWN;
		return;
	}
	ref->reason = DatumGetInt16(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	if (isnull)
	{
		ref->status = CERT_GOOD;
		return;
	}
	ref->status = CERT_REVOKED;
	ref->revoked_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0],
														SPI_tuptable->tupdesc, 2, &isnull));
}

/* Append one SingleResponse. */
static void
put_single_response(StringInfo out, const OcspCertRef *ref, TimestampTz now,
					TimestampTz next)
{
	StringInfoData s;
	StringInfoData t;

	initStringInfo(&s);
	initStringInfo(&t);
	appendBinaryStringInfo(&s, (const char *) ref->certid, ref->certid_len);
	if (ref->status == CERT_GOOD)
		appendBinaryStringInfo(&s, "\x80\x00", 2);
	else if (ref->status == CERT_UNKNOWN)
		appendBinaryStringInfo(&s, "\x82\x00", 2);
	else
	{
		/* revoked [1] IMPLICIT RevokedInfo { time, [0] EXPLICIT CRLReason } */
		der_put_time(&t, ref->revoked_at, true);
		if (ref->reason != 0)
		{
			unsigned char reason[5] = {DER_CONTEXT_CONS(0), 3, DER_ENUMERATED, 1,
			(unsigned char) ref->reason};

			appendBinaryStringInfo(&t, (const char *) reason, sizeof(reason));
		}
		der_put_tlv(&s, DER_CONTEXT_CONS(1), t.data, t.len);
		resetStringInfo(&t);
	}
	der_put_time(&s, now, true);	/* thisUpdate */
	der_put_time(&t, next, true);
	der_put_tlv(&s, DER_CONTEXT_CONS(0), t.data, t.len);	/* nextUpdate */
	der_put_tlv(out, DER_SEQUENCE, s.data, s.len);
	pfree(s.data);
	pfree(t.data);
}

/* Build and sign the successful response for a parsed request. */
static bytea *
successful_response(const OcspRequest *req)
{
	TimestampTz now = GetCurrentTimestamp();
	TimestampTz next = now + (TimestampTz) sealpg_ocsp_validity_s * USECS_PER_SEC;
	StringInfoData data;
	StringInfoData list;
	StringInfoData tbs;
	StringInfoData basic;
	StringInfoData wrapped;
	StringInfoData bytes;
	StringInfoData resp;
	bytea	   *out;
	int			i;

	/* ResponseData */
	initStringInfo(&data);
	der_put_header(&data, DER_CONTEXT_CONS(2), 2 + SHA_DIGEST_LENGTH);	/* byKey */
	der_put_tlv(&data, DER_OCTET_STRING, responder.responder_key_hash, SHA_DIGEST_LENGTH);
	der_put_time(&data, now, true); /* producedAt */
	initStringInfo(&list);
	for (i = 0; i < req->ncerts; i++)
		put_single_response(&list, &req->certs[i], now, next);
	der_put_tlv(&data, DER_SEQUENCE, list.data, list.len);
	if (req->nonce_ext != NULL)
	{
		resetStringInfo(&list);
		der_put_tlv(&list, DER_SEQUENCE, req->nonce_ext, req->nonce_ext_len);
		der_put_tlv(&data, DER_CONTEXT_CONS(1), list.data, list.len);
	}
	initStringInfo(&tbs);
	der_put_tlv(&tbs, DER_SEQUENCE, data.data, data.len);

	/* BasicOCSPResponse: tbs, algorithm, signature, certs [0] */
	initStringInfo(&basic);
	appendBinaryStringInfo(&basic, tbs.data, tbs.len);
	der_sign_and_append(&basic, responder.key, (unsigned char *) tbs.data, tbs.len,
						"could not sign the OCSP response");
	resetStringInfo(&list);
	der_put_tlv(&list, DER_SEQUENCE, responder.cert_der, responder.cert_len);
	der_put_tlv(&basic, DER_CONTEXT_CONS(0), list.data, list.len);
	initStringInfo(&wrapped);
	der_put_tlv(&wrapped, DER_SEQUENCE, basic.data, basic.len);

	/* ResponseBytes ::= SEQUENCE { id-pkix-ocsp-basic, OCTET STRING } */
	initStringInfo(&bytes);
	der_put_tlv(&bytes, DER_OID, oid_basic, sizeof(oid_basic));
	der_put_tlv(&bytes, DER_OCTET_STRING, wrapped.data, wrapped.len);
	resetStringInfo(&list);
	der_put_tlv(&list, DER_SEQUENCE, bytes.data, bytes.len);

	/* OCSPResponse ::= SEQUENCE { successful, [0] EXPLICIT ResponseBytes } */
	initStringInfo(&resp);
	appendBinaryStringInfo(&resp, "\x0a\x01\x00", 3);
	der_put_tlv(&resp, DER_CONTEXT_CONS(0), list.data, list.len);

	resetStringInfo(&data);
	der_put_tlv(&data, DER_SEQUENCE, resp.data, resp.len);
	out = palloc(VARHDRSZ + data.len);
	SET_VARSIZE(out, VARHDRSZ + data.len);
	memcpy(VARDATA(out), data.data, data.len);
	return out;
}

/* sealpg.ocsp_respond(request bytea): the DER OCSP response. */
PG_FUNCTION_INFO_V1(sealpg_ocsp_respond);
Datum
sealpg_ocsp_respond(PG_FUNCTION_ARGS)
{
	bytea	   *raw = PG_GETARG_BYTEA_PP(0);
	OcspRequest *req = palloc(sizeof(OcspRequest));
	int			status;
	int			i;
	bool		have_responder;

	status = parse_request((const unsigned char *) VARDATA_ANY(raw),
						   VARSIZE_ANY_EXHDR(raw), req);
	if (status != OCSP_SUCCESSFUL)
		PG_RETURN_BYTEA_P(error_response(status));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	have_responder = current_responder();
	if (have_responder)
	{
		for (i = 0; i < req->ncerts; i++)
			if (!issuer_matches(&req->certs[i]))
				break;
		if (i < req->ncerts)
			status = OCSP_UNAUTHORIZED;
		else
			for (i = 0; i < req->ncerts; i++)
				lookup_status(&req->certs[i]);
	}
	SPI_finish();

	if (!have_responder)
		PG_RETURN_BYTEA_P(error_response(OCSP_INTERNAL_ERROR));
	if (status != OCSP_SUCCESSFUL)
		PG_RETURN_BYTEA_P(error_response(status));
	PG_RETURN_BYTEA_P(successful_response(req));
}
