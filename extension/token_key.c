/*-------------------------------------------------------------------------
 *
 * token_key.c
 *	  Making OpenSSL keys of the token provider (token_provider.c): from a
 *	  SubjectPublicKeyInfo and a token reference (label and CKA_ID), or a
 *	  raw signer for tests and benchmarks.
 *
 * The public key is read from the SPKI by the default provider of the
 * token library context; the key itself is made by EVP_PKEY_fromdata on
 * the token provider's key management, with the private parameters that
 * carry the reference (TOKEN_PARAM_* in token_provider.h).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/x509.h>

#include "agent_client.h"
#include "ossl.h"
#include "sealpg.h"
#include "token_provider.h"

/* P-256 public keys are 65 bytes uncompressed; Ed25519 keys 32. */
#define MAX_PUB_LEN				65

/* Which algorithm an SPKI holds. */
SealpgKeyAlg
sealpg_spki_alg(const unsigned char *spki_der, size_t spki_len)
{
	const unsigned char *p = spki_der;
	X509_PUBKEY *xpk;
	ASN1_OBJECT *oid = NULL;
	const void *pval = NULL;
	int			ptype = 0;
	int			nid = NID_undef,
				curve = NID_undef;

	xpk = d2i_X509_PUBKEY(NULL, &p, (long) spki_len);
	if (xpk == NULL || p != spki_der + spki_len)
	{
		X509_PUBKEY_free(xpk);
		ERR_clear_error();
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the public key is not a DER SubjectPublicKeyInfo")));
	}
	if (X509_PUBKEY_get0_param(&oid, NULL, NULL, (X509_ALGOR **) NULL, xpk))
	{
		X509_ALGOR *alg;

		nid = OBJ_obj2nid(oid);
		if (X509_PUBKEY_get0_param(NULL, NULL, NULL, &alg, xpk) && alg != NULL)
		{
			X509_ALGOR_get0(NULL, &ptype, &pval, alg);
			if (ptype == V_ASN1_OBJECT)
				curve = OBJ_obj2nid(pval);
		}
	}
	X509_PUBKEY_free(xpk);
	if (nid == NID_X9_62_id_ecPublicKey && curve == NID_X9_62_prime256v1)
		return SEALPG_KEY_EC_P256;
	if (nid == NID_ED25519)
		return SEALPG_KEY_ED25519;
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("the public key is neither EC P-256 nor Ed25519"),
			 errdetail("Its algorithm is %s.", OBJ_nid2sn(nid))));
	pg_unreachable();
}

/* A token key from its SPKI and the extra parameters (tracked). */
static EVP_PKEY *
make_token_key(const unsigned char *spki_der, size_t spki_len, OSSL_PARAM *extra,
			   int nextra, SealpgOsslTracked **tracked)
{
	OSSL_LIB_CTX *libctx = sealpg_token_libctx();
	SealpgKeyAlg alg = sealpg_spki_alg(spki_der, spki_len);
	const unsigned char *p = spki_der;
	EVP_PKEY   *pub;
	SealpgOsslTracked *pub_t;
	unsigned char pubkey[MAX_PUB_LEN];
	size_t		pub_len = 0;
	EVP_PKEY_CTX *pctx;
	EVP_PKEY   *key = NULL;
	OSSL_PARAM	params[8];
	int			n = 0;

	pub = d2i_PUBKEY_ex(NULL, &p, (long) spki_len, libctx, NULL);
	if (pub == NULL)
		sealpg_ossl_ereport(ERRCODE_INVALID_PARAMETER_VALUE, "could not read the public key");
	pub_t = sealpg_track_pkey(pub);
	if (!EVP_PKEY_get_octet_string_param(pub, OSSL_PKEY_PARAM_PUB_KEY, pubkey,
										 sizeof(pubkey), &pub_len))
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not read the public key");
	sealpg_ossl_free(pub_t);

	if (alg == SEALPG_KEY_EC_P256)
		params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
													   (char *) "prime256v1", 0);
	params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, pubkey, pub_len);
	for (int i = 0; i < nextra; i++)
		params[n++] = extra[i];
	params[n] = OSSL_PARAM_construct_end();

	pctx = EVP_PKEY_CTX_new_from_name(libctx, alg == SEALPG_KEY_EC_P256 ? "EC" : "ED25519",
									  TOKEN_PROPQ);
	if (pctx == NULL ||
		EVP_PKEY_fromdata_init(pctx) <= 0 ||
		EVP_PKEY_fromdata(pctx, &key, EVP_PKEY_KEYPAIR, params) <= 0)
	{
		EVP_PKEY_CTX_free(pctx);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not make a token key");
	}
	EVP_PKEY_CTX_free(pctx);
	*tracked = sealpg_track_pkey(key);
	return key;
}

/*
 * A key on a token.  The EVP_PKEY is tracked on CurrentMemoryContext (see
 * ossl.h): it is freed when that context goes, or by sealpg_ossl_free.
 */
EVP_PKEY *
sealpg_token_key(const char *token, const unsigned char *key_id, size_t len,
				 const unsigned char *spki_der, size_t spki_len)
{
	SealpgOsslTracked *tracked;

	return sealpg_token_key_tracked(token, key_id, len, spki_der, spki_len, &tracked);
}

/* The same, handing back the tracking handle (to free or untrack it). */
EVP_PKEY *
sealpg_token_key_tracked(const char *token, const unsigned char *key_id, size_t len,
						 const unsigned char *spki_der, size_t spki_len,
						 SealpgOsslTracked **tracked)
{
	OSSL_PARAM	extra[2];

	if (strlen(token) == 0 || strlen(token) > SEALPG_MAX_LABEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token label \"%s\" is not 1 to %d bytes long", token, SEALPG_MAX_LABEL)));
	if (len == 0 || len > SEALPG_MAX_KEY_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key id is not 1 to %d bytes long", SEALPG_MAX_KEY_ID)));
	extra[0] = OSSL_PARAM_construct_utf8_string(TOKEN_PARAM_TOKEN, (char *) token, 0);
	extra[1] = OSSL_PARAM_construct_octet_string(TOKEN_PARAM_KEY_ID, (void *) key_id, len);
	return make_token_key(spki_der, spki_len, extra, 2, tracked);
}

/* A key signing through another raw signer (tracked, as above). */
EVP_PKEY *
sealpg_token_key_with_signer(const unsigned char *spki_der, size_t spki_len,
							 SealpgRawSigner signer, void *arg)
{
	SealpgSignerRef	ref;
	OSSL_PARAM	extra[1];
	SealpgOsslTracked *tracked;

	ref.fn = signer;
	ref.arg = arg;
	extra[0] = OSSL_PARAM_construct_octet_string(TOKEN_PARAM_SIGNER, &ref, sizeof(ref));
	return make_token_key(spki_der, spki_len, extra, 1, &tracked);
}
