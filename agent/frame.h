/*-------------------------------------------------------------------------
 *
 * frame.h
 *	  Pure encoder and decoder of sealpg-agent frames: no I/O, no
 *	  allocation, every length read from the wire checked against what is
 *	  left of the body.  Used by the daemon, the tests and the fuzz target.
 *
 * Decoded byte strings point into the caller's buffer; they live as long
 * as that buffer does.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_FRAME_H
#define SEALPG_FRAME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "proto.h"

/* A borrowed byte string inside a frame body. */
typedef struct FrameBytes
{
	const uint8_t *data;
	uint32_t	len;
} FrameBytes;

/* Cursor over a received body; ok turns false at the first overrun. */
typedef struct FrameReader
{
	const uint8_t *p;
	size_t		left;
	bool		ok;
} FrameReader;

/* Builder of one outgoing frame in a caller-supplied buffer. */
typedef struct FrameWriter
{
	uint8_t    *buf;
	size_t		cap;
	size_t		len;
	bool		ok;
} FrameWriter;

/* Decoded requests. */
typedef struct HelloReq
{
	uint32_t	version;
} HelloReq;

typedef struct KeygenReq
{
	FrameBytes	token;
	uint8_t		alg;
	FrameBytes	label;
} KeygenReq;

typedef struct SignReq
{
	FrameBytes	token;
	FrameBytes	key_id;
	uint8_t		mech;
	FrameBytes	input;
} SignReq;

typedef struct KeyRefReq
{
	FrameBytes	token;
	FrameBytes	key_id;
} KeyRefReq;

/* Decoded responses. */
typedef struct HelloResp
{
	uint32_t	version;
	FrameBytes	agent;
} HelloResp;

typedef struct TokenEntry
{
	FrameBytes	label;
	FrameBytes	serial;
	FrameBytes	manufacturer;
	FrameBytes	model;
	uint8_t		flags;
} TokenEntry;

typedef struct KeyInfoResp
{
	uint8_t		alg;
	FrameBytes	key_id;
	FrameBytes	spki;
	uint8_t		attrs;
} KeyInfoResp;

typedef struct ErrorResp
{
	uint32_t	code;
	FrameBytes	message;
} ErrorResp;

/* Header */
extern int	frame_check_length(const uint8_t prefix[SEALPG_LEN_SIZE],
							   uint32_t *len_out);

/* Reader primitives */
extern void fr_init(FrameReader *r, const uint8_t *body, size_t len);
extern uint8_t fr_u8(FrameReader *r);
extern uint16_t fr_u16(FrameReader *r);
extern uint32_t fr_u32(FrameReader *r);
extern FrameBytes fr_bytes16(FrameReader *r);
extern FrameBytes fr_bytes32(FrameReader *r);
extern bool fr_done(const FrameReader *r);

/* Writer primitives */
extern void fw_init(FrameWriter *w, uint8_t *buf, size_t cap);
extern void fw_begin(FrameWriter *w, uint8_t type);
extern void fw_u8(FrameWriter *w, uint8_t v);
extern void fw_u16(FrameWriter *w, uint16_t v);
extern void fw_u32(FrameWriter *w, uint32_t v);
extern void fw_bytes16(FrameWriter *w, const void *data, size_t len);
extern void fw_bytes32(FrameWriter *w, const void *data, size_t len);
extern void fw_str16(FrameWriter *w, const char *s);
extern size_t fw_finish(FrameWriter *w);

/* Request decoders: 0 or a SEALPG_ERR_* code, *why set on error */
extern int	frame_decode_hello(const uint8_t *body, size_t len, HelloReq *out,
							   const char **why);
extern int	frame_decode_keygen(const uint8_t *body, size_t len, KeygenReq *out,
								const char **why);
extern int	frame_decode_sign(const uint8_t *body, size_t len, SignReq *out,
							  const char **why);
extern int	frame_decode_keyref(const uint8_t *body, size_t len, KeyRefReq *out,
								const char **why);
extern int	frame_decode_empty(const uint8_t *body, size_t len, const char **why);

/* Request encoders: frame size, or 0 when it does not fit */
extern size_t frame_encode_hello(uint8_t *buf, size_t cap, uint32_t version);
extern size_t frame_encode_list_tokens(uint8_t *buf, size_t cap);
extern size_t frame_encode_keygen(uint8_t *buf, size_t cap, const char *token,
								  uint8_t alg, const char *label);
extern size_t frame_encode_sign(uint8_t *buf, size_t cap, const char *token,
								const uint8_t *key_id, size_t key_id_len,
								uint8_t mech, const uint8_t *input,
								size_t input_len);
extern size_t frame_encode_keyref(uint8_t *buf, size_t cap, uint8_t type,
								  const char *token, const uint8_t *key_id,
								  size_t key_id_len);
extern size_t frame_encode_error(uint8_t *buf, size_t cap, uint32_t code,
								 const char *message);

/* Response decoders: true when the body is well formed */
extern bool frame_decode_hello_resp(const uint8_t *body, size_t len,
									HelloResp *out);
extern bool frame_decode_tokens_begin(const uint8_t *body, size_t len,
									  FrameReader *r, uint16_t *count);
extern bool frame_decode_token_next(FrameReader *r, TokenEntry *out);
extern bool frame_decode_keyinfo_resp(const uint8_t *body, size_t len,
									  KeyInfoResp *out);
extern bool frame_decode_sign_resp(const uint8_t *body, size_t len,
								   FrameBytes *sig);
extern bool frame_decode_error_resp(const uint8_t *body, size_t len,
									ErrorResp *out);

/* Human-readable name of an error code (never NULL). */
extern const char *frame_error_name(uint32_t code);

#endif							/* SEALPG_FRAME_H */
