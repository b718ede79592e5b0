/*-------------------------------------------------------------------------
 *
 * sealpg_types.h
 *	  The base types sealpg.x509 and sealpg.sealsig as seen from C: how to
 *	  make a value from DER (checked) and how to get an OpenSSL object back
 *	  from a stored value (tracked, see ossl.h).
 *
 * Both types are varlenas holding the encoding exactly as accepted: the
 * DER of a certificate, the DER (or BER) of a CMS ContentInfo.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_TYPES_H
#define SEALPG_TYPES_H

#include "postgres.h"

#include "fmgr.h"

#include "ossl.h"

/* Largest encodings accepted: far beyond any real certificate or seal. */
#define SEALPG_X509_MAX_DER		(1024 * 1024)
#define SEALPG_SEALSIG_MAX_DER	(64 * 1024 * 1024)

#define DatumGetX509PP(x)		((bytea *) PG_DETOAST_DATUM_PACKED(x))
#define PG_GETARG_X509_PP(n)	DatumGetX509PP(PG_GETARG_DATUM(n))
#define DatumGetSealsigPP(x)	((bytea *) PG_DETOAST_DATUM_PACKED(x))
#define PG_GETARG_SEALSIG_PP(n) DatumGetSealsigPP(PG_GETARG_DATUM(n))

/* x509.c */
extern bytea *sealpg_x509_make(const unsigned char *der, size_t len);
extern X509 *sealpg_x509_decode(const bytea *value, SealpgOsslTracked **tracked);

/* sealsig.c */
extern bytea *sealpg_sealsig_make(const unsigned char *der, size_t len);
extern CMS_ContentInfo *sealpg_sealsig_decode(const bytea *value,
											  SealpgOsslTracked **tracked);

#endif							/* SEALPG_TYPES_H */
