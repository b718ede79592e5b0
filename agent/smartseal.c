/*-------------------------------------------------------------------------
 *
 * smartseal.c
 *	  Codec of the smart-seal protocol (DEVICE-PROTOCOL.md), the record
 *	  signature check and the host side of a reading session.
 *
 * A device is not trusted: every length it sends is checked against what
 * is left of the message before use, identifiers must be printable ASCII
 * of bounded length, sequence numbers must come in order, and a session
 * is bounded in messages, so that no answer (however malformed or
 * malicious) can crash the agent or keep it busy forever.  Reading uses
 * the FrameReader/FrameWriter primitives of frame.c (big-endian).
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>

#include "frame.h"
#include "smartseal.h"

/* Most READ_RECORDS rounds one session makes (bounds a chatty device). */
#define SSP_MAX_ROUNDS			4096

/* Read a big-endian u64. */
static uint64_t
fr_u64(FrameReader *r)
{
	uint64_t	hi = fr_u32(r);

	return (hi << 32) | fr_u32(r);
}

/* Write a big-endian u64. */
static void
fw_u64(FrameWriter *w, uint64_t v)
{
	fw_u32(w, (uint32_t) (v >> 32));
	fw_u32(w, (uint32_t) v);
}

/* Take n raw bytes from a reader, or NULL. */
static const uint8_t *
fr_raw(FrameReader *r, size_t n)
{
	const uint8_t *p = r->p;

	if (!r->ok || n > r->left)
	{
		r->ok = false;
		return NULL;
	}
	r->p += n;
	r->left -= n;
	return p;
}

/* Is this string a printable-ASCII identifier (1..SSP_MAX_ID bytes)? */
bool
ssp_valid_id(const uint8_t *s, size_t len, bool allow_empty)
{
	if (len > SSP_MAX_ID || (len == 0 && !allow_empty))
		return false;
	for (size_t i = 0; i < len; i++)
		if (s[i] < 0x21 || s[i] > 0x7E || s[i] == '\\')
			return false;
	return true;
}

/* Read a u8-length identifier into dst (NUL-terminated); false if invalid. */
static bool
read_id(FrameReader *r, char *dst, size_t maxlen, bool allow_empty)
{
	uint8_t		n = fr_u8(r);
	const uint8_t *p = fr_raw(r, n);

	if (p == NULL || n > maxlen || !ssp_valid_id(p, n, allow_empty))
		return false;
	memcpy(dst, p, n);
	dst[n] = '\0';
	return true;
}

/* Write a u8-length string. */
static void
write_id(FrameWriter *w, const char *s)
{
	size_t		n = strlen(s);

	if (n > 255)
	{
		w->ok = false;
		return;
	}
	fw_u8(w, (uint8_t) n);
	if (w->ok && w->len + n <= w->cap)
	{
		memcpy(w->buf + w->len, s, n);
		w->len += n;
	}
	else
		w->ok = false;
}

/* Start a message: header with the length left to fill in. */
static void
msg_begin(FrameWriter *w, uint8_t *buf, size_t cap, uint8_t type, uint16_t tag)
{
	fw_init(w, buf, cap);
	fw_u8(w, SSP_MAGIC0);
	fw_u8(w, SSP_MAGIC1);
	fw_u8(w, SSP_VERSION);
	fw_u8(w, type);
	fw_u16(w, tag);
	fw_u16(w, 0);
}

/* Finish a message: patch the body length; size or 0. */
static size_t
msg_finish(FrameWriter *w)
{
	size_t		body;

	if (!w->ok || w->len > SSP_MAX_MESSAGE)
		return 0;
	body = w->len - SSP_HDR_SIZE;
	w->buf[6] = (uint8_t) (body >> 8);
	w->buf[7] = (uint8_t) body;
	return w->len;
}

/* GET_INFO request. */
size_t
ssp_encode_get_info(uint8_t *buf, size_t cap, uint16_t tag)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_GET_INFO, tag);
	return msg_finish(&w);
}

/* READ_RECORDS request. */
size_t
ssp_encode_read_records(uint8_t *buf, size_t cap, uint16_t tag, uint64_t from_seq, uint8_t max)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_READ_RECORDS, tag);
	fw_u64(&w, from_seq);
	fw_u8(&w, max);
	return msg_finish(&w);
}

/* ACK request. */
size_t
ssp_encode_ack(uint8_t *buf, size_t cap, uint16_t tag, uint64_t seq)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_ACK, tag);
	fw_u64(&w, seq);
	return msg_finish(&w);
}

/* INFO answer. */
size_t
ssp_encode_info(uint8_t *buf, size_t cap, uint16_t tag, const SspInfo *info)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_INFO, tag);
	write_id(&w, info->model);
	write_id(&w, info->serial);
	write_id(&w, info->firmware);
	fw_u8(&w, info->key_alg);
	fw_bytes16(&w, info->public_key, SSP_PUBKEY_LEN);
	fw_u64(&w, info->first_seq);
	fw_u64(&w, info->next_seq);
	return msg_finish(&w);
}

/* The canonical (signed) encoding of a record. */
size_t
ssp_encode_record(uint8_t *buf, size_t cap, const SspRecord *rec)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	for (int i = 0; i < 4; i++)
		fw_u8(&w, (uint8_t) SSP_RECORD_MAGIC[i]);
	write_id(&w, rec->serial);
	fw_u64(&w, rec->seq);
	fw_u64(&w, (uint64_t) rec->time_us);
	fw_u32(&w, (uint32_t) rec->lat_e7);
	fw_u32(&w, (uint32_t) rec->lon_e7);
	fw_u16(&w, rec->accuracy_m);
	fw_u16(&w, rec->force_dn);
	write_id(&w, rec->operator_id);
	return w.ok ? w.len : 0;
}

/* RECORDS answer: count records, each followed by its signature. */
size_t
ssp_encode_records(uint8_t *buf, size_t cap, uint16_t tag, int count,
				   const uint8_t *const *records, const size_t *record_lens,
				   const uint8_t *const *sigs)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_RECORDS, tag);
	fw_u8(&w, (uint8_t) count);
	for (int i = 0; i < count; i++)
	{
		fw_bytes16(&w, records[i], record_lens[i]);
		fw_bytes16(&w, sigs[i], SSP_SIG_LEN);
	}
	return msg_finish(&w);
}

/* ACKED answer. */
size_t
ssp_encode_acked(uint8_t *buf, size_t cap, uint16_t tag, uint64_t first_seq)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_ACKED, tag);
	fw_u64(&w, first_seq);
	return msg_finish(&w);
}

/* ERROR answer. */
size_t
ssp_encode_error(uint8_t *buf, size_t cap, uint16_t tag, uint8_t code, const char *message)
{
	FrameWriter w;

	msg_begin(&w, buf, cap, SSP_ERROR, tag);
	fw_u8(&w, code);
	write_id(&w, message);
	return msg_finish(&w);
}

/* Check a message's header; body and type on success. */
bool
ssp_decode_header(const uint8_t *msg, size_t len, uint8_t *type, uint16_t *tag,
				  const uint8_t **body, size_t *body_len, const char **why)
{
	size_t		n;

	if (len < SSP_HDR_SIZE)
	{
		*why = "message shorter than its header";
		return false;
	}
	if (len > SSP_MAX_MESSAGE)
	{
		*why = "message longer than the protocol allows";
		return false;
	}
	if (msg[0] != SSP_MAGIC0 || msg[1] != SSP_MAGIC1)
	{
		*why = "bad magic";
		return false;
	}
	if (msg[2] != SSP_VERSION)
	{
		*why = "unsupported protocol version";
		return false;
	}
	n = ((size_t) msg[6] << 8) | msg[7];
	if (n != len - SSP_HDR_SIZE)
	{
		*why = "body length does not match the transfer";
		return false;
	}
	*type = msg[3];
	*tag = (uint16_t) ((msg[4] << 8) | msg[5]);
	*body = msg + SSP_HDR_SIZE;
	*body_len = n;
	return true;
}

/* Decode a request (device side): type, tag and its arguments. */
bool
ssp_decode_request(const uint8_t *msg, size_t len, uint8_t *type, uint16_t *tag,
				   uint64_t *seq, uint8_t *max)
{
	const uint8_t *body;
	size_t		body_len;
	const char *why;
	FrameReader r;

	if (!ssp_decode_header(msg, len, type, tag, &body, &body_len, &why))
		return false;
	fr_init(&r, body, body_len);
	*seq = 0;
	*max = 0;
	if (*type == SSP_READ_RECORDS)
	{
		*seq = fr_u64(&r);
		*max = fr_u8(&r);
	}
	else if (*type == SSP_ACK)
		*seq = fr_u64(&r);
	return r.ok && r.left == 0;
}

/* Decode an INFO body. */
bool
ssp_decode_info(const uint8_t *body, size_t len, SspInfo *out, const char **why)
{
	FrameReader r;
	FrameBytes	key;

	memset(out, 0, sizeof(*out));
	fr_init(&r, body, len);
	if (!read_id(&r, out->model, SSP_MAX_ID, false) ||
		!read_id(&r, out->serial, SSP_MAX_ID, false) ||
		!read_id(&r, out->firmware, SSP_MAX_FIRMWARE, false))
	{
		*why = "model, serial or firmware missing, too long or not printable ASCII";
		return false;
	}
	out->key_alg = fr_u8(&r);
	key = fr_bytes16(&r);
	out->first_seq = fr_u64(&r);
	out->next_seq = fr_u64(&r);
	if (!r.ok || r.left != 0)
	{
		*why = "INFO body truncated or too long";
		return false;
	}
	if (out->key_alg != SSP_KEY_ECDSA_P256 || key.len != SSP_PUBKEY_LEN || key.data[0] != 0x04)
	{
		*why = "device key is not an uncompressed ECDSA P-256 point";
		return false;
	}
	memcpy(out->public_key, key.data, SSP_PUBKEY_LEN);
	if (out->first_seq > out->next_seq)
	{
		*why = "first unacknowledged sequence number lies beyond the next one";
		return false;
	}
	return true;
}

/* Decode one record's canonical encoding. */
bool
ssp_decode_record(const uint8_t *rec, size_t len, SspRecord *out, const char **why)
{
	FrameReader r;
	const uint8_t *magic;

	memset(out, 0, sizeof(*out));
	if (len < SSP_MIN_RECORD || len > SSP_MAX_RECORD)
	{
		*why = "record length out of range";
		return false;
	}
	fr_init(&r, rec, len);
	magic = fr_raw(&r, 4);
	if (magic == NULL || memcmp(magic, SSP_RECORD_MAGIC, 4) != 0)
	{
		*why = "record magic is not SSR1";
		return false;
	}
	if (!read_id(&r, out->serial, SSP_MAX_ID, false))
	{
		*why = "record serial missing, too long or not printable ASCII";
		return false;
	}
	out->seq = fr_u64(&r);
	out->time_us = (int64_t) fr_u64(&r);
	out->lat_e7 = (int32_t) fr_u32(&r);
	out->lon_e7 = (int32_t) fr_u32(&r);
	out->accuracy_m = fr_u16(&r);
	out->force_dn = fr_u16(&r);
	if (!read_id(&r, out->operator_id, SSP_MAX_ID, true))
	{
		*why = "record operator id too long or not printable ASCII";
		return false;
	}
	if (!r.ok || r.left != 0)
	{
		*why = "record truncated or followed by extra bytes";
		return false;
	}
	if ((out->lat_e7 == SSP_NO_COORD) != (out->lon_e7 == SSP_NO_COORD) ||
		(out->lat_e7 != SSP_NO_COORD &&
		 (out->lat_e7 < -900000000 || out->lat_e7 > 900000000 ||
		  out->lon_e7 < -1800000000 || out->lon_e7 > 1800000000)))
	{
		*why = "record position out of range";
		return false;
	}
	/* 2000-01-01 .. 2100-01-01: anything else is a broken clock */
	if (out->time_us < INT64_C(946684800000000) || out->time_us > INT64_C(4102444800000000))
	{
		*why = "record time outside 2000..2100";
		return false;
	}
	out->signed_data = rec;
	out->signed_len = len;
	return true;
}

/* Decode an ACKED body. */
bool
ssp_decode_acked(const uint8_t *body, size_t len, uint64_t *first_seq, const char **why)
{
	FrameReader r;

	fr_init(&r, body, len);
	*first_seq = fr_u64(&r);
	if (!r.ok || r.left != 0)
	{
		*why = "ACKED body malformed";
		return false;
	}
	return true;
}

/* ECDSA P-256 / SHA-256 check of a record's signature against a public key. */
bool
ssp_verify_record(const uint8_t *public_key, size_t public_key_len, const SspRecord *rec)
{
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *kctx = NULL;
	EVP_PKEY   *pkey = NULL;
	EVP_MD_CTX *md = NULL;
	ECDSA_SIG  *sig = NULL;
	BIGNUM	   *r = NULL;
	BIGNUM	   *s = NULL;
	unsigned char *der = NULL;
	int			der_len;
	bool		ok = false;

	if (public_key == NULL || public_key_len != SSP_PUBKEY_LEN || rec->signature == NULL ||
		rec->signature_len != SSP_SIG_LEN)
		return false;

	bld = OSSL_PARAM_BLD_new();
	if (bld == NULL ||
		!OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0) ||
		!OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, public_key, public_key_len) ||
		(params = OSSL_PARAM_BLD_to_param(bld)) == NULL)
		goto out;
	kctx = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL);
	if (kctx == NULL || EVP_PKEY_fromdata_init(kctx) <= 0 ||
		EVP_PKEY_fromdata(kctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;

	sig = ECDSA_SIG_new();
	r = BN_bin2bn(rec->signature, SSP_SIG_LEN / 2, NULL);
	s = BN_bin2bn(rec->signature + SSP_SIG_LEN / 2, SSP_SIG_LEN / 2, NULL);
	if (sig == NULL || r == NULL || s == NULL || !ECDSA_SIG_set0(sig, r, s))
		goto out;
	r = s = NULL;				/* owned by sig now */
	der_len = i2d_ECDSA_SIG(sig, &der);
	if (der_len <= 0)
		goto out;

	md = EVP_MD_CTX_new();
	if (md == NULL || EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pkey) != 1)
		goto out;
	ok = EVP_DigestVerify(md, der, (size_t) der_len, rec->signed_data, rec->signed_len) == 1;
out:
	EVP_MD_CTX_free(md);
	OPENSSL_free(der);
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(sig);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(kctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	return ok;
}

/* Record why a session stopped. */
static bool
session_fail(SspSession *s, const char *fmt, const char *detail)
{
	snprintf(s->error, sizeof(s->error), fmt, detail);
	return false;
}

/*
 * Send one request and check the answer: its header, its tag and its
 * type (an ERROR answer fails with the device's message).
 */
static bool
session_call(SspSession *s, const uint8_t *req, size_t req_len, uint8_t want,
			 uint8_t *resp, const uint8_t **body, size_t *body_len)
{
	size_t		resp_len = 0;
	uint8_t		type;
	uint16_t	tag;
	const char *why = "";
	uint16_t	sent_tag = (uint16_t) ((req[4] << 8) | req[5]);

	if (req_len == 0)
		return session_fail(s, "%s", "request does not fit a message");
	if (s->exchange(s->exchange_ctx, req, req_len, resp, SSP_MAX_MESSAGE, &resp_len) != 0)
		return session_fail(s, "%s", "USB transfer failed");
	if (resp_len > SSP_MAX_MESSAGE)
		return session_fail(s, "%s", "device answered more bytes than asked for");
	if (!ssp_decode_header(resp, resp_len, &type, &tag, body, body_len, &why))
		return session_fail(s, "malformed answer: %s", why);
	if (tag != sent_tag)
		return session_fail(s, "%s", "answer carries another request's tag");
	if (type == SSP_ERROR)
	{
		char		msg[64];
		size_t		n = *body_len > 2 ? *body_len - 2 : 0;

		if (n > sizeof(msg) - 1)
			n = sizeof(msg) - 1;
		for (size_t i = 0; i < n; i++)
		{
			uint8_t		c = (*body)[2 + i];

			msg[i] = (c >= 0x20 && c < 0x7F) ? (char) c : '?';
		}
		msg[n] = '\0';
		return session_fail(s, "device refused the request: %s", msg);
	}
	if (type != want)
		return session_fail(s, "%s", "answer of an unexpected type");
	return true;
}

/* Acknowledge every record up to seq; the device must move past it. */
static bool
session_ack(SspSession *s, uint16_t tag, uint64_t seq, uint8_t *req, uint8_t *resp)
{
	const uint8_t *body;
	size_t		body_len;
	uint64_t	first;
	const char *why = "";
	size_t		n = ssp_encode_ack(req, SSP_MAX_MESSAGE, tag, seq);

	if (!session_call(s, req, n, SSP_ACKED, resp, &body, &body_len))
		return false;
	if (!ssp_decode_acked(body, body_len, &first, &why))
		return session_fail(s, "%s", why);
	if (first != seq + 1)
		return session_fail(s, "%s", "device did not move past the acknowledged record");
	return true;
}

/* GET_INFO alone: fill s->info and check the serial; false on error. */
bool
ssp_read_info(SspSession *s)
{
	uint8_t		req[64];
	uint8_t		resp[SSP_MAX_MESSAGE];
	const uint8_t *body;
	size_t		body_len;
	const char *why = "";

	s->stored = s->refused = 0;
	s->error[0] = '\0';
	if (!session_call(s, req, ssp_encode_get_info(req, sizeof(req), 1), SSP_INFO,
					  resp, &body, &body_len))
		return false;
	if (!ssp_decode_info(body, body_len, &s->info, &why))
		return session_fail(s, "malformed INFO: %s", why);
	if (s->expected_serial != NULL && s->expected_serial[0] != '\0' &&
		strcmp(s->expected_serial, s->info.serial) != 0)
		return session_fail(s, "device reports serial \"%s\", unlike its USB descriptor",
							s->info.serial);
	return true;
}

/* Read, check, submit and acknowledge every pending record; false on error. */
bool
ssp_session_run(SspSession *s)
{
	uint8_t		req[64];
	uint8_t		resp[SSP_MAX_MESSAGE];
	const uint8_t *body;
	size_t		body_len;
	const char *why = "";
	uint16_t	tag = 2;
	uint64_t	from;

	if (!ssp_read_info(s))
		return false;
	if (s->public_key_len != SSP_PUBKEY_LEN ||
		memcmp(s->public_key, s->info.public_key, SSP_PUBKEY_LEN) != 0)
	{
		/*
		 * Not fatal by itself: the registered key decides, so every record
		 * will then be refused (and alerted) as badly signed.
		 */
		snprintf(s->error, sizeof(s->error), "device reports a key other than the registered one");
	}

	from = s->info.first_seq;
	for (int round = 0; from < s->info.next_seq; round++)
	{
		FrameReader r;
		uint8_t		count;
		uint64_t	last_ok = 0;
		bool		any_ok = false;

		if (round >= SSP_MAX_ROUNDS)
			return session_fail(s, "%s", "too many rounds; the rest waits for the next session");
		if (!session_call(s, req, ssp_encode_read_records(req, sizeof(req), tag++, from, SSP_MAX_BATCH),
						  SSP_RECORDS, resp, &body, &body_len))
			return false;
		fr_init(&r, body, body_len);
		count = fr_u8(&r);
		if (!r.ok || count == 0 || count > SSP_MAX_BATCH)
			return session_fail(s, "%s", "RECORDS carries no records or too many");
		for (uint8_t i = 0; i < count; i++)
		{
			FrameBytes	raw = fr_bytes16(&r);
			FrameBytes	sig = fr_bytes16(&r);
			SspRecord	rec;
			bool		verified;

			if (!r.ok)
				return session_fail(s, "%s", "RECORDS truncated");
			if (!ssp_decode_record(raw.data, raw.len, &rec, &why))
				return session_fail(s, "malformed record: %s", why);
			if (rec.seq != from + i)
				return session_fail(s, "%s", "records out of sequence");
			rec.signature = sig.data;
			rec.signature_len = sig.len;
			verified = strcmp(rec.serial, s->info.serial) == 0 &&
				ssp_verify_record(s->public_key, s->public_key_len, &rec);
			if (!s->submit(s->submit_ctx, &rec, verified))
			{
				if (any_ok && !session_ack(s, tag++, last_ok, req, resp))
					return false;
				return session_fail(s, "%s", "the database did not take a record; it stays on the device");
			}
			if (verified)
				s->stored++;
			else
				s->refused++;
			last_ok = rec.seq;
			any_ok = true;
		}
		if (r.left != 0)
			return session_fail(s, "%s", "RECORDS followed by extra bytes");
		if (!session_ack(s, tag++, last_ok, req, resp))
			return false;
		from = last_ok + 1;
	}
	return true;
}
