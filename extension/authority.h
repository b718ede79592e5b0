/*-------------------------------------------------------------------------
 *
 * authority.h
 *	  The seal authority as seen from C: its certificate and its token key,
 *	  for every file that issues or signs in its name (certificates, CRLs,
 *	  OCSP responses, timestamps, tree heads).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_AUTHORITY_H
#define SEALPG_AUTHORITY_H

#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/x509.h>

/*
 * Load this database's authority: its certificate and a key that signs
 * through its token (both tracked on CurrentMemoryContext, see ossl.h).
 * Raises SE201 when there is no authority.  Uses SPI; the caller must not
 * be connected to SPI already.
 */
extern void sealpg_authority_load(X509 **cert, EVP_PKEY **key);

/* Raise SE106 unless the agent's attribute bits prove a chip-born key. */
extern void sealpg_require_key_in_chip(int attrs, const char *what);

/* The DER SubjectPublicKeyInfo of a certificate (palloc'd). */
extern unsigned char *sealpg_cert_spki(X509 *cert, size_t *len);

/* A certificate as a sealpg.x509 value. */
extern bytea *sealpg_x509_from_cert(X509 *cert);

#endif							/* SEALPG_AUTHORITY_H */
