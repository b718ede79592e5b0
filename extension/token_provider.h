/*-------------------------------------------------------------------------
 *
 * token_provider.h
 *	  OpenSSL keys whose private half lives on a PKCS#11 token behind
 *	  sealpg-agent: an OpenSSL 3 provider in a library context of its own.
 *
 * A key made here signs through every ordinary OpenSSL API (X509_sign,
 * X509_REQ_sign, X509_CRL_sign, CMS_sign, OCSP_basic_sign, ...); only the
 * raw signature comes from the token.  token_provider.c explains why a
 * provider was chosen over an EC_KEY_METHOD.
 *
 * Errors raised while the token signs (agent unavailable, token absent,
 * ...) cannot travel through OpenSSL's stack frames as a longjmp; the
 * provider catches them and keeps them.  After an OpenSSL call that signs
 * fails, call sealpg_token_sign_failed(): it re-raises the agent's error
 * with its own SQLSTATE, or else reports OpenSSL's error queue.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_TOKEN_PROVIDER_H
#define SEALPG_TOKEN_PROVIDER_H

#include "postgres.h"

#include <openssl/evp.h>

#include "ossl.h"

/* Key algorithms sealpg generates on tokens. */
typedef enum SealpgKeyAlg
{
	SEALPG_KEY_EC_P256 = 1,		/* ECDSA P-256: seals, and authorities */
	SEALPG_KEY_ED25519 = 2		/* Ed25519: certificates, CRLs, OCSP only */
} SealpgKeyAlg;

/*
 * A raw signer: signs "input" (for ECDSA a digest, for Ed25519 the whole
 * message) and writes the raw signature (ECDSA r||s, 64 bytes for P-256;
 * Ed25519 64 bytes) to sig, at most *sig_len bytes, setting *sig_len.
 * It may ereport; the provider catches the error (see above).
 */
typedef void (*SealpgRawSigner) (void *arg, SealpgKeyAlg alg,
								 const unsigned char *input, size_t input_len,
								 unsigned char *sig, size_t *sig_len);

/* A raw signer and its argument, as carried in TOKEN_PARAM_SIGNER. */
typedef struct SealpgSignerRef
{
	SealpgRawSigner fn;
	void	   *arg;
} SealpgSignerRef;

/* Between token_provider.c and token_key.c: the provider's property query
 * and the private key-import parameters that carry a token reference. */
#define TOKEN_PROPQ				"provider=sealpg-token"
#define TOKEN_PARAM_TOKEN		"sealpg-token"
#define TOKEN_PARAM_KEY_ID		"sealpg-key-id"
#define TOKEN_PARAM_SIGNER		"sealpg-signer"

/* The provider's library context (created on first use in this backend). */
extern OSSL_LIB_CTX *sealpg_token_libctx(void);

/* A key on a token, known by its label, CKA_ID and SubjectPublicKeyInfo. */
extern EVP_PKEY *sealpg_token_key(const char *token,
								  const unsigned char *key_id, size_t len,
								  const unsigned char *spki_der,
								  size_t spki_len);

/* The same, handing back the tracking handle (to free or untrack it). */
extern EVP_PKEY *sealpg_token_key_tracked(const char *token,
										  const unsigned char *key_id, size_t len,
										  const unsigned char *spki_der,
										  size_t spki_len,
										  SealpgOsslTracked **tracked);

/* The same, signing through another raw signer (tests, benchmarks). */
extern EVP_PKEY *sealpg_token_key_with_signer(const unsigned char *spki_der,
											  size_t spki_len,
											  SealpgRawSigner signer,
											  void *arg);

/* Which algorithm an SPKI holds; ereports 22023 for any other. */
extern SealpgKeyAlg sealpg_spki_alg(const unsigned char *spki_der,
									size_t spki_len);

/* Re-raise the token's error kept by the provider, or OpenSSL's. */
extern void sealpg_token_sign_failed(const char *what) pg_attribute_noreturn();

#endif							/* SEALPG_TOKEN_PROVIDER_H */
