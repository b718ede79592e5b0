/*-------------------------------------------------------------------------
 *
 * json.c
 *	  Reading fields of the JSON files sealpg writes (manifest, journal
 *	  entry, proof, tree head).  These are sealpg's own canonical texts
 *	  (no whitespace, fixed member order), so the verifier looks members
 *	  up by their quoted name; it never needs a general JSON parser, and
 *	  anything it cannot find where it expects it counts as a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verify.h"

/* Start of the value of "key": at or after "after" (NULL: anywhere). */
static const char *
find_member(const char *json, size_t len, const char *key, const char *after)
{
	char		pattern[128];
	const char *start = json;
	const char *p;
	size_t		plen;

	if (after != NULL)
	{
		p = find_member(json, len, after, NULL);
		if (p == NULL)
			return NULL;
		start = p;
	}
	plen = (size_t) snprintf(pattern, sizeof(pattern), "\"%s\":", key);
	if (plen >= sizeof(pattern))
		return NULL;
	for (p = start; p + plen <= json + len; p++)
		if (memcmp(p, pattern, plen) == 0)
			return p + plen;
	return NULL;
}

/*
 * The string value of "key" (malloc'd), searched after the member
 * "after" when given.  Only the escapes \" and \\ are decoded; sealpg's
 * identifiers, hashes and times never need others.
 */
char *
json_string_field(const char *json, size_t len, const char *key, const char *after)
{
	const char *p = find_member(json, len, key, after);
	const char *end = json + len;
	char	   *out;
	size_t		n = 0;

	if (p == NULL || p >= end || *p != '"')
		return NULL;
	out = malloc(end - p);
	if (out == NULL)
		return NULL;
	for (p++; p < end && *p != '"'; p++)
	{
		if (*p == '\\' && p + 1 < end && (p[1] == '"' || p[1] == '\\'))
			p++;
		out[n++] = *p;
	}
	if (p >= end)
	{
		free(out);
		return NULL;
	}
	out[n] = '\0';
	return out;
}

/* The integer value of "key". */
bool
json_int_field(const char *json, size_t len, const char *key, long long *value)
{
	const char *p = find_member(json, len, key, NULL);
	char	   *endp;

	if (p == NULL || p >= json + len || !(*p == '-' || (*p >= '0' && *p <= '9')))
		return false;
	*value = strtoll(p, &endp, 10);
	return endp > p && endp <= json + len;
}

/* An array of hex-encoded 32-byte hashes; count, or -1 when malformed. */
int
json_hex_array(const char *json, size_t len, const char *key,
			   unsigned char (*out)[HASH_LEN], int max)
{
	const char *p = find_member(json, len, key, NULL);
	const char *end = json + len;
	int			n = 0;

	if (p == NULL || p >= end || *p != '[')
		return -1;
	p++;
	if (p < end && *p == ']')
		return 0;
	for (;;)
	{
		char		hex[2 * HASH_LEN + 1];

		if (n == max || p + 2 * HASH_LEN + 2 > end || *p != '"' || p[2 * HASH_LEN + 1] != '"')
			return -1;
		memcpy(hex, p + 1, 2 * HASH_LEN);
		hex[2 * HASH_LEN] = '\0';
		if (!hex_decode(hex, out[n], HASH_LEN))
			return -1;
		n++;
		p += 2 * HASH_LEN + 2;
		if (p < end && *p == ']')
			return n;
		if (p >= end || *p != ',')
			return -1;
		p++;
	}
}
