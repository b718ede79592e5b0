/*-------------------------------------------------------------------------
 *
 * log_sign.c
 *	  What the authority signs for the journal: tree heads (a detached CMS
 *	  signature over the tree head's JSON) and RFC 3161 timestamps from a
 *	  TSA whose key is on the authority's token; the CAdES-T upgrade of a
 *	  seal signature (its timestamp as an unsigned attribute).
 *
 * OpenSSL builds every structure (CMS_sign_ex, TS_RESP_create_response,
 * X509_sign); the keys come from the signing part (authority.h,
 * token_provider.h): EVP_PKEYs whose signing the token does through the
 * agent.  The same code paths run with keys held in memory in
 * sealpg.log_signing_selftest(), which the tests check with the openssl
 * command line.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/bn.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ts.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "utils/builtins.h"
#include "utils/timestamp.h"

#include "authority.h"
#include "journal.h"
#include "ossl.h"
#include "sealpg.h"
#include "token_provider.h"

/* A bytea copy of DER bytes allocated by OpenSSL (which are freed). */
static bytea *
der_to_bytea(unsigned char *der, int len, const char *what)
{
	bytea	   *b;

	if (len <= 0 || der == NULL)
	{
		OPENSSL_free(der);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, what);
	}
	b = palloc(VARHDRSZ + len);
	SET_VARSIZE(b, VARHDRSZ + len);
	memcpy(VARDATA(b), der, len);
	OPENSSL_free(der);
	return b;
}

/* A detached CMS SignedData (DER) over content, by cert and key. */
static bytea *
cms_detached(X509 *cert, EVP_PKEY *key, OSSL_LIB_CTX *libctx,
			 const char *content, int len)
{
	BIO		   *in = BIO_new_mem_buf(content, len);
	SealpgOsslTracked *in_t;
	CMS_ContentInfo *cms;
	SealpgOsslTracked *cms_t;
	unsigned char *der = NULL;
	int			der_len;

	if (in == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	in_t = sealpg_track_bio(in);
	cms = CMS_sign_ex(cert, key, NULL, in, CMS_DETACHED | CMS_BINARY, libctx, NULL);
	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not sign the tree head");
	cms_t = sealpg_track_cms(cms);
	der_len = i2d_CMS_ContentInfo(cms, &der);
	sealpg_ossl_free(cms_t);
	sealpg_ossl_free(in_t);
	return der_to_bytea(der, der_len, "could not encode the tree head signature");
}

/* A fresh random 128-bit serial number for a timestamp token. */
static ASN1_INTEGER *
random_serial(TS_RESP_CTX *ctx, void *arg)
{
	unsigned char bytes[16];
	BIGNUM	   *bn;
	ASN1_INTEGER *serial = NULL;

	if (RAND_bytes(bytes, sizeof(bytes)) != 1)
		goto fail;
	bytes[0] &= 0x7f;			/* positive */
	bn = BN_bin2bn(bytes, sizeof(bytes), NULL);
	if (bn != NULL)
		serial = BN_to_ASN1_INTEGER(bn, NULL);
	BN_free(bn);
	if (serial != NULL)
		return serial;
fail:
	TS_RESP_CTX_set_status_info(ctx, TS_STATUS_REJECTION, "could not make a serial number");
	TS_RESP_CTX_add_failure_info(ctx, TS_INFO_ADD_INFO_NOT_AVAILABLE);
	return NULL;
}

/* An RFC 3161 TimeStampResp (DER) over a SHA-256 digest, by the TSA. */
static bytea *
ts_respond(X509 *tsa, EVP_PKEY *key, STACK_OF(X509) *chain, OSSL_LIB_CTX *libctx,
		   const uint8 *digest)
{
	TS_REQ	   *req = TS_REQ_new();
	SealpgOsslTracked *req_t = sealpg_ossl_track(req, (void (*) (void *)) TS_REQ_free);
	TS_MSG_IMPRINT *imprint = TS_MSG_IMPRINT_new();
	SealpgOsslTracked *imprint_t = sealpg_ossl_track(imprint, (void (*) (void *)) TS_MSG_IMPRINT_free);
	X509_ALGOR *alg = X509_ALGOR_new();
	SealpgOsslTracked *alg_t = sealpg_ossl_track(alg, (void (*) (void *)) X509_ALGOR_free);
	BIO		   *req_bio = BIO_new(BIO_s_mem());
	SealpgOsslTracked *bio_t = sealpg_track_bio(req_bio);
	TS_RESP_CTX *ctx = TS_RESP_CTX_new_ex(libctx, NULL);
	SealpgOsslTracked *ctx_t = sealpg_ossl_track(ctx, (void (*) (void *)) TS_RESP_CTX_free);
	ASN1_OBJECT *policy = OBJ_txt2obj(sealpg_tsa_policy ? sealpg_tsa_policy : "2.999.1", 1);
	SealpgOsslTracked *policy_t = sealpg_track_asn1_object(policy);
	TS_RESP    *resp;
	SealpgOsslTracked *resp_t;
	unsigned char *der = NULL;
	int			len;

	if (req == NULL || imprint == NULL || alg == NULL || req_bio == NULL || ctx == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	if (policy == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("sealpg.tsa_policy \"%s\" is not an object identifier", sealpg_tsa_policy)));

	/* the request, as a client would send it: SHA-256 imprint, certificate wanted */
	if (X509_ALGOR_set0(alg, OBJ_nid2obj(NID_sha256), V_ASN1_NULL, NULL) != 1 ||
		TS_MSG_IMPRINT_set_algo(imprint, alg) != 1 ||
		TS_MSG_IMPRINT_set_msg(imprint, (unsigned char *) digest, JOURNAL_HASH_LEN) != 1 ||
		TS_REQ_set_version(req, 1) != 1 ||
		TS_REQ_set_msg_imprint(req, imprint) != 1 ||
		TS_REQ_set_cert_req(req, 1) != 1 ||
		i2d_TS_REQ_bio(req_bio, req) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the timestamp request");

	if (TS_RESP_CTX_set_signer_cert(ctx, tsa) != 1 ||
		TS_RESP_CTX_set_signer_key(ctx, key) != 1 ||
		(chain != NULL && TS_RESP_CTX_set_certs(ctx, chain) != 1) ||
		TS_RESP_CTX_set_signer_digest(ctx, EVP_sha256()) != 1 ||
		TS_RESP_CTX_set_ess_cert_id_digest(ctx, EVP_sha256()) != 1 ||
		TS_RESP_CTX_set_def_policy(ctx, policy) != 1 ||
		TS_RESP_CTX_add_md(ctx, EVP_sha256()) != 1 ||
		TS_RESP_CTX_set_accuracy(ctx, 1, 0, 0) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not set up the timestamp authority");
	TS_RESP_CTX_set_serial_cb(ctx, random_serial, NULL);

	resp = TS_RESP_create_response(ctx, req_bio);
	if (resp == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not make the timestamp");
	resp_t = sealpg_ossl_track(resp, (void (*) (void *)) TS_RESP_free);
	if (ASN1_INTEGER_get(TS_STATUS_INFO_get0_status(TS_RESP_get_status_info(resp))) != TS_STATUS_GRANTED)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "the timestamp authority refused the request");
	len = i2d_TS_RESP(resp, &der);
	sealpg_ossl_free(resp_t);
	sealpg_ossl_free(policy_t);
	sealpg_ossl_free(ctx_t);
	sealpg_ossl_free(bio_t);
	sealpg_ossl_free(alg_t);
	sealpg_ossl_free(imprint_t);
	sealpg_ossl_free(req_t);
	return der_to_bytea(der, len, "could not encode the timestamp");
}

/* The CMS signature with the timestamp token added as CAdES-T (DER). */
static bytea *
cades_t(bytea *signature, bytea *ts_response)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(signature);
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, VARSIZE_ANY_EXHDR(signature));
	SealpgOsslTracked *cms_t;
	TS_RESP    *resp;
	SealpgOsslTracked *resp_t;
	unsigned char *token_der = NULL;
	int			token_len;
	STACK_OF(CMS_SignerInfo) *sis;
	unsigned char *der = NULL;
	int			len;

	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "the signature is not a CMS structure");
	cms_t = sealpg_track_cms(cms);
	p = (const unsigned char *) VARDATA_ANY(ts_response);
	resp = d2i_TS_RESP(NULL, &p, VARSIZE_ANY_EXHDR(ts_response));
	if (resp == NULL || TS_RESP_get_token(resp) == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "the timestamp is not a granted TimeStampResp");
	resp_t = sealpg_ossl_track(resp, (void (*) (void *)) TS_RESP_free);
	token_len = i2d_PKCS7(TS_RESP_get_token(resp), &token_der);
	if (token_len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the timestamp token");
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1 ||
		CMS_unsigned_add1_attr_by_NID(sk_CMS_SignerInfo_value(sis, 0),
									  NID_id_smime_aa_timeStampToken, V_ASN1_SEQUENCE,
									  token_der, token_len) != 1)
	{
		OPENSSL_free(token_der);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not add the timestamp to the signature");
	}
	OPENSSL_free(token_der);
	len = i2d_CMS_ContentInfo(cms, &der);
	sealpg_ossl_free(resp_t);
	sealpg_ossl_free(cms_t);
	return der_to_bytea(der, len, "could not encode the CAdES-T signature");
}

/* SHA-256 of the (single) SignerInfo's signature value: a CAdES-T imprint. */
static void
signature_value_digest(bytea *signature, uint8 *digest)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(signature);
	CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, VARSIZE_ANY_EXHDR(signature));
	SealpgOsslTracked *cms_t;
	STACK_OF(CMS_SignerInfo) *sis;
	ASN1_OCTET_STRING *value;
	StringInfoData data;

	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "the signature is not a CMS structure");
	cms_t = sealpg_track_cms(cms);
	sis = CMS_get0_SignerInfos(cms);
	if (sk_CMS_SignerInfo_num(sis) != 1)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a seal signature has exactly one signer")));
	value = CMS_SignerInfo_get0_signature(sk_CMS_SignerInfo_value(sis, 0));
	data.data = (char *) ASN1_STRING_get0_data(value);
	data.len = ASN1_STRING_length(value);
	journal_hashes(&data, digest, NULL);
	sealpg_ossl_free(cms_t);
}

/* Read one bytea column of one row (SPI connected); NULL when absent. */
static bytea *
spi_bytea(const char *query, MemoryContext cxt)
{
	bool		isnull;
	Datum		d;

	if (SPI_execute(query, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "query failed: %s", query);
	if (SPI_processed == 0)
		return NULL;
	d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);
	if (isnull)
		return NULL;
	{
		MemoryContext old = MemoryContextSwitchTo(cxt);
		bytea	   *b = DatumGetByteaPCopy(d);

		MemoryContextSwitchTo(old);
		return b;
	}
}

/* A DER certificate as a tracked X509. */
static X509 *
x509_from_der(bytea *der, const char *what)
{
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(der);
	X509	   *cert = d2i_X509(NULL, &p, VARSIZE_ANY_EXHDR(der));

	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_DATA_CORRUPTED, what);
	(void) sealpg_track_x509(cert);
	return cert;
}

/* sealpg.authority_sign_detached(content): the authority's detached CMS over it. */
PG_FUNCTION_INFO_V1(sealpg_authority_sign_detached);
Datum
sealpg_authority_sign_detached(PG_FUNCTION_ARGS)
{
	bytea	   *content = PG_GETARG_BYTEA_PP(0);
	X509	   *cert;
	EVP_PKEY   *key;

	sealpg_authority_load(&cert, &key);
	PG_RETURN_BYTEA_P(cms_detached(cert, key, sealpg_token_libctx(),
								   VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content)));
}

/* sealpg.timestamp(digest): an RFC 3161 TimeStampResp of this database's TSA. */
PG_FUNCTION_INFO_V1(sealpg_timestamp);
Datum
sealpg_timestamp(PG_FUNCTION_ARGS)
{
	bytea	   *digest = PG_GETARG_BYTEA_PP(0);
	MemoryContext cxt = CurrentMemoryContext;
	bytea	   *tsa_der;
	bytea	   *authority_der;
	bytea	   *key_id;
	bytea	   *spki;
	char	   *token = NULL;
	X509	   *tsa;
	STACK_OF(X509) *chain;
	EVP_PKEY   *key;

	if (VARSIZE_ANY_EXHDR(digest) != JOURNAL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a timestamp is made over a 32-byte SHA-256 digest")));
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	tsa_der = spi_bytea("SELECT certificate::bytea FROM sealpg.tsa", cxt);
	if (tsa_der == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NO_AUTHORITY),
				 errmsg("this database has no timestamp authority"),
				 errhint("Create it with sealpg.tsa_init().")));
	key_id = spi_bytea("SELECT key_id FROM sealpg.tsa", cxt);
	spki = spi_bytea("SELECT spki FROM sealpg.tsa", cxt);
	{
		bytea	   *label = spi_bytea("SELECT convert_to(token_label, 'UTF8') FROM sealpg.tsa", cxt);

		token = MemoryContextAlloc(cxt, VARSIZE_ANY_EXHDR(label) + 1);
		memcpy(token, VARDATA_ANY(label), VARSIZE_ANY_EXHDR(label));
		token[VARSIZE_ANY_EXHDR(label)] = '\0';
	}
	authority_der = spi_bytea("SELECT certificate::bytea FROM sealpg.authority", cxt);
	SPI_finish();
	if (authority_der == NULL || key_id == NULL || spki == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NO_AUTHORITY),
				 errmsg("this database has no seal authority")));

	tsa = x509_from_der(tsa_der, "the TSA certificate is damaged");
	chain = sk_X509_new_null();
	if (chain == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	(void) sealpg_track_x509_stack(chain);
	{
		X509	   *authority = x509_from_der(authority_der, "the authority certificate is damaged");

		/* the stack frees what it holds: give it a reference of its own */
		if (X509_up_ref(authority) != 1 || !sk_X509_push(chain, authority))
			sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	}
	key = sealpg_token_key(token, (unsigned char *) VARDATA_ANY(key_id), VARSIZE_ANY_EXHDR(key_id),
						   (unsigned char *) VARDATA_ANY(spki), VARSIZE_ANY_EXHDR(spki));
	PG_RETURN_BYTEA_P(ts_respond(tsa, key, chain, sealpg_token_libctx(), (uint8 *) VARDATA_ANY(digest)));
}

/* Add an extension given in OpenSSL's configuration syntax. */
static void
add_ext(X509 *cert, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *ext = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	bool		ok = ext != NULL && X509_add_ext(cert, ext, -1) == 1;

	X509_EXTENSION_free(ext);
	if (!ok)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not add a certificate extension");
}

/* A TSA certificate for the public key, issued by issuer (self-signed when NULL). */
static X509 *
tsa_certificate(EVP_PKEY *subject_key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
				OSSL_LIB_CTX *libctx, int days, bool ca)
{
	X509	   *cert = X509_new_ex(libctx, NULL);
	X509_NAME  *name = X509_NAME_new();
	X509V3_CTX	v3;
	unsigned char serial[16];
	BIGNUM	   *bn;
	bool		ok;

	if (cert == NULL || name == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	(void) sealpg_track_x509(cert);
	(void) sealpg_ossl_track(name, (void (*) (void *)) X509_NAME_free);
	if (RAND_bytes(serial, sizeof(serial)) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not make a serial number");
	serial[0] &= 0x7f;
	bn = BN_bin2bn(serial, sizeof(serial), NULL);
	ok = bn != NULL && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert)) != NULL;
	BN_free(bn);
	if (!ok ||
		X509_set_version(cert, X509_VERSION_3) != 1 ||
		X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *) cn, -1, -1, 0) != 1 ||
		X509_set_subject_name(cert, name) != 1 ||
		X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer) : name) != 1 ||
		X509_gmtime_adj(X509_getm_notBefore(cert), -300) == NULL ||
		X509_time_adj_ex(X509_getm_notAfter(cert), days, 0, NULL) == NULL ||
		X509_set_pubkey(cert, subject_key) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the certificate");
	/* an issued certificate ends no later than its issuer */
	if (issuer != NULL && ASN1_TIME_compare(X509_get0_notAfter(cert), X509_get0_notAfter(issuer)) > 0 &&
		X509_set1_notAfter(cert, X509_get0_notAfter(issuer)) != 1)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the certificate");
	X509V3_set_ctx(&v3, issuer ? issuer : cert, cert, NULL, NULL, 0);
	if (ca)
	{
		add_ext(cert, &v3, NID_basic_constraints, "critical,CA:TRUE");
		add_ext(cert, &v3, NID_key_usage, "critical,keyCertSign,cRLSign,digitalSignature");
	}
	else
	{
		add_ext(cert, &v3, NID_basic_constraints, "critical,CA:FALSE");
		add_ext(cert, &v3, NID_key_usage, "critical,digitalSignature,nonRepudiation");
		add_ext(cert, &v3, NID_ext_key_usage, "critical,timeStamping");
	}
	add_ext(cert, &v3, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(cert, &v3, NID_authority_key_identifier, "keyid:always");
	if (X509_sign(cert, issuer_key, EVP_sha256()) <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not sign the certificate");
	return cert;
}

/* sealpg.tsa_issue(spki, name, days): the authority's TSA certificate (DER) for a token key. */
PG_FUNCTION_INFO_V1(sealpg_tsa_issue);
Datum
sealpg_tsa_issue(PG_FUNCTION_ARGS)
{
	bytea	   *spki = PG_GETARG_BYTEA_PP(0);
	char	   *cn = text_to_cstring(PG_GETARG_TEXT_PP(1));
	int32		days = PG_GETARG_INT32(2);
	const unsigned char *p = (const unsigned char *) VARDATA_ANY(spki);
	EVP_PKEY   *pub = d2i_PUBKEY(NULL, &p, VARSIZE_ANY_EXHDR(spki));
	X509	   *authority;
	EVP_PKEY   *key;
	X509	   *cert;
	unsigned char *der = NULL;
	int			len;

	if (pub == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "the TSA key is not a SubjectPublicKeyInfo");
	(void) sealpg_track_pkey(pub);
	if (days < 1 || days > 36500)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a TSA certificate is valid for 1 to 36500 days")));
	sealpg_authority_load(&authority, &key);
	cert = tsa_certificate(pub, cn, authority, key, sealpg_token_libctx(), days, false);
	len = i2d_X509(cert, &der);
	PG_RETURN_BYTEA_P(der_to_bytea(der, len, "could not encode the TSA certificate"));
}

/* sealpg.signature_value_digest(cms): SHA-256 of its signature value (CAdES-T imprint). */
PG_FUNCTION_INFO_V1(sealpg_signature_value_digest);
Datum
sealpg_signature_value_digest(PG_FUNCTION_ARGS)
{
	uint8		digest[JOURNAL_HASH_LEN];
	bytea	   *result = palloc(VARHDRSZ + JOURNAL_HASH_LEN);

	signature_value_digest(PG_GETARG_BYTEA_PP(0), digest);
	SET_VARSIZE(result, VARHDRSZ + JOURNAL_HASH_LEN);
	memcpy(VARDATA(result), digest, JOURNAL_HASH_LEN);
	PG_RETURN_BYTEA_P(result);
}

/* sealpg.cades_t(cms, timestamp): the signature with its timestamp token added. */
PG_FUNCTION_INFO_V1(sealpg_cades_t);
Datum
sealpg_cades_t(PG_FUNCTION_ARGS)
{
	PG_RETURN_BYTEA_P(cades_t(PG_GETARG_BYTEA_PP(0), PG_GETARG_BYTEA_PP(1)));
}

/* A fresh EC P-256 key held in memory (self-test only). */
static EVP_PKEY *
memory_key(void)
{
	EVP_PKEY   *key = EVP_EC_gen("P-256");

	if (key == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not generate a key");
	(void) sealpg_track_pkey(key);
	return key;
}

/* PEM text of a certificate. */
static text *
certificate_pem(X509 *cert)
{
	unsigned char *der = NULL;
	int			len = i2d_X509(cert, &der);
	char	   *pem;

	if (len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode a certificate");
	pem = sealpg_pem_encode("CERTIFICATE", der, len);
	OPENSSL_free(der);
	return cstring_to_text(pem);
}

/*
 * sealpg.log_signing_selftest(digest, content): the code paths of tree head
 * signatures and timestamps, with an authority and a TSA whose keys are
 * made in memory for this call and thrown away.
 */
PG_FUNCTION_INFO_V1(sealpg_log_signing_selftest);
Datum
sealpg_log_signing_selftest(PG_FUNCTION_ARGS)
{
	bytea	   *digest = PG_GETARG_BYTEA_PP(0);
	bytea	   *content = PG_GETARG_BYTEA_PP(1);
	TupleDesc	desc;
	Datum		values[4];
	bool		nulls[4] = {false, false, false, false};
	EVP_PKEY   *ca_key;
	EVP_PKEY   *tsa_key;
	X509	   *ca;
	X509	   *tsa;
	STACK_OF(X509) *chain;
	bytea	   *signature;

	if (VARSIZE_ANY_EXHDR(digest) != JOURNAL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("a timestamp is made over a 32-byte SHA-256 digest")));
	if (get_call_result_type(fcinfo, NULL, &desc) != TYPEFUNC_COMPOSITE)
		elog(ERROR, "log_signing_selftest must return a record");
	desc = BlessTupleDesc(desc);

	ca_key = memory_key();
	tsa_key = memory_key();
	ca = tsa_certificate(ca_key, "sealpg self-test authority", NULL, ca_key, NULL, 1, true);
	tsa = tsa_certificate(tsa_key, "sealpg self-test TSA", ca, ca_key, NULL, 1, false);
	chain = sk_X509_new_null();
	if (chain == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");
	(void) sealpg_track_x509_stack(chain);
	/* the stack frees what it holds: give it a reference of its own */
	if (X509_up_ref(ca) != 1 || !sk_X509_push(chain, ca))
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "out of memory");

	signature = cms_detached(ca, ca_key, NULL, VARDATA_ANY(content), VARSIZE_ANY_EXHDR(content));
	values[0] = PointerGetDatum(certificate_pem(ca));
	values[1] = PointerGetDatum(ts_respond(tsa, tsa_key, chain, NULL, (uint8 *) VARDATA_ANY(digest)));
	values[2] = PointerGetDatum(signature);
	/* the tree head signature timestamped and upgraded, as timestamp_signature does */
	{
		uint8		imprint[JOURNAL_HASH_LEN];

		signature_value_digest(signature, imprint);
		values[3] = PointerGetDatum(cades_t(signature, ts_respond(tsa, tsa_key, chain, NULL, imprint)));
	}
	PG_RETURN_DATUM(HeapTupleGetDatum(heap_form_tuple(desc, values, nulls)));
}
