/*-------------------------------------------------------------------------
 *
 * ossl.h
 *	  OpenSSL plumbing shared by every sealpg file that touches OpenSSL.
 *
 * Four things live here:
 *	- turning OpenSSL's error queue into an ereport (and clearing it);
 *	- tracking OpenSSL objects so that an ERROR cannot leak them: every
 *	  object is registered on CurrentMemoryContext right after it is made,
 *	  and freed by a reset callback if the code that made it never gets to
 *	  free it (OpenSSL allocates with malloc, so nothing else would);
 *	- the PEM and base64 text forms, with precise reasons for refusals;
 *	- small ASN.1 conversions (DER outer header, INTEGER to hex, time to
 *	  timestamptz, names to RFC 2253 text).
 *
 * The usual pattern:
 *
 *		cert = d2i_X509(NULL, &p, len);
 *		if (cert == NULL)
 *			...report...
 *		cert_t = sealpg_track_x509(cert);
 *		...any code that may ereport...
 *		sealpg_ossl_free(cert_t);
 *
 * Two rules follow from tying an object to CurrentMemoryContext: track it
 * in a context that error recovery resets (the function-call, per-tuple,
 * per-query or transaction contexts; never TopMemoryContext or
 * CacheMemoryContext), and do not use it after that context is reset,
 * because the callback will have freed it.  To keep an object longer, take
 * it back with sealpg_ossl_untrack() and own it.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_OSSL_H
#define SEALPG_OSSL_H

#include "postgres.h"

#include "datatype/timestamp.h"

#include <openssl/asn1.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

/* ---- error queue ---- */

extern char *sealpg_ossl_error_reason(void);
extern void sealpg_ossl_ereport(int sqlstate, const char *message) pg_attribute_noreturn();

/* ---- tracking of OpenSSL objects ---- */

typedef struct SealpgOsslTracked SealpgOsslTracked;

extern SealpgOsslTracked *sealpg_ossl_track(void *obj, void (*free_fn) (void *));
extern void sealpg_ossl_free(SealpgOsslTracked *tracked);
extern void *sealpg_ossl_untrack(SealpgOsslTracked *tracked);

extern SealpgOsslTracked *sealpg_track_x509(X509 *obj);
extern SealpgOsslTracked *sealpg_track_x509_stack(STACK_OF(X509) *obj);
extern SealpgOsslTracked *sealpg_track_cms(CMS_ContentInfo *obj);
extern SealpgOsslTracked *sealpg_track_bio(BIO *obj);
extern SealpgOsslTracked *sealpg_track_pkey(EVP_PKEY *obj);
extern SealpgOsslTracked *sealpg_track_md_ctx(EVP_MD_CTX *obj);
extern SealpgOsslTracked *sealpg_track_asn1_object(ASN1_OBJECT *obj);
extern SealpgOsslTracked *sealpg_track_openssl_memory(void *obj);

/* ---- text forms ---- */

extern const char *sealpg_base64_decode(const char *src, size_t len,
										unsigned char **out, size_t *outlen);
extern char *sealpg_base64_encode(const unsigned char *src, size_t len,
								  int line_width);
extern const char *sealpg_pem_decode(const char *text, size_t len,
									 const char *const *labels, int nlabels,
									 const char *expected,
									 unsigned char **der, size_t *der_len);
extern char *sealpg_pem_encode(const char *label,
							   const unsigned char *der, size_t len);
extern const char *sealpg_trim_whitespace(const char *text, size_t *len);

/* ---- ASN.1 ---- */

extern const char *sealpg_der_outer_problem(const unsigned char *der,
											size_t len, size_t max_len,
											bool ber, const char *what);
extern char *sealpg_asn1_integer_hex(const ASN1_INTEGER *value);
extern bool sealpg_asn1_time_to_timestamptz(const ASN1_TIME *value,
											TimestampTz *result);
extern char *sealpg_x509_name_text(const X509_NAME *name);
extern text *sealpg_utf8_to_text(const char *utf8, size_t len);

#endif							/* SEALPG_OSSL_H */
