/*-------------------------------------------------------------------------
 *
 * token_selftest.c
 *	  sealpg.token_provider_selftest(): the token provider checked without
 *	  any token.  A key held in memory by OpenSSL's default provider stands
 *	  in for the chip, behind the same raw-signer callback the agent sits
 *	  behind (raw r||s for ECDSA, raw 64 bytes for Ed25519); through the
 *	  provider it signs a certificate (P-256 and Ed25519) and a detached
 *	  CMS SignedData (P-256), each then verified by OpenSSL.
 *
 * When signing fails, this tells whether the provider or the agent/token
 * is at fault.  Internal (revoked from PUBLIC); the regression test runs it.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/cms.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "fmgr.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"

#include "ossl.h"
#include "sealpg.h"
#include "token_provider.h"

/* The in-memory stand-in for a token: sign like the chip does. */
static void
memory_signer(void *arg, SealpgKeyAlg alg, const unsigned char *input, size_t input_len,
			  unsigned char *sig, size_t *sig_len)
{
	EVP_PKEY   *key = arg;
	unsigned char der[80];
	size_t		der_len = sizeof(der);

	if (alg == SEALPG_KEY_ED25519)
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();
		bool		ok = md != NULL &&
			EVP_DigestSignInit(md, NULL, NULL, NULL, key) == 1 &&
			EVP_DigestSign(md, sig, sig_len, input, input_len) == 1;

		EVP_MD_CTX_free(md);
		if (!ok)
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "the in-memory Ed25519 key did not sign");
		return;
	}
	else
	{
		EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(key, NULL);
		const unsigned char *p = der;
		ECDSA_SIG  *es;
		const BIGNUM *r,
				   *s;
		bool		ok = ctx != NULL &&
			EVP_PKEY_sign_init(ctx) == 1 &&
			EVP_PKEY_sign(ctx, der, &der_len, input, input_len) == 1;

		EVP_PKEY_CTX_free(ctx);
		if (!ok)
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "the in-memory P-256 key did not sign");
		/* raw r||s, as PKCS#11 CKM_ECDSA returns it */
		es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
		if (es == NULL || *sig_len < 64)
		{
			ECDSA_SIG_free(es);
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not decode the in-memory signature");
		}
		ECDSA_SIG_get0(es, &r, &s);
		ok = BN_bn2binpad(r, sig, 32) == 32 && BN_bn2binpad(s, sig + 32, 32) == 32;
		ECDSA_SIG_free(es);
		if (!ok)
			sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the raw signature");
		*sig_len = 64;
	}
}

/* A fresh in-memory key of the default provider (tracked). */
static EVP_PKEY *
memory_key(SealpgKeyAlg alg)
{
	EVP_PKEY   *key = alg == SEALPG_KEY_EC_P256 ? EVP_EC_gen("P-256") : EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");

	if (key == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not generate an in-memory key");
	sealpg_track_pkey(key);
	return key;
}

/* The provider key that signs through memory_signer with the given key. */
static EVP_PKEY *
provider_key(EVP_PKEY *memkey)
{
	unsigned char *spki = NULL;
	int			len = i2d_PUBKEY(memkey, &spki);
	EVP_PKEY   *key;

	if (len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the public key");
	sealpg_track_openssl_memory(spki);
	key = sealpg_token_key_with_signer(spki, (size_t) len, memory_signer, memkey);
	return key;
}

/* A self-signed certificate made through the provider; verified. */
static const char *
check_certificate(SealpgKeyAlg alg)
{
	EVP_PKEY   *memkey = memory_key(alg);
	EVP_PKEY   *key = provider_key(memkey);
	X509	   *cert = X509_new();
	X509_NAME  *name;

	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a certificate");
	sealpg_track_x509(cert);
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
		!ASN1_INTEGER_set(X509_get_serialNumber(cert), 1) ||
		!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
									(const unsigned char *) "selftest", -1, -1, 0) ||
		!X509_set_issuer_name(cert, name) ||
		X509_gmtime_adj(X509_getm_notBefore(cert), 0) == NULL ||
		X509_gmtime_adj(X509_getm_notAfter(cert), 3600) == NULL ||
		!X509_set_pubkey(cert, memkey))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the certificate");
	ERR_clear_error();
	if (X509_sign(cert, key, alg == SEALPG_KEY_EC_P256 ? EVP_sha256() : NULL) <= 0)
		sealpg_token_sign_failed("the provider could not sign a certificate");
	if (X509_verify(cert, memkey) != 1)
		return "certificate signature does not verify";
	return "ok";
}

/* A detached CMS SignedData made through the provider; verified. */
static const char *
check_cms(void)
{
	static const char doc[] = "sealpg token provider self-test";
	EVP_PKEY   *memkey = memory_key(SEALPG_KEY_EC_P256);
	EVP_PKEY   *key = provider_key(memkey);
	X509	   *cert = X509_new();
	X509_NAME  *name;
	BIO		   *data;
	CMS_ContentInfo *cms;
	X509_STORE *store;
	int			flags = CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP | CMS_CADES;
	unsigned char *der = NULL;
	const unsigned char *p;
	int			der_len;

	if (cert == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a certificate");
	sealpg_track_x509(cert);
	name = X509_get_subject_name(cert);
	if (!X509_set_version(cert, X509_VERSION_3) ||
		!ASN1_INTEGER_set(X509_get_serialNumber(cert), 2) ||
		!X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
									(const unsigned char *) "selftest", -1, -1, 0) ||
		!X509_set_issuer_name(cert, name) ||
		X509_gmtime_adj(X509_getm_notBefore(cert), -60) == NULL ||
		X509_gmtime_adj(X509_getm_notAfter(cert), 3600) == NULL ||
		!X509_set_pubkey(cert, memkey) ||
		X509_sign(cert, memkey, EVP_sha256()) <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not build the certificate");

	data = BIO_new_mem_buf(doc, (int) strlen(doc));
	if (data == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a buffer");
	sealpg_track_bio(data);
	ERR_clear_error();
	cms = CMS_sign(cert, key, NULL, data, flags);
	if (cms == NULL)
		sealpg_token_sign_failed("the provider could not sign a CMS SignedData");
	sealpg_track_cms(cms);
	/* verify what a relying party gets: the DER, read back */
	der_len = i2d_CMS_ContentInfo(cms, &der);
	if (der_len <= 0)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not encode the CMS SignedData");
	sealpg_track_openssl_memory(der);
	p = der;
	cms = d2i_CMS_ContentInfo(NULL, &p, der_len);
	if (cms == NULL)
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not read the CMS SignedData back");
	sealpg_track_cms(cms);

	store = X509_STORE_new();
	if (store == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a store");
	sealpg_ossl_track(store, (void (*) (void *)) X509_STORE_free);
	if (!X509_STORE_add_cert(store, cert))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not prepare the verification");
	data = BIO_new_mem_buf(doc, (int) strlen(doc));
	if (data == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a buffer");
	sealpg_track_bio(data);
	ERR_clear_error();
	if (CMS_verify(cms, NULL, store, data, NULL, CMS_BINARY) != 1)
		return psprintf("CMS does not verify: %s", sealpg_ossl_error_reason());
	return "ok";
}

/* sealpg.token_provider_selftest() -> text: one line per check. */
PG_FUNCTION_INFO_V1(sealpg_token_provider_selftest);
Datum
sealpg_token_provider_selftest(PG_FUNCTION_ARGS)
{
	StringInfoData out;

	initStringInfo(&out);
	appendStringInfo(&out, "certificate P-256: %s\n", check_certificate(SEALPG_KEY_EC_P256));
	appendStringInfo(&out, "certificate Ed25519: %s\n", check_certificate(SEALPG_KEY_ED25519));
	appendStringInfo(&out, "CMS P-256: %s", check_cms());
	PG_RETURN_TEXT_P(cstring_to_text(out.data));
}
