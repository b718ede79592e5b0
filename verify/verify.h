/*-------------------------------------------------------------------------
 *
 * verify.h
 *	  sealpg-verify: checks an evidence package offline (OpenSSL only, no
 *	  database).  The package format is described in doc/EVIDENCE.md.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_VERIFY_H
#define SEALPG_VERIFY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/x509.h>

#define HASH_LEN	32
#define MAX_FILES	32
#define MAX_FILE_SIZE	(16 * 1024 * 1024)

/* One named file of the package. */
typedef struct PackageFile
{
	char		name[101];
	unsigned char *data;
	size_t		len;
} PackageFile;

/* The package, read from its tar form. */
typedef struct Package
{
	PackageFile files[MAX_FILES];
	int			nfiles;
} Package;

/* What the checks have found so far. */
typedef struct Report
{
	int			held;
	int			failed;
	int			skipped;
} Report;

/* ---- tar.c ---- */
extern const char *package_read(const unsigned char *tar, size_t len, Package *pkg);
extern const PackageFile *package_file(const Package *pkg, const char *name);

/* ---- json.c: fields of the canonical JSON sealpg writes ---- */
extern char *json_string_field(const char *json, size_t len, const char *key, const char *after);
extern bool json_int_field(const char *json, size_t len, const char *key, long long *value);
extern int	json_hex_array(const char *json, size_t len, const char *key,
						   unsigned char (*out)[HASH_LEN], int max);

/* ---- merkle.c: RFC 9162 proof verification ---- */
extern void sha256(const unsigned char *a, size_t alen,
				   const unsigned char *b, size_t blen, unsigned char *out);
extern void leaf_hash(const unsigned char *entry, size_t len, unsigned char *out);
extern bool verify_inclusion(const unsigned char *leaf, uint64_t index, uint64_t size,
							 unsigned char (*path)[HASH_LEN], int n,
							 const unsigned char *root);
extern bool hex_decode(const char *hex, unsigned char *out, size_t outlen);
extern void hex_encode(const unsigned char *in, size_t len, char *out);

/* ---- report (main.c) ---- */
extern void holds(Report *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void fails(Report *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern void unchecked(Report *r, const char *fmt,...) __attribute__((format(printf, 2, 3)));
extern char *openssl_reason(void);

/* ---- checks.c ---- */
extern void check_package(const Package *pkg, const unsigned char *document,
						  size_t document_len, bool have_document,
						  X509 *authority_given, Report *r);

#endif							/* SEALPG_VERIFY_H */
