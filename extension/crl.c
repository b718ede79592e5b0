/*-------------------------------------------------------------------------
 *
 * crl.c
 *	  Complete and delta CRLs (RFC 5280 section 5), written with the lean
 *	  DER encoder of der.c and signed by the authority through its token.
 *
 * sealpg.crl_build() reads the CRL entries from sealpg.revocations and
 * writes the TBSCertList directly:
 *
 *	TBSCertList ::= SEQUENCE {
 *		version				INTEGER (v2),
 *		signature			AlgorithmIdentifier,
 *		issuer				Name,					-- the authority's subject
 *		thisUpdate, nextUpdate	Time,
 *		revokedCertificates	SEQUENCE OF SEQUENCE {
 *			userCertificate		INTEGER,
 *			revocationDate		Time,
 *			crlEntryExtensions	reasonCode, invalidityDate } OPTIONAL,
 *		crlExtensions [0]	authorityKeyIdentifier, cRLNumber,
 *							deltaCRLIndicator (critical, delta CRLs only) }
 *
 * The constant parts (version, algorithm, issuer, authority key
 * identifier) are copied from the authority's certificate once per call;
 * each entry is written from fixed templates in one append.  A complete
 * CRL lists every current entry (revoked, superseded, held); a delta CRL
 * lists the entries written since the base CRL's snapshot and, as
 * removeFromCRL, the serials whose entry ended since then (a released
 * hold) and that have no current one.  The caller (40_revocation.sql)
 * chooses numbers and times and stores the result.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "authority.h"
#include "der.h"
#include "ossl.h"
#include "sealpg.h"

/* OIDs of the extensions written here, as DER content bytes. */
static const unsigned char oid_crl_number[] = {0x55, 0x1d, 0x14};	/* 2.5.29.20 */
static const unsigned char oid_delta_indicator[] = {0x55, 0x1d, 0x1b};	/* 2.5.29.27 */
static const unsigned char oid_authority_key_id[] = {0x55, 0x1d, 0x23};	/* 2.5.29.35 */

/* Longest serial accepted (RFC 5280: at most 20 octets). */
#define CRL_SERIAL_MAX	32

/* Entries of a complete CRL. */
static const char *const full_query =
"SELECT serial, reason_code, revoked_at, invalidity_date"
"  FROM sealpg.revocations WHERE ended_at IS NULL";

/* Entries of a delta CRL against the snapshot $1. */
static const char *const delta_query =
"SELECT serial, reason_code, revoked_at, invalidity_date"
"  FROM sealpg.revocations"
" WHERE ended_at IS NULL"
"   AND change_xid >= pg_catalog.pg_snapshot_xmin($1)"
"   AND NOT pg_catalog.pg_visible_in_snapshot(change_xid, $1)"
" UNION ALL "
"SELECT DISTINCT ON (r.serial) r.serial, 8::smallint, r.ended_at, NULL::timestamptz"
"  FROM sealpg.revocations r"
" WHERE r.ended_xid >= pg_catalog.pg_snapshot_xmin($1)"
"   AND NOT pg_catalog.pg_visible_in_snapshot(r.ended_xid, $1)"
"   AND NOT EXISTS (SELECT 1 FROM sealpg.revocations c"
"                    WHERE c.serial = r.serial AND c.ended_at IS NULL)";

/* Append one Extension: SEQUENCE { OID, [critical], OCTET STRING value }. */
static void
put_extension(StringInfo buf, const unsigned char *oid, size_t oid_len,
			  bool critical, const unsigned char *value, size_t value_len)
{
	size_t		oid_tlv = 2 + oid_len;
	size_t		crit_tlv = critical ? 3 : 0;
	StringInfoData octets;

	initStringInfo(&octets);
	der_put_tlv(&octets, DER_OCTET_STRING, value, value_len);
	der_put_header(buf, DER_SEQUENCE, oid_tlv + crit_tlv + octets.len);
	der_put_tlv(buf, DER_OID, oid, oid_len);
	if (critical)
		appendBinaryStringInfo(buf, "\x01\x01\xff", 3);
	appendBinaryStringInfo(buf, octets.data, octets.len);
	pfree(octets.data);
}

/*
 * Append one revokedCertificates entry.  An entry is at most about 90
 * bytes: it is written into a stack buffer from fixed templates (the two
 * entry extensions have constant lengths) and appended once.
 */
static void
put_entry(StringInfo out, const unsigned char *serial, size_t serial_len,
		  int reason, TimestampTz revoked_at, bool has_invalidity,
		  TimestampTz invalidity)
{
	unsigned char e[160];
	size_t		n = 3;			/* room for the SEQUENCE header */
	size_t		content;
	StringInfoData t;
	char		tbuf[24];

	/* userCertificate: a positive INTEGER */
	while (serial_len > 1 && serial[0] == 0)
	{
		serial++;
		serial_len--;
	}
	e[n++] = DER_INTEGER;
	if (serial[0] & 0x80)
	{
		e[n++] = (unsigned char) (serial_len + 1);
		e[n++] = 0;
	}
	else
		e[n++] = (unsigned char) serial_len;
	memcpy(e + n, serial, serial_len);
	n += serial_len;

	/* revocationDate */
	t.data = tbuf;
	t.len = 0;
	t.maxlen = sizeof(tbuf);
	t.cursor = 0;
	der_put_time(&t, revoked_at, false);
	memcpy(e + n, t.data, t.len);
	n += t.len;

	if (reason != 0 || has_invalidity)
	{
		/* crlEntryExtensions: reasonCode (12 bytes), invalidityDate (26) */
		e[n++] = DER_SEQUENCE;
		e[n++] = (unsigned char) ((reason != 0 ? 12 : 0) + (has_invalidity ? 26 : 0));
		if (reason != 0)
		{
			/* RFC 5280 5.3.1: unspecified is expressed by leaving it out */
			static const unsigned char head[] = {DER_SEQUENCE, 10, DER_OID, 3, 0x55, 0x1d, 0x15,
			DER_OCTET_STRING, 3, DER_ENUMERATED, 1};

			memcpy(e + n, head, sizeof(head));
			n += sizeof(head);
			e[n++] = (unsigned char) reason;
		}
		if (has_invalidity)
		{
			static const unsigned char head[] = {DER_SEQUENCE, 24, DER_OID, 3, 0x55, 0x1d, 0x18,
			DER_OCTET_STRING, 17};

			memcpy(e + n, head, sizeof(head));
			n += sizeof(head);
			t.len = 0;
			der_put_time(&t, invalidity, true);
			Assert(t.len == 17);
			memcpy(e + n, t.data, t.len);
			n += t.len;
		}
	}

	/* the SEQUENCE header, right before the content */
	content = n - 3;
	Assert(content < 0x80);
	e[1] = DER_SEQUENCE;
	e[2] = (unsigned char) content;
	appendBinaryStringInfo(out, (const char *) e + 1, content + 2);
}

/* Append the crlExtensions [0]: authority key id, CRL number, delta. */
static void
put_crl_extensions(StringInfo tbs, X509 *authority, int64 number,
				   bool delta, int64 base_number)
{
	StringInfoData exts;
	StringInfoData v;
	const ASN1_OCTET_STRING *ski = X509_get0_subject_key_id(authority);

	initStringInfo(&exts);
	initStringInfo(&v);
	if (ski != NULL)
	{
		StringInfoData keyid;

		/* AuthorityKeyIdentifier ::= SEQUENCE { keyIdentifier [0] ... } */
		initStringInfo(&keyid);
		der_put_tlv(&keyid, DER_CONTEXT(0), ASN1_STRING_get0_data(ski),
					ASN1_STRING_length(ski));
		der_put_tlv(&v, DER_SEQUENCE, keyid.data, keyid.len);
		put_extension(&exts, oid_authority_key_id, sizeof(oid_authority_key_id), false,
					  (unsigned char *) v.data, v.len);
		pfree(keyid.data);
	}
	resetStringInfo(&v);
	der_put_uint(&v, DER_INTEGER, (uint64) number);
	put_extension(&exts, oid_crl_number, sizeof(oid_crl_number), false,
				  (unsigned char *) v.data, v.len);
	if (delta)
	{
		resetStringInfo(&v);
		der_put_uint(&v, DER_INTEGER, (uint64) base_number);
		put_extension(&exts, oid_delta_indicator, sizeof(oid_delta_indicator), true,
					  (unsigned char *) v.data, v.len);
	}
	resetStringInfo(&v);
	der_put_tlv(&v, DER_SEQUENCE, exts.data, exts.len);
	der_put_tlv(tbs, DER_CONTEXT_CONS(0), v.data, v.len);
	pfree(exts.data);
	pfree(v.data);
}

/* Read the entries and append them as revokedCertificates; count them. */
static int
put_entries(StringInfo tbs, bool delta, Datum base_snapshot)
{
	Oid			argtypes[1] = {PG_SNAPSHOTOID};
	Datum		args[1];
	int			rc;
	uint64		i;
	StringInfoData entries;
	int			count;

	args[0] = base_snapshot;
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (delta)
		rc = SPI_execute_with_args(delta_query, 1, argtypes, args, NULL, true, 0);
	else
		rc = SPI_execute(full_query, true, 0);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read the CRL entries: %s", SPI_result_code_string(rc));

	initStringInfo(&entries);
	enlargeStringInfo(&entries, (int) Min(SPI_processed * 56, (uint64) MaxAllocSize / 2));
	for (i = 0; i < SPI_processed; i++)
	{
		Datum		v[4];
		bool		n[4];
		text	   *serial;
		int			reason;
		TimestampTz revoked_at;
		bool		inv_null;
		Datum		inv;
		unsigned char bytes[CRL_SERIAL_MAX];
		size_t		len;

		/* one deforming per row; the query's columns are never NULL but the last */
		heap_deform_tuple(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, v, n);
		serial = DatumGetTextPP(v[0]);
		reason = DatumGetInt16(v[1]);
		revoked_at = DatumGetTimestampTz(v[2]);
		inv_null = n[3];
		inv = v[3];
		if (!der_hex_to_serial(VARDATA_ANY(serial), VARSIZE_ANY_EXHDR(serial),
							   bytes, &len, sizeof(bytes)))
			ereport(ERROR,
					(errcode(ERRCODE_DATA_CORRUPTED),
					 errmsg("revocation entry has an invalid serial \"%s\"", text_to_cstring(serial))));
		put_entry(&entries, bytes, len, reason, revoked_at,
				  !inv_null, inv_null ? 0 : DatumGetTimestampTz(inv));
		CHECK_FOR_INTERRUPTS();
	}
	count = (int) SPI_processed;
	if (count > 0)
		der_put_tlv(tbs, DER_SEQUENCE, entries.data, entries.len);
	pfree(entries.data);
	SPI_finish();
	return count;
}

/*
 * sealpg.crl_build(number, this_update, next_update, base_number,
 * base_snapshot) -> (der, entries): a complete CRL when base_number is
 * NULL, else a delta CRL against the base whose snapshot is given.
 */
PG_FUNCTION_INFO_V1(sealpg_crl_build);
Datum
sealpg_crl_build(PG_FUNCTION_ARGS)
{
	int64		number;
	TimestampTz this_update,
				next_update;
	bool		delta = !PG_ARGISNULL(3);
	X509	   *authority;
	EVP_PKEY   *key;
	unsigned char *issuer = NULL;
	int			issuer_len;
	StringInfoData body;
	StringInfoData tbs;
	StringInfoData crl;
	int			count;
	TupleDesc	desc;
	Datum		values[2];
	bool		nulls[2] = {false, false};
	bytea	   *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || (delta && PG_ARGISNULL(4)))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a CRL needs a number, thisUpdate and nextUpdate, and a delta CRL its base's snapshot")));
	number = PG_GETARG_INT64(0);
	this_update = PG_GETARG_TIMESTAMPTZ(1);
	next_update = PG_GETARG_TIMESTAMPTZ(2);
	if (number <= 0 || next_update <= this_update || (delta && PG_GETARG_INT64(3) >= number))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid CRL number or update times")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "crl_build must return a record");

	sealpg_authority_load(&authority, &key);
	issuer_len = i2d_X509_NAME(X509_get_subject_name(authority), &issuer);
	if (issuer_len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the authority's name");
	sealpg_track_openssl_memory(issuer);

	/* TBSCertList content */
	initStringInfo(&body);
	appendBinaryStringInfo(&body, "\x02\x01\x01", 3);	/* version v2 */
	der_put_signature_algorithm(&body, key);
	appendBinaryStringInfo(&body, (const char *) issuer, issuer_len);
	der_put_time(&body, this_update, false);
	der_put_time(&body, next_update, false);
	count = put_entries(&body, delta, delta ? PG_GETARG_DATUM(4) : (Datum) 0);
	put_crl_extensions(&body, authority, number, delta, delta ? PG_GETARG_INT64(3) : 0);

	initStringInfo(&tbs);
	der_put_tlv(&tbs, DER_SEQUENCE, body.data, body.len);
	pfree(body.data);

	/* CertificateList ::= SEQUENCE { tbsCertList, signatureAlgorithm, signatureValue } */
	initStringInfo(&body);
	appendBinaryStringInfo(&body, tbs.data, tbs.len);
	der_sign_and_append(&body, key, (unsigned char *) tbs.data, tbs.len,
						"could not sign the CRL");
	pfree(tbs.data);
	initStringInfo(&crl);
	der_put_header(&crl, DER_SEQUENCE, body.len);

	result = palloc(VARHDRSZ + crl.len + body.len);
	SET_VARSIZE(result, VARHDRSZ + crl.len + body.len);
	memcpy(VARDATA(result), crl.data, crl.len);
	memcpy(VARDATA(result) + crl.len, body.data, body.len);
	pfree(body.data);

	values[0] = PointerGetDatum(result);
	values[1] = Int32GetDatum(count);
	desc = BlessTupleDesc(desc);
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
