/*-------------------------------------------------------------------------
 *
 * frame.c
 *	  Encoding and decoding of sealpg-agent frames (see PROTOCOL.md).
 *
 * Nothing here performs I/O or allocates memory.  A reader never reads past
 * the body it was given: every length taken from the wire is compared with
 * what is left before it is used, and the first overrun makes the reader
 * fail for good.  The fuzz target drives every decoder in this file.
 *
 *-------------------------------------------------------------------------
 */
#include <string.h>

#include "frame.h"

/* Check a received length prefix: 0, or the error code to answer with. */
int
frame_check_length(const uint8_t prefix[SEALPG_LEN_SIZE], uint32_t *len_out)
{
	uint32_t	len;

	len = ((uint32_t) prefix[0] << 24) | ((uint32_t) prefix[1] << 16) |
		((uint32_t) prefix[2] << 8) | (uint32_t) prefix[3];
	*len_out = len;
	if (len == 0)
		return SEALPG_ERR_BAD_FRAME;
	if (len > SEALPG_MAX_FRAME)
		return SEALPG_ERR_TOO_LARGE;
	return 0;
}

/* Start reading a body of len bytes. */
void
fr_init(FrameReader *r, const uint8_t *body, size_t len)
{
	r->p = body;
	r->left = len;
	r->ok = true;
}

/* Take n bytes from the reader, or NULL (and fail) when fewer are left. */
static const uint8_t *
fr_take(FrameReader *r, size_t n)
{
	const uint8_t *p;

	if (!r->ok || n > r->left)
	{
		r->ok = false;
		return NULL;
	}
	p = r->p;
	r->p += n;
	r->left -= n;
	return p;
}

/* Read one byte. */
uint8_t
fr_u8(FrameReader *r)
{
	const uint8_t *p = fr_take(r, 1);

	return p ? p[0] : 0;
}

/* Read a big-endian u16. */
uint16_t
fr_u16(FrameReader *r)
{
	const uint8_t *p = fr_take(r, 2);

	return p ? (uint16_t) ((p[0] << 8) | p[1]) : 0;
}

/* Read a big-endian u32. */
uint32_t
fr_u32(FrameReader *r)
{
	const uint8_t *p = fr_take(r, 4);

	if (p == NULL)
		return 0;
	return ((uint32_t) p[0] << 24) | ((uint32_t) p[1] << 16) |
		((uint32_t) p[2] << 8) | (uint32_t) p[3];
}

/* Read a byte string with a u16 length prefix. */
FrameBytes
fr_bytes16(FrameReader *r)
{
	FrameBytes	b = {NULL, 0};
	uint16_t	n = fr_u16(r);
	const uint8_t *p = fr_take(r, n);

	if (p != NULL)
	{
		b.data = p;
		b.len = n;
	}
	return b;
}

/* Read a byte string with a u32 length prefix. */
FrameBytes
fr_bytes32(FrameReader *r)
{
	FrameBytes	b = {NULL, 0};
	uint32_t	n = fr_u32(r);
	const uint8_t *p = fr_take(r, n);

	if (p != NULL)
	{
		b.data = p;
		b.len = n;
	}
	return b;
}

/* True when every read succeeded and the whole body was consumed. */
bool
fr_done(const FrameReader *r)
{
	return r->ok && r->left == 0;
}

/* Start writing frames into buf. */
void
fw_init(FrameWriter *w, uint8_t *buf, size_t cap)
{
	w->buf = buf;
	w->cap = cap;
	w->len = 0;
	w->ok = true;
}

/* Append n bytes, failing when they do not fit or the frame grows too big. */
static void
fw_put(FrameWriter *w, const void *data, size_t n)
{
	if (!w->ok || n > w->cap - w->len ||
		w->len + n > (size_t) SEALPG_MAX_FRAME + SEALPG_LEN_SIZE)
	{
		w->ok = false;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, data, n);
	w->len += n;
}

/* Begin a frame of the given type (the length is filled in by fw_finish). */
void
fw_begin(FrameWriter *w, uint8_t type)
{
	static const uint8_t zero[SEALPG_LEN_SIZE] = {0};

	w->len = 0;
	w->ok = true;
	fw_put(w, zero, SEALPG_LEN_SIZE);
	fw_put(w, &type, 1);
}

/* Append one byte. */
void
fw_u8(FrameWriter *w, uint8_t v)
{
	fw_put(w, &v, 1);
}

/* Append a big-endian u16. */
void
fw_u16(FrameWriter *w, uint16_t v)
{
	uint8_t		b[2] = {(uint8_t) (v >> 8), (uint8_t) v};

	fw_put(w, b, 2);
}

/* Append a big-endian u32. */
void
fw_u32(FrameWriter *w, uint32_t v)
{
	uint8_t		b[4] = {(uint8_t) (v >> 24), (uint8_t) (v >> 16),
	(uint8_t) (v >> 8), (uint8_t) v};

	fw_put(w, b, 4);
}

/* Append a byte string with a u16 length prefix. */
void
fw_bytes16(FrameWriter *w, const void *data, size_t len)
{
	if (len > UINT16_MAX)
	{
		w->ok = false;
		return;
	}
	fw_u16(w, (uint16_t) len);
	fw_put(w, data, len);
}

/* Append a byte string with a u32 length prefix. */
void
fw_bytes32(FrameWriter *w, const void *data, size_t len)
{
	if (len > SEALPG_MAX_FRAME)
	{
		w->ok = false;
		return;
	}
	fw_u32(w, (uint32_t) len);
	fw_put(w, data, len);
}

/* Append a C string with a u16 length prefix (no terminator on the wire). */
void
fw_str16(FrameWriter *w, const char *s)
{
	fw_bytes16(w, s, s ? strlen(s) : 0);
}

/* Fill in the length prefix; the frame size, or 0 when it overflowed. */
size_t
fw_finish(FrameWriter *w)
{
	uint32_t	len;

	if (!w->ok || w->len < SEALPG_HDR_SIZE)
		return 0;
	len = (uint32_t) (w->len - SEALPG_LEN_SIZE);
	w->buf[0] = (uint8_t) (len >> 24);
	w->buf[1] = (uint8_t) (len >> 16);
	w->buf[2] = (uint8_t) (len >> 8);
	w->buf[3] = (uint8_t) len;
	return w->len;
}

/* A token label: 1..32 bytes without NUL. */
static bool
valid_token_label(FrameBytes b)
{
	return b.data != NULL && b.len >= 1 && b.len <= SEALPG_MAX_LABEL &&
		memchr(b.data, '\0', b.len) == NULL;
}

/* A key id: 1..64 bytes. */
static bool
valid_key_id(FrameBytes b)
{
	return b.data != NULL && b.len >= 1 && b.len <= SEALPG_MAX_KEY_ID;
}

/* Decode a HELLO request body. */
int
frame_decode_hello(const uint8_t *body, size_t len, HelloReq *out,
				   const char **why)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->version = fr_u32(&r);
	if (!fr_done(&r))
	{
		*why = "HELLO body must be exactly a u32 version";
		return SEALPG_ERR_BAD_FRAME;
	}
	return 0;
}

/* Decode a body that must be empty (LIST_TOKENS). */
int
frame_decode_empty(const uint8_t *body, size_t len, const char **why)
{
	(void) body;
	if (len != 0)
	{
		*why = "request body must be empty";
		return SEALPG_ERR_BAD_FRAME;
	}
	return 0;
}

/* Decode a KEYGEN request body. */
int
frame_decode_keygen(const uint8_t *body, size_t len, KeygenReq *out,
					const char **why)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->token = fr_bytes16(&r);
	out->alg = fr_u8(&r);
	out->label = fr_bytes16(&r);
	if (!fr_done(&r))
	{
		*why = "KEYGEN body is token, algorithm, label";
		return SEALPG_ERR_BAD_FRAME;
	}
	if (!valid_token_label(out->token))
	{
		*why = "token label must be 1 to 32 bytes without NUL";
		return SEALPG_ERR_BAD_ARGS;
	}
	if (out->alg != SEALPG_ALG_EC_P256 && out->alg != SEALPG_ALG_ED25519)
	{
		*why = "unknown key algorithm";
		return SEALPG_ERR_BAD_ARGS;
	}
	if (out->label.len > SEALPG_MAX_KEY_LABEL ||
		(out->label.len > 0 && memchr(out->label.data, '\0', out->label.len)))
	{
		*why = "key label must be at most 128 bytes without NUL";
		return SEALPG_ERR_BAD_ARGS;
	}
	return 0;
}

/* Are token label and key id both valid? If not, *why says which. */
static bool
valid_key_ref(FrameBytes token, FrameBytes key_id, const char **why)
{
	if (!valid_token_label(token))
	{
		*why = "token label must be 1 to 32 bytes without NUL";
		return false;
	}
	if (!valid_key_id(key_id))
	{
		*why = "key id must be 1 to 64 bytes";
		return false;
	}
	return true;
}

/* Decode a SIGN request body. */
int
frame_decode_sign(const uint8_t *body, size_t len, SignReq *out,
				  const char **why)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->token = fr_bytes16(&r);
	out->key_id = fr_bytes16(&r);
	out->mech = fr_u8(&r);
	out->input = fr_bytes32(&r);
	if (!fr_done(&r))
	{
		*why = "SIGN body is token, key id, mechanism, input";
		return SEALPG_ERR_BAD_FRAME;
	}
	if (!valid_key_ref(out->token, out->key_id, why))
		return SEALPG_ERR_BAD_ARGS;
	if (out->mech == SEALPG_MECH_ECDSA)
	{
		if (out->input.len < 20 || out->input.len > SEALPG_MAX_DIGEST)
		{
			*why = "ECDSA input must be a digest of 20 to 64 bytes";
			return SEALPG_ERR_BAD_ARGS;
		}
	}
	else if (out->mech != SEALPG_MECH_EDDSA)
	{
		*why = "unknown signing mechanism";
		return SEALPG_ERR_BAD_ARGS;
	}
	return 0;
}

/* Decode a PUBKEY or KEYATTRS request body. */
int
frame_decode_keyref(const uint8_t *body, size_t len, KeyRefReq *out,
					const char **why)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->token = fr_bytes16(&r);
	out->key_id = fr_bytes16(&r);
	if (!fr_done(&r))
	{
		*why = "body is token, key id";
		return SEALPG_ERR_BAD_FRAME;
	}
	if (!valid_key_ref(out->token, out->key_id, why))
		return SEALPG_ERR_BAD_ARGS;
	return 0;
}

/* Encode a HELLO request. */
size_t
frame_encode_hello(uint8_t *buf, size_t cap, uint32_t version)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	fw_begin(&w, SEALPG_REQ_HELLO);
	fw_u32(&w, version);
	return fw_finish(&w);
}

/* Encode a LIST_TOKENS request. */
size_t
frame_encode_list_tokens(uint8_t *buf, size_t cap)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	fw_begin(&w, SEALPG_REQ_LIST_TOKENS);
	return fw_finish(&w);
}

/* Encode a KEYGEN request. */
size_t
frame_encode_keygen(uint8_t *buf, size_t cap, const char *token, uint8_t alg,
					const char *label)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	fw_begin(&w, SEALPG_REQ_KEYGEN);
	fw_str16(&w, token);
	fw_u8(&w, alg);
	fw_str16(&w, label);
	return fw_finish(&w);
}

/* Encode a SIGN request. */
size_t
frame_encode_sign(uint8_t *buf, size_t cap, const char *token,
				  const uint8_t *key_id, size_t key_id_len, uint8_t mech,
				  const uint8_t *input, size_t input_len)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	fw_begin(&w, SEALPG_REQ_SIGN);
	fw_str16(&w, token);
	fw_bytes16(&w, key_id, key_id_len);
	fw_u8(&w, mech);
	fw_bytes32(&w, input, input_len);
	return fw_finish(&w);
}

/* Encode a PUBKEY or KEYATTRS request. */
size_t
frame_encode_keyref(uint8_t *buf, size_t cap, uint8_t type, const char *token,
					const uint8_t *key_id, size_t key_id_len)
{
	FrameWriter w;

	fw_init(&w, buf, cap);
	fw_begin(&w, type);
	fw_str16(&w, token);
	fw_bytes16(&w, key_id, key_id_len);
	return fw_finish(&w);
}

/* Encode an ERROR frame (the message is cut to fit a u16). */
size_t
frame_encode_error(uint8_t *buf, size_t cap, uint32_t code, const char *message)
{
	FrameWriter w;
	size_t		mlen = message ? strlen(message) : 0;

	if (mlen > 1024)
		mlen = 1024;
	fw_init(&w, buf, cap);
	fw_begin(&w, SEALPG_RESP_ERROR);
	fw_u32(&w, code);
	fw_bytes16(&w, message, mlen);
	return fw_finish(&w);
}

/* Decode a HELLO response body. */
bool
frame_decode_hello_resp(const uint8_t *body, size_t len, HelloResp *out)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->version = fr_u32(&r);
	out->agent = fr_bytes16(&r);
	return fr_done(&r);
}

/* Start decoding a TOKENS response; entries follow via _next. */
bool
frame_decode_tokens_begin(const uint8_t *body, size_t len, FrameReader *r,
						  uint16_t *count)
{
	fr_init(r, body, len);
	*count = fr_u16(r);
	return r->ok;
}

/* Decode the next token entry of a TOKENS response. */
bool
frame_decode_token_next(FrameReader *r, TokenEntry *out)
{
	out->label = fr_bytes16(r);
	out->serial = fr_bytes16(r);
	out->manufacturer = fr_bytes16(r);
	out->model = fr_bytes16(r);
	out->flags = fr_u8(r);
	return r->ok;
}

/* Decode a KEYGEN, PUBKEY or KEYATTRS response body. */
bool
frame_decode_keyinfo_resp(const uint8_t *body, size_t len, KeyInfoResp *out)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->alg = fr_u8(&r);
	out->key_id = fr_bytes16(&r);
	out->spki = fr_bytes16(&r);
	out->attrs = fr_u8(&r);
	return fr_done(&r);
}

/* Decode a SIGN response body. */
bool
frame_decode_sign_resp(const uint8_t *body, size_t len, FrameBytes *sig)
{
	FrameReader r;

	fr_init(&r, body, len);
	*sig = fr_bytes16(&r);
	return fr_done(&r);
}

/* Decode an ERROR frame body. */
bool
frame_decode_error_resp(const uint8_t *body, size_t len, ErrorResp *out)
{
	FrameReader r;

	fr_init(&r, body, len);
	out->code = fr_u32(&r);
	out->message = fr_bytes16(&r);
	return fr_done(&r);
}

/* Name of an error code, for logs and messages. */
const char *
frame_error_name(uint32_t code)
{
	switch (code)
	{
		case SEALPG_ERR_BAD_FRAME:
			return "BAD_FRAME";
		case SEALPG_ERR_UNKNOWN_TYPE:
			return "UNKNOWN_TYPE";
		case SEALPG_ERR_VERSION:
			return "VERSION";
		case SEALPG_ERR_BAD_ARGS:
			return "BAD_ARGS";
		case SEALPG_ERR_NO_TOKEN:
			return "NO_TOKEN";
		case SEALPG_ERR_NO_KEY:
			return "NO_KEY";
		case SEALPG_ERR_PKCS11:
			return "PKCS11";
		case SEALPG_ERR_NOT_LOGGED_IN:
			return "NOT_LOGGED_IN";
		case SEALPG_ERR_TOO_LARGE:
			return "TOO_LARGE";
		case SEALPG_ERR_HELLO_REQUIRED:
			return "HELLO_REQUIRED";
		case SEALPG_ERR_NOT_ALLOWED:
			return "NOT_ALLOWED";
		case SEALPG_ERR_INTERNAL:
			return "INTERNAL";
		case SEALPG_ERR_BUSY:
			return "BUSY";
	}
	return "UNKNOWN_ERROR";
}
