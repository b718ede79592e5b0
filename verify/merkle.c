/*-------------------------------------------------------------------------
 *
 * merkle.c
 *	  RFC 6962 hashing and RFC 9162 section 2.1.3.2 inclusion proof
 *	  verification, written apart from the extension's so that the
 *	  relying party's check does not share the database's code.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "verify.h"

/* SHA-256(a || b); exits on an OpenSSL failure (it cannot go on). */
void
sha256(const unsigned char *a, size_t alen, const unsigned char *b, size_t blen,
	   unsigned char *out)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned int n = 0;

	if (ctx == NULL ||
		EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1 ||
		EVP_DigestUpdate(ctx, a, alen) != 1 ||
		(blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
		EVP_DigestFinal_ex(ctx, out, &n) != 1 || n != HASH_LEN)
	{
		fprintf(stderr, "sealpg-verify: SHA-256 failed in OpenSSL\n");
		exit(2);
	}
	EVP_MD_CTX_free(ctx);
}

/* The RFC 6962 leaf hash of an entry: SHA-256(0x00 || entry). */
void
leaf_hash(const unsigned char *entry, size_t len, unsigned char *out)
{
	static const unsigned char zero = 0;

	sha256(&zero, 1, entry, len, out);
}

/* SHA-256(0x01 || l || r). */
static void
node_hash(const unsigned char *l, const unsigned char *r, unsigned char *out)
{
	unsigned char buf[1 + 2 * HASH_LEN];

	buf[0] = 1;
	memcpy(buf + 1, l, HASH_LEN);
	memcpy(buf + 1 + HASH_LEN, r, HASH_LEN);
	sha256(buf, sizeof(buf), NULL, 0, out);
}

/* RFC 9162 2.1.3.2: does the path lead from the leaf to the root? */
bool
verify_inclusion(const unsigned char *leaf, uint64_t index, uint64_t size,
				 unsigned char (*path)[HASH_LEN], int n, const unsigned char *root)
{
	uint64_t	fn = index;
	uint64_t	sn;
	unsigned char r[HASH_LEN];
	int			i;

	if (size == 0 || index >= size)
		return false;
	sn = size - 1;
	memcpy(r, leaf, HASH_LEN);
	for (i = 0; i < n; i++)
	{
		if (sn == 0)
			return false;
		if ((fn & 1) || fn == sn)
		{
			node_hash(path[i], r, r);
			while (!(fn & 1) && fn != 0)
			{
				fn >>= 1;
				sn >>= 1;
			}
		}
		else
			node_hash(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, HASH_LEN) == 0;
}

/* Decode exactly outlen bytes of lowercase or uppercase hex. */
bool
hex_decode(const char *hex, unsigned char *out, size_t outlen)
{
	size_t		i;

	if (strlen(hex) != outlen * 2)
		return false;
	for (i = 0; i < outlen; i++)
	{
		int			hi = OPENSSL_hexchar2int((unsigned char) hex[2 * i]);
		int			lo = OPENSSL_hexchar2int((unsigned char) hex[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return false;
		out[i] = (unsigned char) (hi * 16 + lo);
	}
	return true;
}

/* Lowercase hex of bytes into out (2 * len + 1 bytes). */
void
hex_encode(const unsigned char *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t		i;

	for (i = 0; i < len; i++)
	{
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 15];
	}
	out[2 * len] = '\0';
}
