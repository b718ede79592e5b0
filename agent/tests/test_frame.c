/*-------------------------------------------------------------------------
 *
 * test_frame.c
 *	  Unit tests of the frame encoder and decoder (frame.c): no sockets,
 *	  no token.  Prints one line per check and "N passed, N failed".
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "frame.h"

static int	passed = 0;
static int	failed = 0;

/* Record one check. */
static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
}

/* Body of an encoded frame (after the 5-byte header). */
#define BODY(buf) ((buf) + SEALPG_HDR_SIZE)

/* Length prefix checks. */
static void
test_length(void)
{
	uint8_t		p[4];
	uint32_t	len;

	memcpy(p, "\0\0\0\0", 4);
	check(frame_check_length(p, &len) == SEALPG_ERR_BAD_FRAME, "length 0 is a bad frame");
	memcpy(p, "\0\0\0\1", 4);
	check(frame_check_length(p, &len) == 0 && len == 1, "length 1 accepted");
	memcpy(p, "\0\1\0\0", 4);
	check(frame_check_length(p, &len) == 0 && len == SEALPG_MAX_FRAME, "length = max accepted");
	memcpy(p, "\0\1\0\1", 4);
	check(frame_check_length(p, &len) == SEALPG_ERR_TOO_LARGE, "length = max + 1 too large");
	memcpy(p, "\xff\xff\xff\xff", 4);
	check(frame_check_length(p, &len) == SEALPG_ERR_TOO_LARGE && len == 0xffffffffu,
		  "length 2^32-1 too large, read big-endian");
}

/* Reader primitives never overrun. */
static void
test_reader(void)
{
	const uint8_t b[] = {0x01, 0x02, 0x03, 0x00, 0x05, 'h', 'e', 'l'};
	FrameReader r;
	FrameBytes	s;

	fr_init(&r, b, sizeof(b));
	check(fr_u8(&r) == 1 && fr_u16(&r) == 0x0203, "u8 and big-endian u16");
	s = fr_bytes16(&r);
	check(!r.ok && s.data == NULL, "u16 string longer than the body fails");
	check(fr_u8(&r) == 0 && !r.ok, "reader stays failed");

	fr_init(&r, b + 3, 5);
	check(fr_u32(&r) == 0x00056865 && fr_u8(&r) == 'l' && fr_done(&r), "u32 then done");
	fr_init(&r, b, 3);
	fr_u8(&r);
	check(!fr_done(&r), "not done with bytes left");
	fr_init(&r, (const uint8_t *) "\xff\xff\xff\xff", 4);
	s = fr_bytes32(&r);
	check(!r.ok && s.len == 0, "u32 length 4 GiB fails cleanly");
	fr_init(&r, NULL, 0);
	s = fr_bytes16(&r);
	check(!r.ok, "empty body: string fails");
}

/* Writer primitives and overflow. */
static void
test_writer(void)
{
	uint8_t		buf[16];
	FrameWriter w;

	fw_init(&w, buf, sizeof(buf));
	fw_begin(&w, 0x42);
	fw_u16(&w, 0x1234);
	fw_u32(&w, 0xdeadbeef);
	check(fw_finish(&w) == 11 && memcmp(buf, "\0\0\0\x07\x42\x12\x34\xde\xad\xbe\xef", 11) == 0,
		  "writer: header, u16, u32 big-endian");
	fw_begin(&w, 0x42);
	fw_bytes16(&w, "0123456789abcdef", 16);
	check(fw_finish(&w) == 0, "writer: overflow gives 0");
	fw_begin(&w, 0x01);
	check(fw_finish(&w) == 5 && buf[3] == 1, "writer resets on begin");
}

/* HELLO round trip and malformed variants. */
static void
test_hello(void)
{
	uint8_t		buf[64];
	HelloReq	h;
	const char *why;
	size_t		n = frame_encode_hello(buf, sizeof(buf), 7);

	check(n == 9 && buf[4] == SEALPG_REQ_HELLO, "HELLO encodes to 9 bytes");
	check(frame_decode_hello(BODY(buf), n - 5, &h, &why) == 0 && h.version == 7, "HELLO round trip");
	check(frame_decode_hello(BODY(buf), 3, &h, &why) == SEALPG_ERR_BAD_FRAME, "HELLO short body");
	check(frame_decode_hello(BODY(buf), 5, &h, &why) == SEALPG_ERR_BAD_FRAME, "HELLO trailing byte");
	check(frame_decode_empty(BODY(buf), 0, &why) == 0 &&
		  frame_decode_empty(BODY(buf), 1, &why) == SEALPG_ERR_BAD_FRAME, "empty body check");
}

/* KEYGEN round trip and argument checks. */
static void
test_keygen(void)
{
	uint8_t		buf[512];
	KeygenReq	k;
	const char *why;
	size_t		n;

	n = frame_encode_keygen(buf, sizeof(buf), "tok", SEALPG_ALG_ED25519, "my key");
	check(n > 0 && frame_decode_keygen(BODY(buf), n - 5, &k, &why) == 0 &&
		  k.token.len == 3 && memcmp(k.token.data, "tok", 3) == 0 &&
		  k.alg == SEALPG_ALG_ED25519 && k.label.len == 6, "KEYGEN round trip");
	for (size_t cut = 0; cut < n - 5; cut++)
		if (frame_decode_keygen(BODY(buf), cut, &k, &why) != SEALPG_ERR_BAD_FRAME)
		{
			check(0, "KEYGEN: every truncation is BAD_FRAME");
			goto next;
		}
	check(1, "KEYGEN: every truncation is BAD_FRAME");
next:
	n = frame_encode_keygen(buf, sizeof(buf), "", SEALPG_ALG_EC_P256, "x");
	check(frame_decode_keygen(BODY(buf), n - 5, &k, &why) == SEALPG_ERR_BAD_ARGS, "empty token label");
	n = frame_encode_keygen(buf, sizeof(buf), "tok", 9, "x");
	check(frame_decode_keygen(BODY(buf), n - 5, &k, &why) == SEALPG_ERR_BAD_ARGS, "unknown algorithm");
	n = frame_encode_keygen(buf, sizeof(buf), "123456789012345678901234567890123", 1, "x");
	check(frame_decode_keygen(BODY(buf), n - 5, &k, &why) == SEALPG_ERR_BAD_ARGS, "33-byte token label");
	n = frame_encode_keygen(buf, sizeof(buf), "tok", 1, "x");
	buf[n - 1] = '\0';
	check(frame_decode_keygen(BODY(buf), n - 5, &k, &why) == SEALPG_ERR_BAD_ARGS, "NUL in key label");
	n = frame_encode_keygen(buf, sizeof(buf), "tok", 1, "x");
	buf[8] = '\0';			/* the middle byte of "tok" */
	check(frame_decode_keygen(BODY(buf), n - 5, &k, &why) == SEALPG_ERR_BAD_ARGS, "NUL in token label");
}

/* SIGN round trip and argument checks. */
static void
test_sign(void)
{
	uint8_t		buf[512];
	uint8_t		id[16] = {1, 2, 3};
	uint8_t		dg[32] = {9};
	SignReq		s;
	const char *why;
	size_t		n;

	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 16, SEALPG_MECH_ECDSA, dg, 32);
	check(n > 0 && frame_decode_sign(BODY(buf), n - 5, &s, &why) == 0 && s.key_id.len == 16 &&
		  s.input.len == 32 && s.mech == SEALPG_MECH_ECDSA && s.input.data[0] == 9, "SIGN round trip");
	check(frame_decode_sign(BODY(buf), n - 6, &s, &why) == SEALPG_ERR_BAD_FRAME, "SIGN truncated");
	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 16, SEALPG_MECH_ECDSA, dg, 19);
	check(frame_decode_sign(BODY(buf), n - 5, &s, &why) == SEALPG_ERR_BAD_ARGS, "ECDSA digest too short");
	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 0, SEALPG_MECH_EDDSA, dg, 3);
	check(frame_decode_sign(BODY(buf), n - 5, &s, &why) == SEALPG_ERR_BAD_ARGS, "empty key id");
	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 16, SEALPG_MECH_EDDSA, dg, 0);
	check(frame_decode_sign(BODY(buf), n - 5, &s, &why) == 0, "EdDSA over an empty message is allowed");
	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 16, 3, dg, 32);
	check(frame_decode_sign(BODY(buf), n - 5, &s, &why) == SEALPG_ERR_BAD_ARGS, "unknown mechanism");
	/* input length claims more than the body holds */
	n = frame_encode_sign(buf, sizeof(buf), "tok", id, 16, SEALPG_MECH_ECDSA, dg, 32);
	buf[n - 32 - 4] = 0x7f;
	check(frame_decode_sign(BODY(buf), n - 5, &s, &why) == SEALPG_ERR_BAD_FRAME,
		  "input length beyond the body");
}

/* Key reference, responses and errors. */
static void
test_responses(void)
{
	uint8_t		buf[512];
	uint8_t		id[16] = {7};
	FrameWriter w;
	KeyRefReq	kr;
	KeyInfoResp ki;
	ErrorResp	er;
	HelloResp	hr;
	FrameReader r;
	TokenEntry	te;
	FrameBytes	sig;
	uint16_t	count;
	const char *why;
	size_t		n;

	n = frame_encode_keyref(buf, sizeof(buf), SEALPG_REQ_PUBKEY, "tok", id, 16);
	check(frame_decode_keyref(BODY(buf), n - 5, &kr, &why) == 0 && kr.key_id.data[0] == 7,
		  "PUBKEY request round trip");
	check(frame_decode_keyref(BODY(buf), n - 4, &kr, &why) == SEALPG_ERR_BAD_FRAME,
		  "PUBKEY request with a trailing byte");

	n = frame_encode_error(buf, sizeof(buf), SEALPG_ERR_NO_KEY, "no key");
	check(n > 0 && buf[4] == SEALPG_RESP_ERROR && frame_decode_error_resp(BODY(buf), n - 5, &er) &&
		  er.code == SEALPG_ERR_NO_KEY && er.message.len == 6, "ERROR frame round trip");
	check(strcmp(frame_error_name(SEALPG_ERR_NO_TOKEN), "NO_TOKEN") == 0 &&
		  strcmp(frame_error_name(999), "UNKNOWN_ERROR") == 0, "error names");

	fw_init(&w, buf, sizeof(buf));
	fw_begin(&w, SEALPG_RESP_HELLO);
	fw_u32(&w, 1);
	fw_str16(&w, "agent");
	n = fw_finish(&w);
	check(frame_decode_hello_resp(BODY(buf), n - 5, &hr) && hr.version == 1 && hr.agent.len == 5,
		  "HELLO response round trip");

	fw_begin(&w, SEALPG_RESP_KEYGEN);
	fw_u8(&w, SEALPG_ALG_EC_P256);
	fw_bytes16(&w, id, 16);
	fw_bytes16(&w, "spki", 4);
	fw_u8(&w, SEALPG_ATTR_SENSITIVE | SEALPG_ATTR_LOCAL);
	n = fw_finish(&w);
	check(frame_decode_keyinfo_resp(BODY(buf), n - 5, &ki) && ki.spki.len == 4 &&
		  ki.attrs == (SEALPG_ATTR_SENSITIVE | SEALPG_ATTR_LOCAL), "key info response round trip");
	check(!frame_decode_keyinfo_resp(BODY(buf), n - 6, &ki), "key info response truncated");

	fw_begin(&w, SEALPG_RESP_TOKENS);
	fw_u16(&w, 2);
	for (int i = 0; i < 2; i++)
	{
		fw_str16(&w, "label");
		fw_str16(&w, "serial");
		fw_str16(&w, "maker");
		fw_str16(&w, "model");
		fw_u8(&w, SEALPG_TOKEN_PRESENT);
	}
	n = fw_finish(&w);
	check(frame_decode_tokens_begin(BODY(buf), n - 5, &r, &count) && count == 2 &&
		  frame_decode_token_next(&r, &te) && frame_decode_token_next(&r, &te) &&
		  fr_done(&r) && te.flags == SEALPG_TOKEN_PRESENT, "token list round trip");
	check(frame_decode_tokens_begin(BODY(buf), n - 7, &r, &count) &&
		  frame_decode_token_next(&r, &te) && !frame_decode_token_next(&r, &te),
		  "truncated token list detected");

	fw_begin(&w, SEALPG_RESP_SIGN);
	fw_bytes16(&w, "0123456789", 10);
	n = fw_finish(&w);
	check(frame_decode_sign_resp(BODY(buf), n - 5, &sig) && sig.len == 10, "SIGN response round trip");
	check(!frame_decode_sign_resp(BODY(buf), n - 4, &sig), "SIGN response with a trailing byte");
}

/* Run all unit tests. */
int
main(void)
{
	test_length();
	test_reader();
	test_writer();
	test_hello();
	test_keygen();
	test_sign();
	test_responses();
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
