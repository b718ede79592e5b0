/*-------------------------------------------------------------------------
 *
 * der.h
 *	  A lean DER writer and a strict DER reader, for the structures
 *	  sealpg encodes itself because OpenSSL's object API is too slow for
 *	  them (CRLs of 100,000 entries, OCSP responses at tens of thousands
 *	  per second), and the signing of a to-be-signed encoding.
 *
 * Writing appends to a StringInfo.  A constructed value whose length is
 * not known in advance is written into a StringInfo of its own, then
 * wrapped with der_put_tlv().  Reading never trusts a length: every
 * length is checked against what is left, and only minimal definite
 * lengths are accepted (DER).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_DER_H
#define SEALPG_DER_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"

#include <openssl/evp.h>

/* Tags used by CRLs and OCSP. */
#define DER_BOOLEAN			0x01
#define DER_INTEGER			0x02
#define DER_BIT_STRING		0x03
#define DER_OCTET_STRING	0x04
#define DER_NULL			0x05
#define DER_OID				0x06
#define DER_ENUMERATED		0x0a
#define DER_UTC_TIME		0x17
#define DER_GENERALIZED_TIME 0x18
#define DER_SEQUENCE		0x30
#define DER_CONTEXT(n)		(0x80 | (n))	/* [n] IMPLICIT, primitive */
#define DER_CONTEXT_CONS(n)	(0xa0 | (n))	/* [n] EXPLICIT or constructed */

/* ---- writing ---- */

extern void der_put_header(StringInfo buf, unsigned char tag, size_t len);
extern void der_put_tlv(StringInfo buf, unsigned char tag,
						const void *data, size_t len);
extern void der_put_uint(StringInfo buf, unsigned char tag, uint64 value);
extern void der_put_unsigned_bytes(StringInfo buf, const unsigned char *mag,
								   size_t len);
extern void der_put_time(StringInfo buf, TimestampTz t, bool generalized);

/* ---- reading ---- */

typedef struct DerReader
{
	const unsigned char *p;		/* next byte */
	size_t		left;			/* bytes left */
} DerReader;

extern void der_reader_init(DerReader *r, const unsigned char *p, size_t len);
extern bool der_read(DerReader *r, unsigned char *tag, DerReader *content,
					 const unsigned char **tlv, size_t *tlv_len);
extern bool der_peek(const DerReader *r, unsigned char tag);

/* ---- serial numbers ---- */

extern bool der_hex_to_serial(const char *hex, size_t len,
							  unsigned char *out, size_t *out_len,
							  size_t out_max);
extern char *der_serial_to_hex(const unsigned char *p, size_t len);

/* ---- signing ---- */

/* DER AlgorithmIdentifier of the signatures a key makes. */
extern void der_put_signature_algorithm(StringInfo buf, EVP_PKEY *key);

/* Sign tbs with key (a token key); append AlgorithmIdentifier and BIT STRING. */
extern void der_sign_and_append(StringInfo out, EVP_PKEY *key,
								const unsigned char *tbs, size_t tbs_len,
								const char *what);

#endif							/* SEALPG_DER_H */
