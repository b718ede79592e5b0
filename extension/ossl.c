/*-------------------------------------------------------------------------
 *
 * ossl.c
 *	  OpenSSL plumbing shared by the whole extension: error reporting,
 *	  tracking of OpenSSL objects across ERRORs, PEM and base64 text forms,
 *	  and small ASN.1 conversions.  See ossl.h for the usage pattern.
 *
 * Tracking.  OpenSSL allocates with malloc, so an ereport(ERROR) raised
 * while an OpenSSL object is alive would leak it: the longjmp skips the
 * code that frees it and no memory context reset reaches it.  Each object
 * is therefore registered, right after it is made, with a reset callback
 * on CurrentMemoryContext.  PostgreSQL resets or deletes that context
 * during error recovery (the per-call, per-tuple, portal, SPI or
 * transaction context the function ran in), and the callback frees the
 * object.  On the normal path the code frees the object itself with
 * sealpg_ossl_free(), which leaves the callback with nothing to do.
 * Memory contexts in PostgreSQL 15 cannot unregister a callback, so the
 * small palloc'd record stays until its context goes away; that is the
 * same lifetime as any other palloc made by the same call.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "lib/stringinfo.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/memutils.h"

#include <openssl/err.h>

#include "ossl.h"

/* A tracked OpenSSL object: freed by the callback unless freed before. */
struct SealpgOsslTracked
{
	MemoryContextCallback callback;
	void	   *obj;
	void		(*free_fn) (void *);
};

/* ---------------------------------------------------------------------
 * Error queue
 * ---------------------------------------------------------------------
 */

/*
 * Describe the OpenSSL error queue in a few words and clear it.
 *
 * The earliest error is the root cause (the innermost decoder that gave
 * up), so its reason is kept; the enclosing levels only repeat "nested asn1
 * error", but the first of them to carry text says where it happened
 * ("Field=serialNumber, Type=X509_CINF"), so that text is kept too.
 */
char *
sealpg_ossl_error_reason(void)
{
	unsigned long code;
	unsigned long first = 0;
	char	   *where = NULL;
	const char *data;
	int			flags;
	const char *reason;

	for (;;)
	{
		data = NULL;
		flags = 0;
		code = ERR_get_error_all(NULL, NULL, NULL, &data, &flags);
		if (code == 0)
			break;
		if (first == 0)
			first = code;
		if (where == NULL && (flags & ERR_TXT_STRING) && data != NULL &&
			data[0] != '\0')
			where = pstrdup(data);
	}
	ERR_clear_error();

	if (first == 0)
		return pstrdup("OpenSSL gave no reason");
	reason = ERR_reason_error_string(first);
	if (reason == NULL)
		reason = psprintf("OpenSSL error code %lu", first);
	if (where != NULL)
		return psprintf("%s (%s)", reason, where);
	return pstrdup(reason);
}

/* Raise an ERROR with the given SQLSTATE and message, OpenSSL's reason as detail. */
void
sealpg_ossl_ereport(int sqlstate, const char *message)
{
	char	   *reason = sealpg_ossl_error_reason();

	ereport(ERROR,
			(errcode(sqlstate),
			 errmsg_internal("%s", message),
			 errdetail("OpenSSL reported: %s.", reason)));
	pg_unreachable();
}

/* ---------------------------------------------------------------------
 * Tracking
 * ---------------------------------------------------------------------
 */

/* Memory context reset callback: free the object if it is still held. */
static void
sealpg_ossl_release(void *arg)
{
	SealpgOsslTracked *tracked = (SealpgOsslTracked *) arg;
	void	   *obj = tracked->obj;

	tracked->obj = NULL;
	if (obj != NULL)
		tracked->free_fn(obj);
}

/*
 * Register an OpenSSL object on CurrentMemoryContext.  If the registration
 * itself fails (out of memory), the object is freed before the error
 * propagates, so there is no window in which it can leak.
 */
SealpgOsslTracked *
sealpg_ossl_track(void *obj, void (*free_fn) (void *))
{
	SealpgOsslTracked *volatile tracked = NULL;

	Assert(free_fn != NULL);

	PG_TRY();
	{
		tracked = MemoryContextAlloc(CurrentMemoryContext,
									 sizeof(SealpgOsslTracked));
	}
	PG_CATCH();
	{
		if (obj != NULL)
			free_fn(obj);
		PG_RE_THROW();
	}
	PG_END_TRY();

	tracked->obj = obj;
	tracked->free_fn = free_fn;
	tracked->callback.func = sealpg_ossl_release;
	tracked->callback.arg = tracked;
	MemoryContextRegisterResetCallback(CurrentMemoryContext,
									   &tracked->callback);
	return tracked;
}

/* Free a tracked object now; its callback then has nothing left to do. */
void
sealpg_ossl_free(SealpgOsslTracked *tracked)
{
	if (tracked != NULL)
		sealpg_ossl_release(tracked);
}

/* Stop tracking an object and hand it to the caller, who must free it. */
void *
sealpg_ossl_untrack(SealpgOsslTracked *tracked)
{
	void	   *obj = tracked->obj;

	tracked->obj = NULL;
	return obj;
}

/* Free function for X509. */
static void
free_x509(void *obj)
{
	X509_free((X509 *) obj);
}

/* Free function for a stack of X509 and the certificates in it. */
static void
free_x509_stack(void *obj)
{
	sk_X509_pop_free((STACK_OF(X509) *) obj, X509_free);
}

/* Free function for CMS_ContentInfo. */
static void
free_cms(void *obj)
{
	CMS_ContentInfo_free((CMS_ContentInfo *) obj);
}

/* Free function for BIO. */
static void
free_bio(void *obj)
{
	BIO_free_all((BIO *) obj);
}

/* Free function for EVP_PKEY. */
static void
free_pkey(void *obj)
{
	EVP_PKEY_free((EVP_PKEY *) obj);
}

/* Free function for EVP_MD_CTX. */
static void
free_md_ctx(void *obj)
{
	EVP_MD_CTX_free((EVP_MD_CTX *) obj);
}

/* Free function for ASN1_OBJECT. */
static void
free_asn1_object(void *obj)
{
	ASN1_OBJECT_free((ASN1_OBJECT *) obj);
}

/* Free function for memory OpenSSL allocated (i2d output, UTF-8 strings). */
static void
free_openssl_memory(void *obj)
{
	OPENSSL_free(obj);
}

/* Track an X509. */
SealpgOsslTracked *
sealpg_track_x509(X509 *obj)
{
	return sealpg_ossl_track(obj, free_x509);
}

/* Track a STACK_OF(X509) together with its certificates. */
SealpgOsslTracked *
sealpg_track_x509_stack(STACK_OF(X509) *obj)
{
	return sealpg_ossl_track(obj, free_x509_stack);
}

/* Track a CMS_ContentInfo. */
SealpgOsslTracked *
sealpg_track_cms(CMS_ContentInfo *obj)
{
	return sealpg_ossl_track(obj, free_cms);
}

/* Track a BIO (and any BIOs chained behind it). */
SealpgOsslTracked *
sealpg_track_bio(BIO *obj)
{
	return sealpg_ossl_track(obj, free_bio);
}

/* Track an EVP_PKEY. */
SealpgOsslTracked *
sealpg_track_pkey(EVP_PKEY *obj)
{
	return sealpg_ossl_track(obj, free_pkey);
}

/* Track an EVP_MD_CTX. */
SealpgOsslTracked *
sealpg_track_md_ctx(EVP_MD_CTX *obj)
{
	return sealpg_ossl_track(obj, free_md_ctx);
}

/* Track an ASN1_OBJECT made by OBJ_txt2obj. */
SealpgOsslTracked *
sealpg_track_asn1_object(ASN1_OBJECT *obj)
{
	return sealpg_ossl_track(obj, free_asn1_object);
}

/* Track a buffer allocated by OpenSSL (freed with OPENSSL_free). */
SealpgOsslTracked *
sealpg_track_openssl_memory(void *obj)
{
	return sealpg_ossl_track(obj, free_openssl_memory);
}

/* ---------------------------------------------------------------------
 * Text forms
 * ---------------------------------------------------------------------
 */

static const char base64_alphabet[] =
"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Value of a base64 digit, or -1 if c is not one. */
static inline int
base64_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Is c white space that PEM and base64 text may contain? */
static inline bool
is_pem_space(unsigned char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		c == '\f' || c == '\v';
}

/* Describe one character for an error message: printable or as a byte. */
static char *
describe_char(unsigned char c)
{
	if (c >= 0x21 && c < 0x7f)
		return psprintf("\"%c\"", c);
	return psprintf("byte 0x%02x", c);
}

/*
 * Decode base64 (white space ignored).  Returns NULL and sets *out and *outlen
 * (palloc'd) on success, or a sentence saying what is wrong.
 */
const char *
sealpg_base64_decode(const char *src, size_t len,
					 unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	size_t		nout = 0;
	size_t		ndigits = 0;
	int			npad = 0;
	uint32		acc = 0;
	size_t		i;

	buf = palloc(len / 4 * 3 + 3);
	for (i = 0; i < len; i++)
	{
		unsigned char c = (unsigned char) src[i];
		int			v;

		if (is_pem_space(c))
			continue;
		if (c == '=')
		{
			npad++;
			if (npad > 2)
				return "The base64 text has more than two padding characters (\"=\").";
			continue;
		}
		v = base64_value(c);
		if (v < 0)
			return psprintf("The base64 text contains %s at offset %zu, which is not a base64 character.",
							describe_char(c), i);
		if (npad > 0)
			return psprintf("The base64 text continues after its padding (\"=\") at offset %zu.", i);
		acc = (acc << 6) | (uint32) v;
		ndigits++;
		if (ndigits % 4 == 0)
		{
			buf[nout++] = (acc >> 16) & 0xff;
			buf[nout++] = (acc >> 8) & 0xff;
			buf[nout++] = acc & 0xff;
			acc = 0;
		}
	}

	if (ndigits == 0)
		return "The base64 text is empty.";
	if ((ndigits + npad) % 4 != 0)
		return psprintf("The base64 text is truncated: %zu characters is not a multiple of 4.",
						ndigits + npad);
	if (ndigits % 4 == 1)
		return "The base64 text ends with a single character in its last group.";
	if (ndigits % 4 == 2)
		buf[nout++] = (acc >> 4) & 0xff;
	else if (ndigits % 4 == 3)
	{
		buf[nout++] = (acc >> 10) & 0xff;
		buf[nout++] = (acc >> 2) & 0xff;
	}

	*out = buf;
	*outlen = nout;
	return NULL;
}

/* Encode base64 with padding; line_width > 0 breaks lines with "\n". */
char *
sealpg_base64_encode(const unsigned char *src, size_t len, int line_width)
{
	StringInfoData buf;
	size_t		i;
	int			column = 0;

	initStringInfo(&buf);
	for (i = 0; i < len; i += 3)
	{
		uint32		acc = (uint32) src[i] << 16;
		int			nbytes = (len - i >= 3) ? 3 : (int) (len - i);
		char		group[4];

		if (nbytes > 1)
			acc |= (uint32) src[i + 1] << 8;
		if (nbytes > 2)
			acc |= (uint32) src[i + 2];
		group[0] = base64_alphabet[(acc >> 18) & 0x3f];
		group[1] = base64_alphabet[(acc >> 12) & 0x3f];
		group[2] = nbytes > 1 ? base64_alphabet[(acc >> 6) & 0x3f] : '=';
		group[3] = nbytes > 2 ? base64_alphabet[acc & 0x3f] : '=';
		if (line_width > 0 && column >= line_width)
		{
			appendStringInfoChar(&buf, '\n');
			column = 0;
		}
		appendBinaryStringInfo(&buf, group, 4);
		column += 4;
	}
	return buf.data;
}

/* Skip leading and trailing white space; returns the start, sets *len. */
const char *
sealpg_trim_whitespace(const char *text, size_t *len)
{
	size_t		n = *len;

	while (n > 0 && is_pem_space((unsigned char) text[0]))
	{
		text++;
		n--;
	}
	while (n > 0 && is_pem_space((unsigned char) text[n - 1]))
		n--;
	*len = n;
	return text;
}

/* A PEM label made safe to quote in a message (printable, bounded). */
static char *
printable_label(const char *label, size_t len)
{
	StringInfoData buf;
	size_t		i;

	initStringInfo(&buf);
	for (i = 0; i < len && i < 64; i++)
	{
		unsigned char c = (unsigned char) label[i];

		appendStringInfoChar(&buf, (c >= 0x20 && c < 0x7f) ? (char) c : '?');
	}
	if (len > 64)
		appendStringInfoString(&buf, "...");
	return buf.data;
}

/* Find needle in the first len bytes of haystack (not NUL-terminated). */
static const char *
find_bytes(const char *haystack, size_t len, const char *needle)
{
	size_t		nlen = strlen(needle);
	size_t		i;

	if (nlen > len)
		return NULL;
	for (i = 0; i + nlen <= len; i++)
		if (memcmp(haystack + i, needle, nlen) == 0)
			return haystack + i;
	return NULL;
}

/*
 * Decode exactly one PEM block whose label is one of labels[].  The text
 * may have white space around the block and nothing else.  Returns NULL and
 * sets *der and *der_len (palloc'd) on success, or a sentence saying what is
 * wrong; expected names the accepted labels for that sentence.
 */
const char *
sealpg_pem_decode(const char *text, size_t len,
				  const char *const *labels, int nlabels,
				  const char *expected,
				  unsigned char **der, size_t *der_len)
{
	static const char begin_mark[] = "-----BEGIN ";
	static const char end_mark[] = "-----END ";
	static const char dashes[] = "-----";
	const char *p;
	const char *stop;
	const char *label;
	size_t		label_len;
	const char *body;
	const char *end_line;
	const char *end_label;
	const char *after;
	char	   *label_str;
	const char *problem;
	int			i;
	bool		known = false;

	p = sealpg_trim_whitespace(text, &len);
	stop = p + len;
	if (len == 0)
		return "The input is empty.";
	if (len < strlen(begin_mark) || memcmp(p, begin_mark, strlen(begin_mark)) != 0)
		return psprintf("The input is not PEM: it does not begin with \"-----BEGIN \"; expected %s PEM block.",
						expected);

	/* header line: -----BEGIN label----- */
	label = p + strlen(begin_mark);
	p = find_bytes(label, stop - label, dashes);
	body = memchr(label, '\n', stop - label);
	if (p == NULL || (body != NULL && p > body))
		return "The PEM header line does not end with \"-----\".";
	label_len = p - label;
	label_str = printable_label(label, label_len);
	p += strlen(dashes);
	while (p < stop && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	if (p < stop && *p != '\n')
		return "The PEM header line has text after its closing \"-----\".";
	body = p;

	for (i = 0; i < nlabels; i++)
		if (strlen(labels[i]) == label_len &&
			memcmp(labels[i], label, label_len) == 0)
			known = true;
	if (!known)
		return psprintf("Expected %s PEM block, found %s.", expected, label_str);

	/* footer line: -----END label----- */
	end_line = find_bytes(body, stop - body, end_mark);
	if (end_line == NULL)
		return psprintf("The PEM block has no \"-----END %s-----\" line.", label_str);
	end_label = end_line + strlen(end_mark);
	after = find_bytes(end_label, stop - end_label, dashes);
	if (after == NULL ||
		(size_t) (after - end_label) != label_len ||
		memcmp(end_label, label, label_len) != 0)
	{
		const char *nl = memchr(end_label, '\n', stop - end_label);
		size_t		shown = (after != NULL) ? (size_t) (after - end_label) :
			(nl != NULL ? (size_t) (nl - end_label) : (size_t) (stop - end_label));

		return psprintf("The PEM block begins with label %s but ends with label %s.",
						label_str, printable_label(end_label, shown));
	}
	after += strlen(dashes);
	if (after < stop)
	{
		const char *rest = after;
		size_t		rest_len = stop - after;

		rest = sealpg_trim_whitespace(rest, &rest_len);
		if (rest_len >= strlen(begin_mark) &&
			memcmp(rest, begin_mark, strlen(begin_mark)) == 0)
			return "A second PEM block follows the first; only one is accepted.";
		return psprintf("Text follows the \"-----END %s-----\" line.", label_str);
	}

	/* RFC 1421 headers (encrypted PEM) have a colon; base64 never does */
	if (memchr(body, ':', end_line - body) != NULL)
		return "The PEM block has headers (such as Proc-Type or DEK-Info); they are not accepted.";

	{
		size_t		body_len = end_line - body;

		sealpg_trim_whitespace(body, &body_len);
		if (body_len == 0)
			return "The PEM block contains no data.";
	}

	problem = sealpg_base64_decode(body, end_line - body, der, der_len);
	if (problem != NULL)
		return psprintf("The body of the PEM block is not valid: %c%s",
						pg_tolower((unsigned char) problem[0]), problem + 1);
	return NULL;
}

/* PEM text of DER bytes: BEGIN line, base64 in 64-column lines, END line. */
char *
sealpg_pem_encode(const char *label, const unsigned char *der, size_t len)
{
	return psprintf("-----BEGIN %s-----\n%s\n-----END %s-----\n",
					label, sealpg_base64_encode(der, len, 64), label);
}

/* ---------------------------------------------------------------------
 * ASN.1
 * ---------------------------------------------------------------------
 */

/*
 * Check the outer tag and length of an encoded SEQUENCE before handing it
 * to a decoder, so that the common mistakes get a precise reason: empty,
 * too long, not a SEQUENCE, truncated, trailing bytes, absurd or (for DER)
 * non-minimal or indefinite lengths.  With ber, indefinite and long-form
 * lengths are allowed and the caller checks the end after decoding.
 * Returns NULL if the header is sound, else a sentence.
 */
const char *
sealpg_der_outer_problem(const unsigned char *der, size_t len, size_t max_len,
						 bool ber, const char *what)
{
	size_t		nlen;
	size_t		content_len = 0;
	size_t		header_len;
	size_t		i;

	if (len == 0)
		return "The DER encoding is empty.";
	if (len > max_len)
		return psprintf("The DER encoding is %zu bytes long; at most %zu bytes are accepted for a %s.",
						len, max_len, what);
	if (der[0] != 0x30)
		return psprintf("The DER encoding does not begin with a SEQUENCE tag (0x30) but with 0x%02x.",
						der[0]);
	if (len < 2)
		return "The DER encoding is truncated: it ends before the length of the outer SEQUENCE.";

	if (der[1] < 0x80)
	{
		content_len = der[1];
		header_len = 2;
	}
	else if (der[1] == 0x80)
	{
		if (ber)
			return NULL;
		return "The outer SEQUENCE has an indefinite length, which DER forbids.";
	}
	else
	{
		nlen = der[1] & 0x7f;
		if (nlen > 4)
			return psprintf("The length of the outer SEQUENCE is given in %zu bytes; more than 4 is absurd.",
							nlen);
		if (len < 2 + nlen)
			return "The DER encoding is truncated: it ends inside the length of the outer SEQUENCE.";
		for (i = 0; i < nlen; i++)
			content_len = (content_len << 8) | der[2 + i];
		if (!ber && (der[2] == 0 || content_len < 0x80))
			return "The length of the outer SEQUENCE is not in its shortest form, which DER requires.";
		header_len = 2 + nlen;
	}

	if (content_len > max_len)
		return psprintf("The outer SEQUENCE declares %zu bytes of content, more than the %zu accepted for a %s.",
						content_len, max_len, what);
	if (header_len + content_len > len)
		return psprintf("The DER encoding is truncated: the outer SEQUENCE declares %zu bytes of content but only %zu follow.",
						content_len, len - header_len);
	if (header_len + content_len < len)
	{
		size_t		trailing = len - header_len - content_len;

		if (trailing == 1)
			return psprintf("1 byte of trailing data follows the %s.", what);
		return psprintf("%zu bytes of trailing data follow the %s.",
						trailing, what);
	}
	return NULL;
}

/* An ASN.1 INTEGER as lowercase hex without leading zeros ("0" for zero). */
char *
sealpg_asn1_integer_hex(const ASN1_INTEGER *value)
{
	static const char hexdigits[] = "0123456789abcdef";
	const unsigned char *bytes = ASN1_STRING_get0_data(value);
	int			n = ASN1_STRING_length(value);
	StringInfoData buf;
	bool		started = false;
	int			i;

	initStringInfo(&buf);
	if (ASN1_STRING_type(value) == V_ASN1_NEG_INTEGER)
		appendStringInfoChar(&buf, '-');
	for (i = 0; i < n; i++)
	{
		int			hi = bytes[i] >> 4;
		int			lo = bytes[i] & 0x0f;

		if (started || hi != 0)
		{
			appendStringInfoChar(&buf, hexdigits[hi]);
			started = true;
		}
		if (started || lo != 0)
		{
			appendStringInfoChar(&buf, hexdigits[lo]);
			started = true;
		}
	}
	if (!started)
	{
		resetStringInfo(&buf);
		appendStringInfoChar(&buf, '0');
	}
	return buf.data;
}

/* An ASN.1 UTCTime/GeneralizedTime as timestamptz; false if it is invalid. */
bool
sealpg_asn1_time_to_timestamptz(const ASN1_TIME *value, TimestampTz *result)
{
	struct tm	tm;
	int64		days;
	int64		seconds;

	if (value == NULL || ASN1_TIME_check(value) != 1)
		return false;
	memset(&tm, 0, sizeof(tm));
	if (ASN1_TIME_to_tm(value, &tm) != 1)
		return false;

	days = (int64) date2j(tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday) -
		POSTGRES_EPOCH_JDATE;
	seconds = days * SECS_PER_DAY +
		tm.tm_hour * SECS_PER_HOUR + tm.tm_min * SECS_PER_MINUTE + tm.tm_sec;
	*result = seconds * USECS_PER_SEC;
	return IS_VALID_TIMESTAMP(*result);
}

/* UTF-8 bytes from OpenSSL as a text value in the server encoding. */
text *
sealpg_utf8_to_text(const char *utf8, size_t len)
{
	char	   *converted = pg_any_to_server(utf8, (int) len, PG_UTF8);

	if (converted == utf8)
		return cstring_to_text_with_len(utf8, (int) len);
	return cstring_to_text(converted);
}

/*
 * A distinguished name as RFC 2253 text, most specific attribute first,
 * e.g. "CN=Seal 1,O=Example,C=FR".  Non-ASCII characters are kept as
 * UTF-8 (not escaped) and converted to the server encoding.
 */
char *
sealpg_x509_name_text(const X509_NAME *name)
{
	BIO		   *bio;
	SealpgOsslTracked *bio_t;
	char	   *data;
	long		len;
	char	   *result;

	bio = BIO_new(BIO_s_mem());
	if (bio == NULL)
		sealpg_ossl_ereport(ERRCODE_OUT_OF_MEMORY, "could not allocate an OpenSSL memory buffer");
	bio_t = sealpg_track_bio(bio);

	if (X509_NAME_print_ex(bio, name, 0,
						   XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB) < 0)
		sealpg_ossl_ereport(ERRCODE_INTERNAL_ERROR, "could not print a distinguished name");
	len = BIO_get_mem_data(bio, &data);
	if (len < 0)
		sealpg_ossl_ereport(ERRCODE_INTERNAL_ERROR, "could not read an OpenSSL memory buffer");

	result = pg_any_to_server(data, (int) len, PG_UTF8);
	if (result == data)
		result = pnstrdup(data, len);
	sealpg_ossl_free(bio_t);
	return result;
}
