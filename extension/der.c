/*-------------------------------------------------------------------------
 *
 * der.c
 *	  A lean DER writer and a strict DER reader (X.690), and the signing
 *	  of a to-be-signed encoding with a token key.
 *
 * The CRL and OCSP encoders (crl.c, ocsp.c) write their structures with
 * these few functions instead of OpenSSL's object API: building 100,000
 * X509_REVOKED objects, sorting, re-encoding them for the signature and
 * once more for i2d costs about 0.6 s; writing the bytes directly costs a
 * small fraction of that.  The openssl command line checks the result in
 * the tests (test/integration/crl_openssl.sh, ocsp_openssl.sh).
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "pgtime.h"
#include "utils/datetime.h"
#include "utils/timestamp.h"

#include "der.h"
#include "ossl.h"
#include "sealpg.h"
#include "token_provider.h"

/* ecdsa-with-SHA256 (1.2.840.10045.4.3.2), no parameters (RFC 5758) */
static const unsigned char alg_ecdsa_sha256[] =
{0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02};

/* Ed25519 (1.3.101.112), no parameters (RFC 8410) */
static const unsigned char alg_ed25519[] =
{0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70};

/* Append a tag and a definite length in its shortest form. */
void
der_put_header(StringInfo buf, unsigned char tag, size_t len)
{
	unsigned char h[10];
	int			n = 0;

	h[n++] = tag;
	if (len < 0x80)
		h[n++] = (unsigned char) len;
	else
	{
		int			bytes = 0;
		size_t		l;

		for (l = len; l > 0; l >>= 8)
			bytes++;
		h[n++] = (unsigned char) (0x80 | bytes);
		while (bytes-- > 0)
			h[n++] = (unsigned char) (len >> (8 * bytes));
	}
	appendBinaryStringInfo(buf, (const char *) h, n);
}

/* Append a whole TLV. */
void
der_put_tlv(StringInfo buf, unsigned char tag, const void *data, size_t len)
{
	der_put_header(buf, tag, len);
	appendBinaryStringInfo(buf, (const char *) data, len);
}

/* Append a non-negative INTEGER (or ENUMERATED, by tag) of a 64-bit value. */
void
der_put_uint(StringInfo buf, unsigned char tag, uint64 value)
{
	unsigned char b[9];
	int			n = 0;
	int			i;

	for (i = 7; i >= 0; i--)
	{
		unsigned char byte = (unsigned char) (value >> (8 * i));

		if (n == 0 && byte == 0 && i > 0)
			continue;
		if (n == 0 && (byte & 0x80))
			b[n++] = 0;
		b[n++] = byte;
	}
	der_put_tlv(buf, tag, b, n);
}

/* Append a positive INTEGER from an unsigned big-endian magnitude. */
void
der_put_unsigned_bytes(StringInfo buf, const unsigned char *mag, size_t len)
{
	while (len > 1 && mag[0] == 0)
	{
		mag++;
		len--;
	}
	if (len == 0)
	{
		der_put_tlv(buf, DER_INTEGER, "\0", 1);
		return;
	}
	if (mag[0] & 0x80)
	{
		der_put_header(buf, DER_INTEGER, len + 1);
		appendStringInfoCharMacro(buf, '\0');
		appendBinaryStringInfo(buf, (const char *) mag, len);
	}
	else
		der_put_tlv(buf, DER_INTEGER, mag, len);
}

/* Write v as exactly n decimal digits at p. */
static inline void
put_digits(char *p, int v, int n)
{
	while (n-- > 0)
	{
		p[n] = (char) ('0' + v % 10);
		v /= 10;
	}
}

/*
 * Append a Time (RFC 5280 4.1.2.5): UTCTime for 1950-2049 unless
 * generalized is asked for, GeneralizedTime otherwise; whole seconds, UTC.
 * (Digits are written by hand: this runs once or twice per CRL entry.)
 */
void
der_put_time(StringInfo buf, TimestampTz t, bool generalized)
{
	struct pg_tm tm;
	fsec_t		fsec;
	char		s[17];
	char	   *p;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("time out of range for a certificate list or OCSP response")));
	if (!generalized && tm.tm_year >= 1950 && tm.tm_year < 2050)
	{
		s[0] = DER_UTC_TIME;
		s[1] = 13;
		put_digits(s + 2, tm.tm_year % 100, 2);
		p = s + 4;
	}
	else
	{
		s[0] = DER_GENERALIZED_TIME;
		s[1] = 15;
		put_digits(s + 2, tm.tm_year, 4);
		p = s + 6;
	}
	put_digits(p, tm.tm_mon, 2);
	put_digits(p + 2, tm.tm_mday, 2);
	put_digits(p + 4, tm.tm_hour, 2);
	put_digits(p + 6, tm.tm_min, 2);
	put_digits(p + 8, tm.tm_sec, 2);
	p[10] = 'Z';
	appendBinaryStringInfo(buf, s, (p + 11) - s);
}

/* Start reading len bytes at p. */
void
der_reader_init(DerReader *r, const unsigned char *p, size_t len)
{
	r->p = p;
	r->left = len;
}

/*
 * Read one TLV: its tag, a reader over its content, and (optionally) the
 * whole TLV's bytes.  False for anything but a well-formed DER header
 * whose content fits in what is left (single-byte tags only).
 */
bool
der_read(DerReader *r, unsigned char *tag, DerReader *content,
		 const unsigned char **tlv, size_t *tlv_len)
{
	const unsigned char *p = r->p;
	size_t		left = r->left;
	size_t		len;
	size_t		hdr;

	if (left < 2 || (p[0] & 0x1f) == 0x1f)
		return false;
	if (p[1] < 0x80)
	{
		len = p[1];
		hdr = 2;
	}
	else
	{
		int			n = p[1] & 0x7f;
		int			i;

		/* no indefinite length, at most 4 length bytes, minimal form */
		if (n == 0 || n > 4 || left < (size_t) 2 + n || p[2] == 0)
			return false;
		len = 0;
		for (i = 0; i < n; i++)
			len = (len << 8) | p[2 + i];
		if (len < 0x80)
			return false;
		hdr = 2 + n;
	}
	if (len > left - hdr)
		return false;
	*tag = p[0];
	if (content)
		der_reader_init(content, p + hdr, len);
	if (tlv)
		*tlv = p;
	if (tlv_len)
		*tlv_len = hdr + len;
	r->p = p + hdr + len;
	r->left = left - hdr - len;
	return true;
}

/* Does the next TLV have this tag? */
bool
der_peek(const DerReader *r, unsigned char tag)
{
	return r->left > 0 && r->p[0] == tag;
}

/*
 * Convert a serial in lowercase hexadecimal (as sealpg.x509_serial shows
 * it) into its unsigned big-endian bytes.  False for anything else.
 */
bool
der_hex_to_serial(const char *hex, size_t len, unsigned char *out,
				  size_t *out_len, size_t out_max)
{
	size_t		n = (len + 1) / 2;
	size_t		i;
	int			pos = (int) (len % 2);	/* an odd length starts mid-byte */

	if (len == 0 || n > out_max)
		return false;
	memset(out, 0, n);
	for (i = 0; i < len; i++)
	{
		char		c = hex[i];
		int			v;

		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else
			return false;
		out[(i + pos) / 2] |= (unsigned char) (((i + pos) % 2 == 0) ? v << 4 : v);
	}
	*out_len = n;
	return true;
}

/* The lowercase hexadecimal form of a positive INTEGER's content bytes. */
char *
der_serial_to_hex(const unsigned char *p, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	char	   *out = palloc(2 * len + 2);
	char	   *o = out;
	bool		started = false;
	size_t		i;

	for (i = 0; i < len; i++)
	{
		int			hi = p[i] >> 4;
		int			lo = p[i] & 0x0f;

		if (started || hi)
		{
			*o++ = digits[hi];
			started = true;
		}
		if (started || lo)
		{
			*o++ = digits[lo];
			started = true;
		}
	}
	if (!started)
		*o++ = '0';
	*o = '\0';
	return out;
}

/* Append the AlgorithmIdentifier of the key's signatures. */
void
der_put_signature_algorithm(StringInfo buf, EVP_PKEY *key)
{
	if (EVP_PKEY_is_a(key, "ED25519"))
		appendBinaryStringInfo(buf, (const char *) alg_ed25519, sizeof(alg_ed25519));
	else if (EVP_PKEY_is_a(key, "EC"))
		appendBinaryStringInfo(buf, (const char *) alg_ecdsa_sha256, sizeof(alg_ecdsa_sha256));
	else
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("unsupported signing key type"),
				 errdetail("CRLs and OCSP responses are signed with ECDSA P-256 or Ed25519 keys.")));
}

/*
 * Sign tbs with key and append the signatureAlgorithm and signatureValue
 * (a BIT STRING) that follow it in a CertificateList or BasicOCSPResponse.
 */
void
der_sign_and_append(StringInfo out, EVP_PKEY *key, const unsigned char *tbs,
					size_t tbs_len, const char *what)
{
	EVP_MD_CTX *mctx;
	SealpgOsslTracked *mctx_t;
	bool		ed = EVP_PKEY_is_a(key, "ED25519");
	size_t		sig_len = 0;
	unsigned char *sig;

	der_put_signature_algorithm(out, key);
	mctx = EVP_MD_CTX_new();
	if (mctx == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate a digest context");
	mctx_t = sealpg_track_md_ctx(mctx);
	if (EVP_DigestSignInit_ex(mctx, NULL, ed ? NULL : "SHA256", sealpg_token_libctx(),
							  NULL, key, NULL) != 1)
		sealpg_token_sign_failed(what);
	if (EVP_DigestSign(mctx, NULL, &sig_len, tbs, tbs_len) != 1 || sig_len == 0 || sig_len > 1024)
		sealpg_token_sign_failed(what);
	sig = palloc(sig_len);
	if (EVP_DigestSign(mctx, sig, &sig_len, tbs, tbs_len) != 1)
		sealpg_token_sign_failed(what);
	sealpg_ossl_free(mctx_t);

	der_put_header(out, DER_BIT_STRING, sig_len + 1);
	appendStringInfoCharMacro(out, '\0');	/* no unused bits */
	appendBinaryStringInfo(out, (const char *) sig, sig_len);
	pfree(sig);
}
