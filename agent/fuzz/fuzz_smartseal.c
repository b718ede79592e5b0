/*-------------------------------------------------------------------------
 *
 * fuzz_smartseal.c
 *	  libFuzzer target for the host side of the smart-seal protocol
 *	  (smartseal.c): the input is everything a device answers.
 *
 * The input is cut into answers (a u16 length, then that many bytes) that
 * an emulated device returns one per request, in order, to a whole
 * reading session; the same bytes are also handed to each decoder on its
 * own.  Whatever a device sends, the session must end (ok or not) without
 * reading out of bounds, and must never submit a record whose sequence
 * number is out of order.
 *
 * Seed: fuzz/corpus-smartseal/session holds the three answers of the
 * recorded session in test/devices/smartseal-s1/session.pcap (the data of
 * its bulk IN completions, each behind a u16 length).
 *
 *-------------------------------------------------------------------------
 */
#include <stdlib.h>
#include <string.h>

#include "smartseal.h"

/* The fuzzer's bytes, consumed answer by answer. */
typedef struct Feed
{
	const uint8_t *data;
	size_t		left;
} Feed;

static uint64_t last_seq;
static bool have_seq;

/* SspExchangeFn: the next length-prefixed chunk is the device's answer. */
static int
feed_exchange(void *arg, const uint8_t *req, size_t req_len, uint8_t *resp, size_t cap,
			  size_t *resp_len)
{
	Feed	   *f = arg;
	size_t		n;

	(void) req;
	(void) req_len;
	if (f->left < 2)
		return -1;
	n = ((size_t) f->data[0] << 8) | f->data[1];
	f->data += 2;
	f->left -= 2;
	if (n > f->left)
		n = f->left;
	if (n > cap)
		n = cap;
	memcpy(resp, f->data, n);
	f->data += n;
	f->left -= n;
	*resp_len = n;
	return 0;
}

/* SspSubmitFn: sequence numbers must come in order. */
static bool
feed_submit(void *arg, const SspRecord *rec, bool verified)
{
	(void) arg;
	(void) verified;
	if (have_seq && rec->seq != last_seq + 1)
		abort();
	last_seq = rec->seq;
	have_seq = true;
	return rec->seq % 7 != 3;	/* sometimes the database fails */
}

int			LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* One input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint8_t key[SSP_PUBKEY_LEN] = {0x04};
	Feed		f = {data, size};
	SspSession	s;
	SspInfo		info;
	SspRecord	rec;
	const uint8_t *body;
	size_t		body_len;
	uint8_t		type;
	uint16_t	tag;
	uint64_t	seq;
	const char *why;

	ssp_decode_info(data, size, &info, &why);
	ssp_decode_record(data, size, &rec, &why);
	ssp_decode_acked(data, size, &seq, &why);
	if (ssp_decode_header(data, size, &type, &tag, &body, &body_len, &why))
		ssp_decode_info(body, body_len, &info, &why);

	memset(&s, 0, sizeof(s));
	s.exchange = feed_exchange;
	s.exchange_ctx = &f;
	s.submit = feed_submit;
	s.expected_serial = "";
	s.public_key = key;
	s.public_key_len = sizeof(key);
	have_seq = false;
	ssp_session_run(&s);
	return 0;
}
