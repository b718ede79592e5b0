/*-------------------------------------------------------------------------
 *
 * fuzz_frame.c
 *	  libFuzzer target for the frame codec (frame.c).
 *
 * The input is treated as a stream of frames, exactly as the agent reads
 * its socket: a length prefix checked before anything else, then the type
 * and body handed to the request decoder the agent would use, and also to
 * every response decoder (the backend-side client decodes those).  Each
 * successfully decoded request is re-encoded and must decode to the same
 * values, so the encoder is exercised too.
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "frame.h"

static uint8_t out[SEALPG_MAX_FRAME + SEALPG_LEN_SIZE];

/* Abort unless two borrowed byte strings hold the same bytes. */
static void
same(FrameBytes a, FrameBytes b)
{
	if (a.len != b.len || (a.len > 0 && memcmp(a.data, b.data, a.len) != 0))
		abort();
}

/* Touch every byte of a decoded field so ASan checks the bounds. */
static unsigned
touch(FrameBytes b)
{
	unsigned	sum = 0;

	for (uint32_t i = 0; i < b.len; i++)
		sum += b.data[i];
	return sum;
}

/* Decode one request as the agent would, then round-trip it. */
static void
fuzz_request(uint8_t type, const uint8_t *body, size_t len)
{
	const char *why = NULL;
	char		tok[SEALPG_MAX_LABEL + 1];
	char		lab[SEALPG_MAX_KEY_LABEL + 1];
	size_t		n;

	switch (type)
	{
		case SEALPG_REQ_HELLO:
			{
				HelloReq	h,
							h2;

				if (frame_decode_hello(body, len, &h, &why) != 0)
					break;
				n = frame_encode_hello(out, sizeof(out), h.version);
				if (n == 0 || frame_decode_hello(out + 5, n - 5, &h2, &why) != 0 ||
					h2.version != h.version)
					abort();
				break;
			}
		case SEALPG_REQ_LIST_TOKENS:
			(void) frame_decode_empty(body, len, &why);
			break;
		case SEALPG_REQ_KEYGEN:
			{
				KeygenReq	k,
							k2;

				if (frame_decode_keygen(body, len, &k, &why) != 0)
					break;
				memcpy(tok, k.token.data, k.token.len);
				tok[k.token.len] = '\0';
				if (k.label.len > 0)
					memcpy(lab, k.label.data, k.label.len);
				lab[k.label.len] = '\0';
				n = frame_encode_keygen(out, sizeof(out), tok, k.alg, lab);
				if (n == 0 || frame_decode_keygen(out + 5, n - 5, &k2, &why) != 0)
					abort();
				same(k.token, k2.token);
				same(k.label, k2.label);
				break;
			}
		case SEALPG_REQ_SIGN:
			{
				SignReq		s,
							s2;

				if (frame_decode_sign(body, len, &s, &why) != 0)
					break;
				memcpy(tok, s.token.data, s.token.len);
				tok[s.token.len] = '\0';
				n = frame_encode_sign(out, sizeof(out), tok, s.key_id.data, s.key_id.len,
									  s.mech, s.input.data, s.input.len);
				if (n == 0 || frame_decode_sign(out + 5, n - 5, &s2, &why) != 0)
					abort();
				same(s.key_id, s2.key_id);
				same(s.input, s2.input);
				break;
			}
		case SEALPG_REQ_PUBKEY:
		case SEALPG_REQ_KEYATTRS:
			{
				KeyRefReq	r,
							r2;

				if (frame_decode_keyref(body, len, &r, &why) != 0)
					break;
				memcpy(tok, r.token.data, r.token.len);
				tok[r.token.len] = '\0';
				n = frame_encode_keyref(out, sizeof(out), type, tok, r.key_id.data, r.key_id.len);
				if (n == 0 || frame_decode_keyref(out + 5, n - 5, &r2, &why) != 0)
					abort();
				same(r.key_id, r2.key_id);
				break;
			}
		default:
			break;
	}
}

/* Run every response decoder over the body. */
static unsigned
fuzz_responses(const uint8_t *body, size_t len)
{
	HelloResp	hr;
	KeyInfoResp ki;
	ErrorResp	er;
	FrameBytes	sig;
	FrameReader r;
	TokenEntry	te;
	uint16_t	count;
	unsigned	sum = 0;

	if (frame_decode_hello_resp(body, len, &hr))
		sum += touch(hr.agent);
	if (frame_decode_keyinfo_resp(body, len, &ki))
		sum += touch(ki.key_id) + touch(ki.spki);
	if (frame_decode_error_resp(body, len, &er))
		sum += touch(er.message) + (unsigned) strlen(frame_error_name(er.code));
	if (frame_decode_sign_resp(body, len, &sig))
		sum += touch(sig);
	if (frame_decode_tokens_begin(body, len, &r, &count))
		for (uint16_t i = 0; i < count && frame_decode_token_next(&r, &te); i++)
			sum += touch(te.label) + touch(te.serial) + touch(te.model) + touch(te.manufacturer);
	return sum;
}

/* libFuzzer entry point. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	volatile unsigned sink = 0;

	while (size >= SEALPG_LEN_SIZE)
	{
		uint32_t	len;
		uint8_t    *frame;

		if (frame_check_length(data, &len) != 0)
			break;
		data += SEALPG_LEN_SIZE;
		size -= SEALPG_LEN_SIZE;
		if (len > size)
			break;
		/* a private copy, so that ASan catches a read past the frame */
		frame = malloc(len);
		if (frame == NULL)
			break;
		memcpy(frame, data, len);
		fuzz_request(frame[0], frame + 1, len - 1);
		sink += fuzz_responses(frame + 1, len - 1);
		free(frame);
		data += len;
		size -= len;
	}
	(void) sink;
	return 0;
}
