/*-------------------------------------------------------------------------
 *
 * token_provider.c
 *	  An OpenSSL 3 provider whose EC P-256 and Ed25519 keys sign through
 *	  sealpg-agent, so that OpenSSL builds every structure (certificates,
 *	  requests, CRLs, OCSP responses, CMS SignedData) and only the raw
 *	  signature comes from the token.
 *
 * Why a provider and not an EC_KEY_METHOD.  Both were tried on OpenSSL
 * 3.0.  An EC_KEY_METHOD is shorter but belongs to the deprecated
 * low-level API, covers ECDSA only (no Ed25519 for certificates and CRLs)
 * and attaches to keys of the default library context.  A provider is the
 * supported extension point of OpenSSL 3, serves both algorithms through
 * the same EVP calls, and lives in a library context of its own
 * (OSSL_LIB_CTX_new with the default provider plus this one), so nothing
 * else in the process - pgcrypto, libpq's TLS, sslinfo - can ever pick
 * its keys by accident.  The context is made lazily in each backend and
 * never in the postmaster: the agent connection under it does not survive
 * fork().
 *
 * What the provider offers:
 *	- key management "EC" and "ED25519": public-only keys (for comparison
 *	  with a certificate) and token keys (public key plus token label and
 *	  CKA_ID, or a raw signer for tests).  Export refuses any selection
 *	  that includes the private key, so OpenSSL never tries to copy a
 *	  token key to the default provider; it then compares keys the other
 *	  way round, by importing the certificate's public key here.
 *	- signature "ECDSA" (sign over a digest, and digest-sign with a
 *	  digest computed here) and "ED25519" (one-shot digest-sign).  The
 *	  token returns ECDSA signatures as raw r||s; they are DER-encoded
 *	  here (ECDSA_SIG_set0 + i2d_ECDSA_SIG) as X.509 and CMS require.
 *
 * Errors.  The agent client reports failures with ereport, which must not
 * longjmp through OpenSSL's frames (OpenSSL would be left with half-done
 * state and leaked memory).  The sign step therefore runs the raw signer
 * inside PG_TRY, keeps a copy of the error, and returns failure to
 * OpenSSL; sealpg_token_sign_failed() raises the kept error once OpenSSL
 * has unwound.  The code in the PG_TRY block holds no locks or buffers,
 * so catching its error without a subtransaction is safe.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/core_dispatch.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/params.h>
#include <openssl/provider.h>
#include <openssl/x509.h>

#include "access/xact.h"
#include "utils/memutils.h"

#include "agent_client.h"
#include "ossl.h"
#include "sealpg.h"
#include "token_provider.h"

#define TOKEN_PROVIDER_NAME		"sealpg-token"

/* P-256 public keys are 65 bytes uncompressed; Ed25519 keys 32. */
#define MAX_PUB_LEN				65
#define P256_FIELD_LEN			32
/* DER ECDSA-Sig-Value for P-256: at most 72 bytes. */
#define P256_DER_SIG_MAX		72
#define RAW_SIG_MAX				SEALPG_MAX_SIGNATURE

/* Key data of this provider (allocated with OpenSSL's allocator). */
typedef struct TokenKey
{
	SealpgKeyAlg alg;
	unsigned char pub[MAX_PUB_LEN];
	size_t		pub_len;
	bool		can_sign;		/* token reference or raw signer present */
	char		token[SEALPG_MAX_LABEL + 1];
	unsigned char key_id[SEALPG_MAX_KEY_ID];
	size_t		key_id_len;
	SealpgSignerRef	signer;			/* fn NULL: the agent */
} TokenKey;

/* Signature operation context. */
typedef struct TokenSigCtx
{
	SealpgKeyAlg alg;
	TokenKey   *key;
	EVP_MD	   *md;
	EVP_MD_CTX *mdctx;
} TokenSigCtx;

static OSSL_LIB_CTX *token_libctx = NULL;

/* The error caught while the token signed, waiting to be re-raised. */
static MemoryContext pending_cxt = NULL;
static ErrorData *pending_error = NULL;

/* ---------------------------------------------------------------------
 * Raw signing and error keeping
 * ---------------------------------------------------------------------
 */

/* The production raw signer: the agent's SIGN request. */
static void
agent_raw_sign(const TokenKey *key, const unsigned char *input, size_t input_len,
			   unsigned char *sig, size_t *sig_len)
{
	unsigned char *raw;
	size_t		raw_len = 0;

	raw = sealpg_agent_sign(key->token, key->key_id, key->key_id_len,
							key->alg == SEALPG_KEY_EC_P256 ? "ecdsa" : "eddsa",
							input, input_len, &raw_len);
	if (raw_len > *sig_len)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("the agent returned a %zu-byte signature", raw_len)));
	memcpy(sig, raw, raw_len);
	*sig_len = raw_len;
	pfree(raw);
}

/* Run the key's raw signer; false (error kept) when it raised an error. */
static bool
raw_sign_caught(const TokenKey *key, const unsigned char *input, size_t input_len,
				unsigned char *sig, size_t *sig_len)
{
	MemoryContext oldcxt = CurrentMemoryContext;
	volatile bool ok = true;

	PG_TRY();
	{
		if (key->signer.fn != NULL)
			key->signer.fn(key->signer.arg, key->alg, input, input_len, sig, sig_len);
		else
			agent_raw_sign(key, input, input_len, sig, sig_len);
	}
	PG_CATCH();
	{
		/* keep only the newest error */
		pending_error = NULL;
		MemoryContextReset(pending_cxt);
		MemoryContextSwitchTo(pending_cxt);
		pending_error = CopyErrorData();
		FlushErrorState();
		MemoryContextSwitchTo(oldcxt);
		ok = false;
	}
	PG_END_TRY();
	return ok;
}

/* Forget a kept error at the end of each transaction: it belonged to it. */
static void
forget_pending_error(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_COMMIT || event == XACT_EVENT_ABORT ||
		event == XACT_EVENT_PARALLEL_COMMIT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_PREPARE)
	{
		pending_error = NULL;
		if (pending_cxt != NULL)
			MemoryContextReset(pending_cxt);
	}
}

/* Re-raise the kept token error, else report OpenSSL's error queue. */
void
sealpg_token_sign_failed(const char *what)
{
	if (pending_error != NULL)
	{
		ErrorData  *edata = pending_error;

		pending_error = NULL;
		ERR_clear_error();
		ReThrowError(edata);
	}
	sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, what);
}

/* DER-encode a raw r||s ECDSA signature into out (at most *out_len bytes). */
static bool
ecdsa_raw_to_der(const unsigned char *raw, size_t raw_len,
				 unsigned char *out, size_t *out_len)
{
	ECDSA_SIG  *es;
	BIGNUM	   *r,
			   *s;
	unsigned char *p;
	int			len;

	if (raw_len != 2 * P256_FIELD_LEN)
		return false;
	es = ECDSA_SIG_new();
	r = BN_bin2bn(raw, P256_FIELD_LEN, NULL);
	s = BN_bin2bn(raw + P256_FIELD_LEN, P256_FIELD_LEN, NULL);
	if (es == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(es, r, s))
	{
		BN_free(r);
		BN_free(s);
		ECDSA_SIG_free(es);
		return false;
	}
	/* es owns r and s from here */
	len = i2d_ECDSA_SIG(es, NULL);
	if (len <= 0 || (size_t) len > *out_len)
	{
		ECDSA_SIG_free(es);
		return false;
	}
	p = out;
	len = i2d_ECDSA_SIG(es, &p);
	ECDSA_SIG_free(es);
	if (len <= 0)
		return false;
	*out_len = (size_t) len;
	return true;
}

/* Sign input with a key; sig gets DER (ECDSA) or raw (Ed25519) bytes. */
static int
token_key_sign(const TokenKey *key, unsigned char *sig, size_t *siglen,
			   size_t sigsize, const unsigned char *input, size_t input_len)
{
	unsigned char raw[RAW_SIG_MAX];
	size_t		raw_len = sizeof(raw);

	if (!key->can_sign)
	{
		ERR_raise_data(ERR_LIB_PROV, ERR_R_PASSED_INVALID_ARGUMENT,
					   "key has no token reference");
		return 0;
	}
	if (!raw_sign_caught(key, input, input_len, raw, &raw_len))
	{
		ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL, "the token did not sign");
		return 0;
	}
	if (key->alg == SEALPG_KEY_EC_P256)
	{
		*siglen = sigsize;
		if (!ecdsa_raw_to_der(raw, raw_len, sig, siglen))
		{
			ERR_raise_data(ERR_LIB_PROV, ERR_R_OPERATION_FAIL,
						   "the token returned a %zu-byte ECDSA signature", raw_len);
			return 0;
		}
		return 1;
	}
	if (raw_len > sigsize)
		return 0;
	memcpy(sig, raw, raw_len);
	*siglen = raw_len;
	return 1;
}

/* ---------------------------------------------------------------------
 * Key management
 * ---------------------------------------------------------------------
 */

/* New empty key of an algorithm. */
static void *
key_new(SealpgKeyAlg alg)
{
	TokenKey   *key = OPENSSL_zalloc(sizeof(TokenKey));

	if (key != NULL)
		key->alg = alg;
	return key;
}

/* keymgmt new for EC. */
static void *
ec_key_new(void *provctx)
{
	return key_new(SEALPG_KEY_EC_P256);
}

/* keymgmt new for Ed25519. */
static void *
ed_key_new(void *provctx)
{
	return key_new(SEALPG_KEY_ED25519);
}

/* keymgmt free. */
static void
key_free(void *keydata)
{
	OPENSSL_clear_free(keydata, sizeof(TokenKey));
}

/* keymgmt has: the public key always once imported, private if it signs. */
static int
key_has(const void *keydata, int selection)
{
	const TokenKey *key = keydata;

	if (key == NULL)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY) && key->pub_len == 0)
		return 0;
	if ((selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY) && !key->can_sign)
		return 0;
	return 1;
}

/* keymgmt match: same algorithm and public key. */
static int
key_match(const void *a, const void *b, int selection)
{
	const TokenKey *ka = a;
	const TokenKey *kb = b;

	return ka->alg == kb->alg && ka->pub_len == kb->pub_len &&
		memcmp(ka->pub, kb->pub, ka->pub_len) == 0;
}

/* keymgmt import: public key (and group), plus the token reference. */
static int
key_import(void *keydata, int selection, const OSSL_PARAM params[])
{
	TokenKey   *key = keydata;
	const OSSL_PARAM *p;
	void	   *buf;
	size_t		len;

	if (key->alg == SEALPG_KEY_EC_P256)
	{
		const char *group = NULL;

		p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_GROUP_NAME);
		if (p == NULL || !OSSL_PARAM_get_utf8_string_ptr(p, &group) ||
			(strcmp(group, "prime256v1") != 0 && strcmp(group, "P-256") != 0))
			return 0;
	}
	p = OSSL_PARAM_locate_const(params, OSSL_PKEY_PARAM_PUB_KEY);
	buf = key->pub;
	if (p == NULL ||
		!OSSL_PARAM_get_octet_string(p, &buf, sizeof(key->pub), &key->pub_len))
		return 0;
	if (key->alg == SEALPG_KEY_EC_P256 ? key->pub_len != 65 : key->pub_len != 32)
		return 0;

	p = OSSL_PARAM_locate_const(params, TOKEN_PARAM_SIGNER);
	if (p != NULL)
	{
		buf = &key->signer;
		if (!OSSL_PARAM_get_octet_string(p, &buf, sizeof(SealpgSignerRef), &len) ||
			len != sizeof(SealpgSignerRef))
			return 0;
		key->can_sign = true;
	}
	p = OSSL_PARAM_locate_const(params, TOKEN_PARAM_TOKEN);
	if (p != NULL)
	{
		char	   *token = key->token;

		if (!OSSL_PARAM_get_utf8_string(p, &token, sizeof(key->token)))
			return 0;
		p = OSSL_PARAM_locate_const(params, TOKEN_PARAM_KEY_ID);
		buf = key->key_id;
		if (p == NULL ||
			!OSSL_PARAM_get_octet_string(p, &buf, sizeof(key->key_id), &key->key_id_len))
			return 0;
		key->can_sign = true;
	}
	return 1;
}

/* keymgmt export: public parts only; a private selection is refused. */
static int
key_export(void *keydata, int selection, OSSL_CALLBACK *cb, void *cbarg)
{
	TokenKey   *key = keydata;
	OSSL_PARAM	params[3];
	int			n = 0;

	if (selection & OSSL_KEYMGMT_SELECT_PRIVATE_KEY)
		return 0;
	if (key->alg == SEALPG_KEY_EC_P256)
		params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME,
													   (char *) "prime256v1", 0);
	if (selection & OSSL_KEYMGMT_SELECT_PUBLIC_KEY)
		params[n++] = OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY,
														key->pub, key->pub_len);
	params[n] = OSSL_PARAM_construct_end();
	return cb(params, cbarg);
}

static const OSSL_PARAM ec_import_types[] = {
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};
static const OSSL_PARAM ed_import_types[] = {
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_END
};

/* keymgmt import/export types for EC. */
static const OSSL_PARAM *
ec_key_types(int selection)
{
	return ec_import_types;
}

/* keymgmt import/export types for Ed25519. */
static const OSSL_PARAM *
ed_key_types(int selection)
{
	return ed_import_types;
}

/* keymgmt get_params: sizes, the default digest, the public key. */
static int
key_get_params(void *keydata, OSSL_PARAM params[])
{
	TokenKey   *key = keydata;
	bool		ec = key->alg == SEALPG_KEY_EC_P256;
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_BITS)) != NULL &&
		!OSSL_PARAM_set_int(p, ec ? 256 : 253))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_SECURITY_BITS)) != NULL &&
		!OSSL_PARAM_set_int(p, 128))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MAX_SIZE)) != NULL &&
		!OSSL_PARAM_set_int(p, ec ? P256_DER_SIG_MAX : 64))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_DEFAULT_DIGEST)) != NULL &&
		!OSSL_PARAM_set_utf8_string(p, ec ? "SHA256" : ""))
		return 0;
	if (!ec && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_MANDATORY_DIGEST)) != NULL &&
		!OSSL_PARAM_set_utf8_string(p, ""))
		return 0;
	if (ec && (p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_GROUP_NAME)) != NULL &&
		!OSSL_PARAM_set_utf8_string(p, "prime256v1"))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_PUB_KEY)) != NULL &&
		!OSSL_PARAM_set_octet_string(p, key->pub, key->pub_len))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY)) != NULL &&
		!OSSL_PARAM_set_octet_string(p, key->pub, key->pub_len))
		return 0;
	return 1;
}

static const OSSL_PARAM key_gettable[] = {
	OSSL_PARAM_int(OSSL_PKEY_PARAM_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_SECURITY_BITS, NULL),
	OSSL_PARAM_int(OSSL_PKEY_PARAM_MAX_SIZE, NULL),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_DEFAULT_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_MANDATORY_DIGEST, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_PUB_KEY, NULL, 0),
	OSSL_PARAM_octet_string(OSSL_PKEY_PARAM_ENCODED_PUBLIC_KEY, NULL, 0),
	OSSL_PARAM_END
};

/* keymgmt gettable_params. */
static const OSSL_PARAM *
key_gettable_params(void *provctx)
{
	return key_gettable;
}

/* keymgmt query_operation_name for EC: signatures are "ECDSA". */
static const char *
ec_query_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ECDSA" : NULL;
}

/* keymgmt query_operation_name for Ed25519. */
static const char *
ed_query_operation_name(int operation_id)
{
	return operation_id == OSSL_OP_SIGNATURE ? "ED25519" : NULL;
}

#define KEYMGMT_COMMON \
	{OSSL_FUNC_KEYMGMT_FREE, (void (*) (void)) key_free}, \
	{OSSL_FUNC_KEYMGMT_HAS, (void (*) (void)) key_has}, \
	{OSSL_FUNC_KEYMGMT_MATCH, (void (*) (void)) key_match}, \
	{OSSL_FUNC_KEYMGMT_IMPORT, (void (*) (void)) key_import}, \
	{OSSL_FUNC_KEYMGMT_EXPORT, (void (*) (void)) key_export}, \
	{OSSL_FUNC_KEYMGMT_GET_PARAMS, (void (*) (void)) key_get_params}, \
	{OSSL_FUNC_KEYMGMT_GETTABLE_PARAMS, (void (*) (void)) key_gettable_params}

static const OSSL_DISPATCH ec_keymgmt[] = {
	{OSSL_FUNC_KEYMGMT_NEW, (void (*) (void)) ec_key_new},
	{OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*) (void)) ec_key_types},
	{OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*) (void)) ec_key_types},
	{OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*) (void)) ec_query_operation_name},
	KEYMGMT_COMMON,
	{0, NULL}
};

static const OSSL_DISPATCH ed_keymgmt[] = {
	{OSSL_FUNC_KEYMGMT_NEW, (void (*) (void)) ed_key_new},
	{OSSL_FUNC_KEYMGMT_IMPORT_TYPES, (void (*) (void)) ed_key_types},
	{OSSL_FUNC_KEYMGMT_EXPORT_TYPES, (void (*) (void)) ed_key_types},
	{OSSL_FUNC_KEYMGMT_QUERY_OPERATION_NAME, (void (*) (void)) ed_query_operation_name},
	KEYMGMT_COMMON,
	{0, NULL}
};

/* ---------------------------------------------------------------------
 * Signature
 * ---------------------------------------------------------------------
 */

/* New signature context of an algorithm. */
static void *
sig_new(SealpgKeyAlg alg)
{
	TokenSigCtx *ctx = OPENSSL_zalloc(sizeof(TokenSigCtx));

	if (ctx != NULL)
		ctx->alg = alg;
	return ctx;
}

/* signature newctx for ECDSA. */
static void *
ecdsa_newctx(void *provctx, const char *propq)
{
	return sig_new(SEALPG_KEY_EC_P256);
}

/* signature newctx for Ed25519. */
static void *
ed_newctx(void *provctx, const char *propq)
{
	return sig_new(SEALPG_KEY_ED25519);
}

/* signature freectx. */
static void
sig_freectx(void *vctx)
{
	TokenSigCtx *ctx = vctx;

	if (ctx == NULL)
		return;
	EVP_MD_CTX_free(ctx->mdctx);
	EVP_MD_free(ctx->md);
	OPENSSL_free(ctx);
}

/* signature dupctx (X509_sign duplicates contexts). */
static void *
sig_dupctx(void *vctx)
{
	TokenSigCtx *src = vctx;
	TokenSigCtx *dst = OPENSSL_zalloc(sizeof(TokenSigCtx));

	if (dst == NULL)
		return NULL;
	dst->alg = src->alg;
	dst->key = src->key;
	if (src->md != NULL && !EVP_MD_up_ref(src->md))
		goto fail;
	dst->md = src->md;
	if (src->mdctx != NULL)
	{
		dst->mdctx = EVP_MD_CTX_new();
		if (dst->mdctx == NULL || !EVP_MD_CTX_copy_ex(dst->mdctx, src->mdctx))
			goto fail;
	}
	return dst;

fail:
	sig_freectx(dst);
	return NULL;
}

/* Bind a key to a context, checking its algorithm. */
static int
sig_set_key(TokenSigCtx *ctx, void *keydata)
{
	TokenKey   *key = keydata;

	if (key == NULL || key->alg != ctx->alg)
		return 0;
	ctx->key = key;
	return 1;
}

/* signature sign_init (ECDSA over a digest). */
static int
ecdsa_sign_init(void *vctx, void *keydata, const OSSL_PARAM params[])
{
	return sig_set_key(vctx, keydata);
}

/* signature sign: tbs is a digest; with sig NULL, report the size. */
static int
ecdsa_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
		   const unsigned char *tbs, size_t tbslen)
{
	TokenSigCtx *ctx = vctx;

	if (sig == NULL)
	{
		*siglen = P256_DER_SIG_MAX;
		return 1;
	}
	if (tbslen > SEALPG_MAX_DIGEST)
		return 0;
	return token_key_sign(ctx->key, sig, siglen, sigsize, tbs, tbslen);
}

/* signature digest_sign_init for ECDSA: the digest is computed here. */
static int
ecdsa_digest_sign_init(void *vctx, const char *mdname, void *keydata,
					   const OSSL_PARAM params[])
{
	TokenSigCtx *ctx = vctx;

	if (!sig_set_key(ctx, keydata))
		return 0;
	EVP_MD_free(ctx->md);
	ctx->md = EVP_MD_fetch(token_libctx, mdname != NULL && mdname[0] != '\0' ? mdname : "SHA256", NULL);
	if (ctx->md == NULL)
		return 0;
	if (ctx->mdctx == NULL && (ctx->mdctx = EVP_MD_CTX_new()) == NULL)
		return 0;
	return EVP_DigestInit_ex2(ctx->mdctx, ctx->md, NULL);
}

/* signature digest_sign_update for ECDSA. */
static int
ecdsa_digest_sign_update(void *vctx, const unsigned char *data, size_t len)
{
	TokenSigCtx *ctx = vctx;

	return ctx->mdctx != NULL && EVP_DigestUpdate(ctx->mdctx, data, len);
}

/* signature digest_sign_final for ECDSA. */
static int
ecdsa_digest_sign_final(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize)
{
	TokenSigCtx *ctx = vctx;
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int dlen = 0;

	if (sig == NULL)
	{
		*siglen = P256_DER_SIG_MAX;
		return 1;
	}
	if (ctx->mdctx == NULL || !EVP_DigestFinal_ex(ctx->mdctx, digest, &dlen))
		return 0;
	return token_key_sign(ctx->key, sig, siglen, sigsize, digest, dlen);
}

/* signature digest_sign_init for Ed25519 (PureEdDSA: no digest). */
static int
ed_digest_sign_init(void *vctx, const char *mdname, void *keydata,
					const OSSL_PARAM params[])
{
	if (mdname != NULL && mdname[0] != '\0')
		return 0;
	return sig_set_key(vctx, keydata);
}

/* signature digest_sign (one shot) for Ed25519. */
static int
ed_digest_sign(void *vctx, unsigned char *sig, size_t *siglen, size_t sigsize,
			   const unsigned char *tbs, size_t tbslen)
{
	TokenSigCtx *ctx = vctx;

	if (sig == NULL)
	{
		*siglen = 64;
		return 1;
	}
	return token_key_sign(ctx->key, sig, siglen, sigsize, tbs, tbslen);
}

/* The DER AlgorithmIdentifier of this context's signature. */
static int
sig_algorithm_id(TokenSigCtx *ctx, OSSL_PARAM *p)
{
	X509_ALGOR *alg;
	unsigned char *der = NULL;
	int			nid,
				len,
				ok;

	if (ctx->alg == SEALPG_KEY_ED25519)
		nid = NID_ED25519;
	else if (ctx->md == NULL || EVP_MD_is_a(ctx->md, "SHA256"))
		nid = NID_ecdsa_with_SHA256;
	else if (EVP_MD_is_a(ctx->md, "SHA384"))
		nid = NID_ecdsa_with_SHA384;
	else if (EVP_MD_is_a(ctx->md, "SHA512"))
		nid = NID_ecdsa_with_SHA512;
	else
		return 0;
	alg = X509_ALGOR_new();
	if (alg == NULL || !X509_ALGOR_set0(alg, OBJ_nid2obj(nid), V_ASN1_UNDEF, NULL))
	{
		X509_ALGOR_free(alg);
		return 0;
	}
	len = i2d_X509_ALGOR(alg, &der);
	X509_ALGOR_free(alg);
	if (len <= 0)
		return 0;
	ok = OSSL_PARAM_set_octet_string(p, der, (size_t) len);
	OPENSSL_free(der);
	return ok;
}

/* signature get_ctx_params: the algorithm identifier and the digest. */
static int
sig_get_ctx_params(void *vctx, OSSL_PARAM params[])
{
	TokenSigCtx *ctx = vctx;
	OSSL_PARAM *p;

	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_ALGORITHM_ID)) != NULL &&
		!sig_algorithm_id(ctx, p))
		return 0;
	if ((p = OSSL_PARAM_locate(params, OSSL_SIGNATURE_PARAM_DIGEST)) != NULL &&
		!OSSL_PARAM_set_utf8_string(p, ctx->md != NULL ? EVP_MD_get0_name(ctx->md) : ""))
		return 0;
	return 1;
}

static const OSSL_PARAM sig_gettable[] = {
	OSSL_PARAM_octet_string(OSSL_SIGNATURE_PARAM_ALGORITHM_ID, NULL, 0),
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

/* signature gettable_ctx_params. */
static const OSSL_PARAM *
sig_gettable_ctx_params(void *vctx, void *provctx)
{
	return sig_gettable;
}

/* signature set_ctx_params: a digest name may be set before signing. */
static int
sig_set_ctx_params(void *vctx, const OSSL_PARAM params[])
{
	TokenSigCtx *ctx = vctx;
	const OSSL_PARAM *p;
	const char *mdname = NULL;

	p = OSSL_PARAM_locate_const(params, OSSL_SIGNATURE_PARAM_DIGEST);
	if (p == NULL)
		return 1;
	if (ctx->alg != SEALPG_KEY_EC_P256 || !OSSL_PARAM_get_utf8_string_ptr(p, &mdname))
		return 0;
	EVP_MD_free(ctx->md);
	ctx->md = EVP_MD_fetch(token_libctx, mdname, NULL);
	return ctx->md != NULL;
}

static const OSSL_PARAM sig_settable[] = {
	OSSL_PARAM_utf8_string(OSSL_SIGNATURE_PARAM_DIGEST, NULL, 0),
	OSSL_PARAM_END
};

/* signature settable_ctx_params. */
static const OSSL_PARAM *
sig_settable_ctx_params(void *vctx, void *provctx)
{
	return sig_settable;
}

#define SIGNATURE_COMMON \
	{OSSL_FUNC_SIGNATURE_FREECTX, (void (*) (void)) sig_freectx}, \
	{OSSL_FUNC_SIGNATURE_DUPCTX, (void (*) (void)) sig_dupctx}, \
	{OSSL_FUNC_SIGNATURE_GET_CTX_PARAMS, (void (*) (void)) sig_get_ctx_params}, \
	{OSSL_FUNC_SIGNATURE_GETTABLE_CTX_PARAMS, (void (*) (void)) sig_gettable_ctx_params}, \
	{OSSL_FUNC_SIGNATURE_SET_CTX_PARAMS, (void (*) (void)) sig_set_ctx_params}, \
	{OSSL_FUNC_SIGNATURE_SETTABLE_CTX_PARAMS, (void (*) (void)) sig_settable_ctx_params}

static const OSSL_DISPATCH ecdsa_signature[] = {
	{OSSL_FUNC_SIGNATURE_NEWCTX, (void (*) (void)) ecdsa_newctx},
	{OSSL_FUNC_SIGNATURE_SIGN_INIT, (void (*) (void)) ecdsa_sign_init},
	{OSSL_FUNC_SIGNATURE_SIGN, (void (*) (void)) ecdsa_sign},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*) (void)) ecdsa_digest_sign_init},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_UPDATE, (void (*) (void)) ecdsa_digest_sign_update},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_FINAL, (void (*) (void)) ecdsa_digest_sign_final},
	SIGNATURE_COMMON,
	{0, NULL}
};

static const OSSL_DISPATCH ed_signature[] = {
	{OSSL_FUNC_SIGNATURE_NEWCTX, (void (*) (void)) ed_newctx},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN_INIT, (void (*) (void)) ed_digest_sign_init},
	{OSSL_FUNC_SIGNATURE_DIGEST_SIGN, (void (*) (void)) ed_digest_sign},
	SIGNATURE_COMMON,
	{0, NULL}
};

/* ---------------------------------------------------------------------
 * The provider
 * ---------------------------------------------------------------------
 */

static const OSSL_ALGORITHM token_keymgmt_algs[] = {
	{"EC:id-ecPublicKey:1.2.840.10045.2.1", TOKEN_PROPQ, ec_keymgmt, "EC keys held by a token"},
	{"ED25519:1.3.101.112", TOKEN_PROPQ, ed_keymgmt, "Ed25519 keys held by a token"},
	{NULL, NULL, NULL, NULL}
};

static const OSSL_ALGORITHM token_signature_algs[] = {
	{"ECDSA", TOKEN_PROPQ, ecdsa_signature, "ECDSA by a token"},
	{"ED25519:1.3.101.112", TOKEN_PROPQ, ed_signature, "Ed25519 by a token"},
	{NULL, NULL, NULL, NULL}
};

/* provider query_operation. */
static const OSSL_ALGORITHM *
token_query(void *provctx, int operation_id, int *no_cache)
{
	*no_cache = 0;
	if (operation_id == OSSL_OP_KEYMGMT)
		return token_keymgmt_algs;
	if (operation_id == OSSL_OP_SIGNATURE)
		return token_signature_algs;
	return NULL;
}

static const OSSL_DISPATCH token_provider_dispatch[] = {
	{OSSL_FUNC_PROVIDER_QUERY_OPERATION, (void (*) (void)) token_query},
	{0, NULL}
};

/* provider init. */
static int
token_provider_init(const OSSL_CORE_HANDLE *handle, const OSSL_DISPATCH *in,
					const OSSL_DISPATCH **out, void **provctx)
{
	*out = token_provider_dispatch;
	*provctx = (void *) handle;
	return 1;
}

/* The provider's library context: default provider plus this one. */
OSSL_LIB_CTX *
sealpg_token_libctx(void)
{
	OSSL_LIB_CTX *ctx;

	if (token_libctx != NULL)
		return token_libctx;
	/* never in the postmaster: the agent connection must not be inherited */
	Assert(IsUnderPostmaster || !IsPostmasterEnvironment);

	if (pending_cxt == NULL)
	{
		pending_cxt = AllocSetContextCreate(TopMemoryContext,
											"sealpg token errors",
											ALLOCSET_SMALL_SIZES);
		RegisterXactCallback(forget_pending_error, NULL);
	}
	ctx = OSSL_LIB_CTX_new();
	if (ctx == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not create an OpenSSL library context");
	if (!OSSL_PROVIDER_add_builtin(ctx, TOKEN_PROVIDER_NAME, token_provider_init) ||
		OSSL_PROVIDER_load(ctx, "default") == NULL ||
		OSSL_PROVIDER_load(ctx, TOKEN_PROVIDER_NAME) == NULL)
	{
		OSSL_LIB_CTX_free(ctx);
		sealpg_ossl_ereport(ERRCODE_SEAL_CRYPTO_FAILURE, "could not load the sealpg token provider");
	}
	token_libctx = ctx;
	return ctx;
}
