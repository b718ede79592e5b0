/*-------------------------------------------------------------------------
 *
 * make_corpus.c
 *	  Writes the seed corpus of the frame fuzz target: one well-formed
 *	  frame of each request and response type, into the directory given.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <string.h>

#include "frame.h"

/* Write n bytes of buf to dir/name. */
static void
put(const char *dir, const char *name, const uint8_t *buf, size_t n)
{
	char		path[512];
	FILE	   *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (f == NULL)
		return;
	fwrite(buf, 1, n, f);
	fclose(f);
}

/* Write one seed per frame type. */
int
main(int argc, char **argv)
{
	static uint8_t buf[4096];
	uint8_t		id[16] = {0x11, 0x22, 0x33};
	uint8_t		dg[32] = {0x44};
	FrameWriter w;
	size_t		n;
	const char *dir = argc > 1 ? argv[1] : ".";

	put(dir, "hello", buf, frame_encode_hello(buf, sizeof(buf), SEALPG_PROTO_VERSION));
	put(dir, "list", buf, frame_encode_list_tokens(buf, sizeof(buf)));
	put(dir, "keygen", buf, frame_encode_keygen(buf, sizeof(buf), "sealtest", SEALPG_ALG_EC_P256, "k"));
	put(dir, "sign", buf, frame_encode_sign(buf, sizeof(buf), "sealtest", id, 16,
											 SEALPG_MECH_ECDSA, dg, 32));
	put(dir, "pubkey", buf, frame_encode_keyref(buf, sizeof(buf), SEALPG_REQ_PUBKEY, "t", id, 16));
	put(dir, "error", buf, frame_encode_error(buf, sizeof(buf), SEALPG_ERR_NO_KEY, "no key"));
	fw_init(&w, buf, sizeof(buf));
	fw_begin(&w, SEALPG_RESP_TOKENS);
	fw_u16(&w, 1);
	fw_str16(&w, "sealtest");
	fw_str16(&w, "0123456789abcdef");
	fw_str16(&w, "SoftHSM project");
	fw_str16(&w, "SoftHSM v2");
	fw_u8(&w, SEALPG_TOKEN_PRESENT);
	n = fw_finish(&w);
	put(dir, "tokens", buf, n);
	fw_begin(&w, SEALPG_RESP_KEYGEN);
	fw_u8(&w, SEALPG_ALG_EC_P256);
	fw_bytes16(&w, id, 16);
	fw_bytes16(&w, dg, 32);
	fw_u8(&w, 0x1d);
	n = fw_finish(&w);
	put(dir, "keyinfo", buf, n);
	/* two frames in one stream */
	n = frame_encode_hello(buf, sizeof(buf), 1);
	n += frame_encode_list_tokens(buf + n, sizeof(buf) - n);
	put(dir, "stream", buf, n);
	return 0;
}
