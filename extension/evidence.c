/*-------------------------------------------------------------------------
 *
 * evidence.c
 *	  The evidence package's container, and the OCSP request that asks
 *	  for a seal certificate's status to put in it.
 *
 * A package is a POSIX ustar archive (doc/EVIDENCE.md): any tar program
 * lists and extracts it, and sealpg-verify reads it without a library.
 * Each member is a regular file, mode 0444, owner 0/0, with the time of
 * the package; names are plain (no directories), at most 100 bytes.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/ocsp.h>
#include <openssl/x509.h>

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "sealpg.h"

#define TAR_BLOCK	512

/* Write an octal number into a tar header field of width bytes. */
static void
tar_octal(char *field, int width, uint64 value)
{
	snprintf(field, width, "%0*llo", width - 1, (unsigned long long) value);
}

/* Append one member (header, data, padding) to the archive. */
static void
tar_member(StringInfo out, const char *name, const char *data, int len, int64 mtime)
{
	char		header[TAR_BLOCK];
	unsigned int sum = 0;
	int			i;

	memset(header, 0, sizeof(header));
	strlcpy(header, name, 100);
	tar_octal(header + 100, 8, 0444);
	tar_octal(header + 108, 8, 0);
	tar_octal(header + 116, 8, 0);
	tar_octal(header + 124, 12, (uint64) len);
	tar_octal(header + 136, 12, (uint64) mtime);
	memset(header + 148, ' ', 8);
	header[156] = '0';
	memcpy(header + 257, "ustar", 6);
	memcpy(header + 263, "00", 2);
	strlcpy(header + 265, "sealpg", 32);
	strlcpy(header + 297, "sealpg", 32);
	for (i = 0; i < TAR_BLOCK; i++)
		sum += (unsigned char) header[i];
	snprintf(header + 148, 8, "%06o", sum);
	header[155] = ' ';

	appendBinaryStringInfo(out, header, TAR_BLOCK);
	appendBinaryStringInfo(out, data, len);
	if (len % TAR_BLOCK)
	{
		int			pad = TAR_BLOCK - len % TAR_BLOCK;

		enlargeStringInfo(out, pad);
		memset(out->data + out->len, 0, pad);
		out->len += pad;
	}
}

/* Refuse a member name that is not a plain file name. */
static void
check_member_name(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strlen(name) > 99 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid evidence file name \"%s\"", name),
				 errdetail("Names are 1 to 99 bytes, without directories.")));
	for (p = name; *p; p++)
		if (*p == '/' || (unsigned char) *p < 0x20)
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("invalid evidence file name \"%s\"", name),
					 errdetail("Names are 1 to 99 bytes, without directories.")));
}

/* sealpg.evidence_tar(names text[], contents bytea[]): a ustar archive. */
PG_FUNCTION_INFO_V1(sealpg_evidence_tar);
Datum
sealpg_evidence_tar(PG_FUNCTION_ARGS)
{
	ArrayType  *names = PG_GETARG_ARRAYTYPE_P(0);
	ArrayType  *contents = PG_GETARG_ARRAYTYPE_P(1);
	Datum	   *nv;
	Datum	   *cv;
	bool	   *nn;
	bool	   *cn;
	int			n;
	int			nc;
	int			i;
	int			j;
	StringInfoData out;
	int64		mtime = (int64) timestamptz_to_time_t(GetCurrentTransactionStartTimestamp());
	bytea	   *result;

	if (ARR_NDIM(names) > 1 || ARR_NDIM(contents) > 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("names and contents are one-dimensional arrays")));
	deconstruct_array(names, TEXTOID, -1, false, TYPALIGN_INT, &nv, &nn, &n);
	deconstruct_array(contents, BYTEAOID, -1, false, TYPALIGN_INT, &cv, &cn, &nc);
	if (n != nc || n == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("an evidence package needs as many names as contents, at least one")));

	initStringInfo(&out);
	for (i = 0; i < n; i++)
	{
		char	   *name;
		bytea	   *data;

		if (nn[i] || cn[i])
			ereport(ERROR,
					(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
					 errmsg("evidence file %d has no name or no contents", i + 1)));
		name = TextDatumGetCString(nv[i]);
		check_member_name(name);
		for (j = 0; j < i; j++)
			if (strcmp(name, TextDatumGetCString(nv[j])) == 0)
				ereport(ERROR,
						(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
						 errmsg("evidence file name \"%s\" appears twice", name)));
		data = DatumGetByteaPP(cv[i]);
		tar_member(&out, name, VARDATA_ANY(data), VARSIZE_ANY_EXHDR(data), mtime);
	}
	/* two zero blocks end the archive */
	enlargeStringInfo(&out, 2 * TAR_BLOCK);
	memset(out.data + out.len, 0, 2 * TAR_BLOCK);
	out.len += 2 * TAR_BLOCK;

	result = palloc(VARHDRSZ + out.len);
	SET_VARSIZE(result, VARHDRSZ + out.len);
	memcpy(VARDATA(result), out.data, out.len);
	PG_RETURN_BYTEA_P(result);
}

/* Parse a DER certificate from a bytea, or raise 22023 naming it. */
static X509 *
der_certificate(bytea *der, const char *what)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(der);
	X509	   *cert = d2i_X509(NULL, &p, VARSIZE_ANY_EXHDR(der));

	if (cert == NULL || p != (const unsigned char *) VARDATA_ANY(der) + VARSIZE_ANY_EXHDR(der))
	{
		X509_free(cert);
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the %s is not one DER certificate", what)));
	}
	return cert;
}

/* sealpg.ocsp_request(certificate bytea, issuer bytea): a DER OCSP request, SHA-256 cert id, no nonce. */
PG_FUNCTION_INFO_V1(sealpg_ocsp_request);
Datum
sealpg_ocsp_request(PG_FUNCTION_ARGS)
{
	X509	   *cert = der_certificate(PG_GETARG_BYTEA_PP(0), "certificate");
	X509	   *issuer = NULL;
	OCSP_REQUEST *req = NULL;
	OCSP_CERTID *id = NULL;
	unsigned char *der = NULL;
	int			len = -1;
	bytea	   *result;

	PG_TRY();
	{
		issuer = der_certificate(PG_GETARG_BYTEA_PP(1), "issuer certificate");
	}
	PG_CATCH();
	{
		X509_free(cert);
		PG_RE_THROW();
	}
	PG_END_TRY();

	req = OCSP_REQUEST_new();
	id = OCSP_cert_to_id(EVP_sha256(), cert, issuer);
	if (req != NULL && id != NULL && OCSP_request_add0_id(req, id) != NULL)
	{
		id = NULL;				/* the request owns it now */
		len = i2d_OCSP_REQUEST(req, &der);
	}
	OCSP_CERTID_free(id);
	OCSP_REQUEST_free(req);
	X509_free(issuer);
	X509_free(cert);
	if (len <= 0)
	{
		OPENSSL_free(der);
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_CRYPTO_FAILURE),
				 errmsg("could not build an OCSP request")));
	}
	result = palloc(VARHDRSZ + len);
	SET_VARSIZE(result, VARHDRSZ + len);
	memcpy(VARDATA(result), der, len);
	OPENSSL_free(der);
	PG_RETURN_BYTEA_P(result);
}
