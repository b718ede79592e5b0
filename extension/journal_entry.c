/*-------------------------------------------------------------------------
 *
 * journal_entry.c
 *	  Canonical serialisation of journal entries and the hashes over it.
 *
 * An entry is serialised as one JSON object with its members in this
 * fixed order and no insignificant whitespace:
 *
 *	{"v":1,"entry_id":"<uuid>","seal_id":"<uuid>","seal_seq":<n>,
 *	 "kind":"<text>","event_time":"YYYY-MM-DDTHH:MM:SS.ffffffZ",
 *	 "prev_hash":"<64 hex>"|null,"payload":<canonical payload>}
 *
 * The payload (jsonb) is written with object members in jsonb's own order
 * (shorter keys first, then bytewise), strings escaped as PostgreSQL's
 * escape_json does, numbers as numeric_out prints them.  The same jsonb
 * value always gives the same bytes, so the journal's hashes can be
 * recomputed from the stored rows; a relying party never needs to
 * re-canonicalise, since the evidence package carries the exact bytes.
 *
 *	entry_hash = SHA-256(serialisation)
 *	leaf_hash  = SHA-256(0x00 || serialisation)			(RFC 6962 leaf)
 *	node       = SHA-256(0x01 || left || right)			(RFC 6962 node)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "executor/spi.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/numeric.h"

#include "journal.h"

/*
 * Append a JSON string literal, escaped exactly as PostgreSQL's
 * escape_json() does (so journal texts match what jsonb prints), but from
 * a counted string, without copying it first.
 */
static void
append_json_string(StringInfo out, const char *str, int len)
{
	const char *p;
	const char *end = str + len;
	const char *run = str;

	appendStringInfoCharMacro(out, '"');
	for (p = str; p < end; p++)
	{
		unsigned char c = (unsigned char) *p;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		appendBinaryStringInfo(out, run, p - run);
		run = p + 1;
		switch (c)
		{
			case '\b':
				appendStringInfoString(out, "\\b");
				break;
			case '\f':
				appendStringInfoString(out, "\\f");
				break;
			case '\n':
				appendStringInfoString(out, "\\n");
				break;
			case '\r':
				appendStringInfoString(out, "\\r");
				break;
			case '\t':
				appendStringInfoString(out, "\\t");
				break;
			case '"':
				appendStringInfoString(out, "\\\"");
				break;
			case '\\':
				appendStringInfoString(out, "\\\\");
				break;
			default:
				appendStringInfo(out, "\\u%04x", c);
				break;
		}
	}
	appendBinaryStringInfo(out, run, end - run);
	appendStringInfoCharMacro(out, '"');
}

/* Append a jsonb scalar in canonical form. */
static void
canonical_scalar(StringInfo out, const JsonbValue *v)
{
	switch (v->type)
	{
		case jbvNull:
			appendBinaryStringInfo(out, "null", 4);
			break;
		case jbvBool:
			if (v->val.boolean)
				appendBinaryStringInfo(out, "true", 4);
			else
				appendBinaryStringInfo(out, "false", 5);
			break;
		case jbvString:
			append_json_string(out, v->val.string.val, v->val.string.len);
			break;
		case jbvNumeric:
			{
				char	   *s = DatumGetCString(DirectFunctionCall1(numeric_out,
																	NumericGetDatum(v->val.numeric)));

				appendStringInfoString(out, s);
				pfree(s);
				break;
			}
		default:
			elog(ERROR, "unexpected jsonb value type %d", (int) v->type);
	}
}

/* Canonical JSON text of a jsonb value (no whitespace, keys in jsonb order). */
void
journal_canonical_jsonb(StringInfo out, JsonbContainer *jc)
{
	JsonbIterator *it = JsonbIteratorInit(jc);
	JsonbValue	v;
	JsonbIteratorToken tok;
	bool		need_comma = false;
	bool		raw_scalar = false;
	int			depth = 0;

	while ((tok = JsonbIteratorNext(&it, &v, false)) != WJB_DONE)
	{
		switch (tok)
		{
			case WJB_BEGIN_ARRAY:
				if (depth++ == 0 && v.val.array.rawScalar)
				{
					raw_scalar = true;
					break;
				}
				if (need_comma)
					appendStringInfoChar(out, ',');
				appendStringInfoChar(out, '[');
				need_comma = false;
				break;
			case WJB_BEGIN_OBJECT:
				depth++;
				if (need_comma)
					appendStringInfoChar(out, ',');
				appendStringInfoChar(out, '{');
				need_comma = false;
				break;
			case WJB_KEY:
				if (need_comma)
					appendStringInfoChar(out, ',');
				canonical_scalar(out, &v);
				appendStringInfoChar(out, ':');
				need_comma = false;
				break;
			case WJB_VALUE:
				canonical_scalar(out, &v);
				need_comma = true;
				break;
			case WJB_ELEM:
				if (need_comma)
					appendStringInfoChar(out, ',');
				canonical_scalar(out, &v);
				need_comma = true;
				break;
			case WJB_END_ARRAY:
				if (!(--depth == 0 && raw_scalar))
					appendStringInfoChar(out, ']');
				need_comma = true;
				break;
			case WJB_END_OBJECT:
				depth--;
				appendStringInfoChar(out, '}');
				need_comma = true;
				break;
			default:
				elog(ERROR, "unexpected jsonb iterator token %d", (int) tok);
		}
	}
}

/* Lowercase hexadecimal of bytes. */
void
journal_hex(StringInfo out, const uint8 *bytes, int len)
{
	static const char digits[] = "0123456789abcdef";
	int			i;

	enlargeStringInfo(out, len * 2);
	for (i = 0; i < len; i++)
	{
		out->data[out->len++] = digits[bytes[i] >> 4];
		out->data[out->len++] = digits[bytes[i] & 15];
	}
	out->data[out->len] = '\0';
}

/* Append a uuid in its usual text form. */
static void
append_uuid(StringInfo out, const pg_uuid_t *u)
{
	journal_hex(out, u->data, 4);
	appendStringInfoChar(out, '-');
	journal_hex(out, u->data + 4, 2);
	appendStringInfoChar(out, '-');
	journal_hex(out, u->data + 6, 2);
	appendStringInfoChar(out, '-');
	journal_hex(out, u->data + 8, 2);
	appendStringInfoChar(out, '-');
	journal_hex(out, u->data + 10, 6);
}

/* Append n as exactly width decimal digits. */
static void
append_digits(StringInfo out, int n, int width)
{
	char		buf[16];
	int			i;

	for (i = width - 1; i >= 0; i--)
	{
		buf[i] = '0' + n % 10;
		n /= 10;
	}
	appendBinaryStringInfo(out, buf, width);
}

/* Append a timestamptz as UTC ISO 8601 with microseconds. */
static void
append_utc_time(StringInfo out, TimestampTz t)
{
	struct pg_tm tm;
	fsec_t		fsec;

	if (TIMESTAMP_NOT_FINITE(t) || timestamp2tm(t, NULL, &tm, &fsec, NULL, NULL) != 0 ||
		tm.tm_year < 1 || tm.tm_year > 9999)
		ereport(ERROR,
				(errcode(ERRCODE_DATETIME_VALUE_OUT_OF_RANGE),
				 errmsg("journal event time out of range")));
	append_digits(out, tm.tm_year, 4);
	appendStringInfoCharMacro(out, '-');
	append_digits(out, tm.tm_mon, 2);
	appendStringInfoCharMacro(out, '-');
	append_digits(out, tm.tm_mday, 2);
	appendStringInfoCharMacro(out, 'T');
	append_digits(out, tm.tm_hour, 2);
	appendStringInfoCharMacro(out, ':');
	append_digits(out, tm.tm_min, 2);
	appendStringInfoCharMacro(out, ':');
	append_digits(out, tm.tm_sec, 2);
	appendStringInfoCharMacro(out, '.');
	append_digits(out, (int) fsec, 6);
	appendStringInfoCharMacro(out, 'Z');
}

/* The entry's canonical serialisation (the leaf data of the Merkle tree). */
void
journal_serialise(StringInfo out, const JournalEntry *e)
{
	char		seq[MAXINT8LEN + 1];

	StaticAssertStmt(JOURNAL_FORMAT_VERSION == 1, "the serialisation below writes version 1");
	appendStringInfoString(out, "{\"v\":1,\"entry_id\":\"");
	append_uuid(out, &e->entry_id);
	appendStringInfoString(out, "\",\"seal_id\":\"");
	append_uuid(out, &e->seal_id);
	appendStringInfoString(out, "\",\"seal_seq\":");
	appendBinaryStringInfo(out, seq, pg_lltoa(e->seal_seq, seq));
	appendStringInfoString(out, ",\"kind\":");
	append_json_string(out, e->kind, strlen(e->kind));
	appendStringInfoString(out, ",\"event_time\":\"");
	append_utc_time(out, e->event_time);
	appendStringInfoString(out, "\",\"prev_hash\":");
	if (e->has_prev)
	{
		appendStringInfoChar(out, '"');
		journal_hex(out, e->prev_hash, JOURNAL_HASH_LEN);
		appendStringInfoChar(out, '"');
	}
	else
		appendStringInfoString(out, "null");
	appendStringInfoString(out, ",\"payload\":");
	journal_canonical_jsonb(out, &e->payload->root);
	appendStringInfoChar(out, '}');
}

/*
 * SHA-256 over the concatenation of up to two buffers, checked.  The
 * digest is fetched and the context made once per backend: fetching per
 * call takes a library-wide lock and doubles the cost of journal_verify.
 */
static void
sha256_two(const uint8 *a, size_t alen, const uint8 *b, size_t blen, uint8 *out)
{
	static EVP_MD *sha256 = NULL;
	static EVP_MD_CTX *ctx = NULL;
	unsigned int outlen = 0;

	if (sha256 == NULL)
	{
		sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
		if (sha256 == NULL)
			ereport(ERROR,
					(errcode(ERRCODE_INTERNAL_ERROR),
					 errmsg("OpenSSL offers no SHA-256")));
	}
	if (ctx == NULL)
	{
		ctx = EVP_MD_CTX_new();
		if (ctx == NULL)
			ereport(ERROR, (errcode(ERRCODE_OUT_OF_MEMORY), errmsg("out of memory")));
	}
	if (EVP_DigestInit_ex(ctx, sha256, NULL) != 1 ||
		EVP_DigestUpdate(ctx, a, alen) != 1 ||
		(blen > 0 && EVP_DigestUpdate(ctx, b, blen) != 1) ||
		EVP_DigestFinal_ex(ctx, out, &outlen) != 1 ||
		outlen != JOURNAL_HASH_LEN)
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("SHA-256 failed in OpenSSL")));
}

/* entry_hash = SHA-256(data), leaf_hash = SHA-256(0x00 || data). */
void
journal_hashes(const StringInfo data, uint8 *entry_hash, uint8 *leaf_hash)
{
	static const uint8 leaf_prefix = 0x00;

	if (entry_hash != NULL)
		sha256_two((const uint8 *) data->data, data->len, NULL, 0, entry_hash);
	if (leaf_hash != NULL)
		sha256_two(&leaf_prefix, 1, (const uint8 *) data->data, data->len, leaf_hash);
}

/* SHA-256(0x01 || left || right). */
void
merkle_node_hash(const uint8 *left, const uint8 *right, uint8 *out)
{
	uint8		buf[1 + 2 * JOURNAL_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, JOURNAL_HASH_LEN);
	memcpy(buf + 1 + JOURNAL_HASH_LEN, right, JOURNAL_HASH_LEN);
	sha256_two(buf, sizeof(buf), NULL, 0, out);
}

/* Fill an entry from an SPI row (see journal.h). */
bool
journal_entry_from_row(HeapTuple row, TupleDesc desc, JournalEntry *e,
					   const char **problem)
{
	bool		isnull[7];
	Datum		d[7];
	int			i;

	for (i = 0; i < 7; i++)
		d[i] = SPI_getbinval(row, desc, i + 1, &isnull[i]);
	for (i = 0; i < 6; i++)
		if (isnull[i])
		{
			*problem = "a required column is null";
			return false;
		}
	memcpy(e->entry_id.data, DatumGetUUIDP(d[0])->data, UUID_LEN);
	memcpy(e->seal_id.data, DatumGetUUIDP(d[1])->data, UUID_LEN);
	e->seal_seq = DatumGetInt64(d[2]);
	e->kind = TextDatumGetCString(d[3]);
	e->event_time = DatumGetTimestampTz(d[4]);
	e->payload = DatumGetJsonbP(d[5]);
	e->has_prev = !isnull[6];
	if (e->has_prev)
	{
		bytea	   *p = DatumGetByteaPP(d[6]);

		if (VARSIZE_ANY_EXHDR(p) != JOURNAL_HASH_LEN)
		{
			*problem = "prev_hash is not 32 bytes";
			return false;
		}
		memcpy(e->prev_hash, VARDATA_ANY(p), JOURNAL_HASH_LEN);
	}
	return true;
}
