/*-------------------------------------------------------------------------
 *
 * handlers.c
 *	  Request dispatch of sealpg-agent: one switch on the frame type, one
 *	  handler per request, every answer a complete frame (a response or an
 *	  ERROR frame).  Handlers never see raw sockets.
 *
 * A connection must complete HELLO before any other request.  Unknown
 * types (including the unused part of the USB range) are answered with
 * UNKNOWN_TYPE; the connection stays usable.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agent.h"
#include "frame.h"
#include "usb.h"

/* Encode an ERROR frame and log it at debug level. */
static size_t
reply_error(ConnState *cs, uint8_t *out, size_t cap, int code, const char *msg)
{
	log_debug("conn %lu: error %s: %s", cs->id, frame_error_name((uint32_t) code), msg);
	return frame_encode_error(out, cap, (uint32_t) code, msg);
}

/* Copy a wire string into a NUL-terminated buffer (lengths already checked). */
static void
bytes_to_cstr(char *dst, size_t dstlen, FrameBytes b)
{
	size_t		n = b.len < dstlen - 1 ? b.len : dstlen - 1;

	if (n > 0)
		memcpy(dst, b.data, n);
	dst[n] = '\0';
}

/* Encode a KeyInfo response of the given type. */
static size_t
reply_keyinfo(ConnState *cs, uint8_t *out, size_t cap, uint8_t type, const KeyInfo *ki)
{
	FrameWriter w;
	size_t		n;

	fw_init(&w, out, cap);
	fw_begin(&w, type);
	fw_u8(&w, ki->alg);
	fw_bytes16(&w, ki->key_id, ki->key_id_len);
	fw_bytes16(&w, ki->spki, ki->spki_len);
	fw_u8(&w, ki->attrs);
	n = fw_finish(&w);
	if (n == 0)
		return reply_error(cs, out, cap, SEALPG_ERR_INTERNAL, "response does not fit a frame");
	return n;
}

/* HELLO: agree on the protocol version. */
static size_t
handle_hello(ConnState *cs, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	HelloReq	req;
	const char *why = "";
	int			rc;
	FrameWriter w;
	char		msg[128];

	rc = frame_decode_hello(body, len, &req, &why);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, why);
	if (req.version != SEALPG_PROTO_VERSION)
	{
		snprintf(msg, sizeof(msg), "client speaks protocol %u, agent speaks %d",
				 req.version, SEALPG_PROTO_VERSION);
		return reply_error(cs, out, cap, SEALPG_ERR_VERSION, msg);
	}
	cs->hello_done = true;
	fw_init(&w, out, cap);
	fw_begin(&w, SEALPG_RESP_HELLO);
	fw_u32(&w, SEALPG_PROTO_VERSION);
	fw_str16(&w, AGENT_VERSION_STRING);
	return fw_finish(&w);
}

/* LIST_TOKENS: every slot, with token details where present. */
static size_t
handle_list_tokens(ConnState *cs, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	const char *why = "";
	char		err[TOKEN_ERRLEN];
	TokenInfo  *infos;
	size_t		count;
	FrameWriter w;
	size_t		n;
	int			rc;

	rc = frame_decode_empty(body, len, &why);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, why);
	rc = token_list(&infos, &count, err);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, err);
	if (count > UINT16_MAX)
		count = UINT16_MAX;
	fw_init(&w, out, cap);
	fw_begin(&w, SEALPG_RESP_TOKENS);
	fw_u16(&w, (uint16_t) count);
	for (size_t i = 0; i < count; i++)
	{
		fw_str16(&w, infos[i].label);
		fw_str16(&w, infos[i].serial);
		fw_str16(&w, infos[i].manufacturer);
		fw_str16(&w, infos[i].model);
		fw_u8(&w, infos[i].flags);
	}
	free(infos);
	n = fw_finish(&w);
	if (n == 0)
		return reply_error(cs, out, cap, SEALPG_ERR_INTERNAL, "token list does not fit a frame");
	return n;
}

/* KEYGEN: a new key pair born on the token. */
static size_t
handle_keygen(ConnState *cs, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	KeygenReq	req;
	const char *why = "";
	char		err[TOKEN_ERRLEN];
	char		token[SEALPG_MAX_LABEL + 1];
	char		label[SEALPG_MAX_KEY_LABEL + 1];
	KeyInfo		ki;
	int			rc;

	rc = frame_decode_keygen(body, len, &req, &why);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, why);
	bytes_to_cstr(token, sizeof(token), req.token);
	bytes_to_cstr(label, sizeof(label), req.label);
	rc = token_keygen(cs->sessions, token, req.alg, label, &ki, err);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, err);
	log_info("conn %lu (uid %d): generated %s key \"%s\" on token \"%s\"", cs->id,
			 (int) cs->peer_uid, req.alg == SEALPG_ALG_EC_P256 ? "P-256" : "Ed25519",
			 label, token);
	return reply_keyinfo(cs, out, cap, SEALPG_RESP_KEYGEN, &ki);
}

/* SIGN: a raw signature from the token. */
static size_t
handle_sign(ConnState *cs, const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	SignReq		req;
	const char *why = "";
	char		err[TOKEN_ERRLEN];
	char		token[SEALPG_MAX_LABEL + 1];
	uint8_t		sig[SEALPG_MAX_SIGNATURE];
	size_t		sig_len = 0;
	FrameWriter w;
	int			rc;

	rc = frame_decode_sign(body, len, &req, &why);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, why);
	bytes_to_cstr(token, sizeof(token), req.token);
	rc = token_sign(cs->sessions, token, req.key_id.data, req.key_id.len, req.mech,
					req.input.data, req.input.len, sig, &sig_len, err);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, err);
	fw_init(&w, out, cap);
	fw_begin(&w, SEALPG_RESP_SIGN);
	fw_bytes16(&w, sig, sig_len);
	return fw_finish(&w);
}

/* PUBKEY and KEYATTRS: describe an existing key. */
static size_t
handle_keyref(ConnState *cs, uint8_t type, const uint8_t *body, size_t len,
			  uint8_t *out, size_t cap)
{
	KeyRefReq	req;
	const char *why = "";
	char		err[TOKEN_ERRLEN];
	char		token[SEALPG_MAX_LABEL + 1];
	KeyInfo		ki;
	int			rc;

	rc = frame_decode_keyref(body, len, &req, &why);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, why);
	bytes_to_cstr(token, sizeof(token), req.token);
	rc = token_keyinfo(cs->sessions, token, req.key_id.data, req.key_id.len,
					   type == SEALPG_REQ_PUBKEY, &ki, err);
	if (rc != 0)
		return reply_error(cs, out, cap, rc, err);
	return reply_keyinfo(cs, out, cap, type | SEALPG_RESP_FLAG, &ki);
}

/* Answer one request; returns the size of the frame written to out. */
size_t
handle_request(ConnState *cs, uint8_t type, const uint8_t *body, size_t len,
			   uint8_t *out, size_t cap)
{
	char		msg[64];

	if (type != SEALPG_REQ_HELLO && !cs->hello_done)
		return reply_error(cs, out, cap, SEALPG_ERR_HELLO_REQUIRED,
						   "send HELLO with the protocol version first");
	switch (type)
	{
		case SEALPG_REQ_HELLO:
			return handle_hello(cs, body, len, out, cap);
		case SEALPG_REQ_LIST_TOKENS:
			return handle_list_tokens(cs, body, len, out, cap);
		case SEALPG_REQ_KEYGEN:
			return handle_keygen(cs, body, len, out, cap);
		case SEALPG_REQ_SIGN:
			return handle_sign(cs, body, len, out, cap);
		case SEALPG_REQ_PUBKEY:
		case SEALPG_REQ_KEYATTRS:
			return handle_keyref(cs, type, body, len, out, cap);
		case SEALPG_REQ_USB_LIST:
			return usb_handle_list(body, len, out, cap);
		case SEALPG_REQ_USB_STATUS:
			return usb_handle_status(body, len, out, cap);
		default:
			break;
	}
	snprintf(msg, sizeof(msg), "unknown request type 0x%02x", type);
	return reply_error(cs, out, cap, SEALPG_ERR_UNKNOWN_TYPE, msg);
}
