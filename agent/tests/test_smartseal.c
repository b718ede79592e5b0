/*-------------------------------------------------------------------------
 *
 * test_smartseal.c
 *	  Unit tests of the smart-seal protocol (smartseal.c): the codec, the
 *	  record signature check and whole reading sessions against an
 *	  emulated device that follows DEVICE-PROTOCOL.md, then misbehaves in
 *	  every way we could think of, then answers random bytes.  No USB, no
 *	  database.  Prints one line per check and "N passed, N failed".
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/core_names.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "smartseal.h"

#define N_RECORDS	11			/* more than one batch */

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

/* How the emulated device misbehaves. */
typedef enum Fault
{
	FAULT_NONE,
	FAULT_BAD_SIGNATURE,		/* record 2 altered after signing */
	FAULT_OTHER_SERIAL,			/* INFO reports another serial */
	FAULT_WRONG_TAG,
	FAULT_SHORT,				/* answers cut in the middle */
	FAULT_LONG_CLAIM,			/* claims more bytes than the buffer holds */
	FAULT_COUNT_ZERO,
	FAULT_OUT_OF_ORDER,
	FAULT_ERROR_ANSWER,
	FAULT_NO_ACK_PROGRESS,
	FAULT_RANDOM				/* random bytes */
} Fault;

/* The emulated device. */
typedef struct Device
{
	EVP_PKEY   *key;
	uint8_t		pub[SSP_PUBKEY_LEN];
	uint64_t	first_seq;
	uint64_t	next_seq;
	Fault		fault;
	uint32_t	rng;
	int			exchanges;
} Device;

/* Submissions seen by the fake database. */
typedef struct Db
{
	int			stored;
	int			refused;
	uint64_t	last_seq;
	int			fail_at;		/* refuse the n-th submission (1-based), 0 never */
	int			calls;
} Db;

/* A small deterministic generator. */
static uint32_t
next_rand(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Sign bytes with the device key: raw r || s. */
static void
sign(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t *sig)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t		der[80];
	size_t		der_len = sizeof(der);
	const uint8_t *p = der;
	ECDSA_SIG  *es;
	const BIGNUM *r,
			   *s;

	EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key);
	EVP_DigestSign(md, der, &der_len, data, len);
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
	ECDSA_SIG_get0(es, &r, &s);
	BN_bn2binpad(r, sig, 32);
	BN_bn2binpad(s, sig + 32, 32);
	ECDSA_SIG_free(es);
}

/* Build record seq of the emulated device. */
static size_t
make_record(uint64_t seq, uint8_t *buf, size_t cap)
{
	SspRecord	r;

	memset(&r, 0, sizeof(r));
	strcpy(r.serial, "SS-TEST-1");
	r.seq = seq;
	r.time_us = (INT64_C(1764580500) + 60 * (int64_t) seq) * 1000000;
	r.lat_e7 = 481370000;
	r.lon_e7 = 115750000;
	r.accuracy_m = 5;
	r.force_dn = (uint16_t) (400 + seq);
	strcpy(r.operator_id, seq % 2 ? "OP-1" : "");
	return ssp_encode_record(buf, cap, &r);
}

/* The device's side of one exchange (SspExchangeFn). */
static int
device_exchange(void *arg, const uint8_t *req, size_t req_len, uint8_t *resp, size_t cap,
				size_t *resp_len)
{
	Device	   *d = arg;
	uint8_t		type;
	uint16_t	tag;
	uint64_t	seq;
	uint8_t		max;
	size_t		n = 0;

	d->exchanges++;
	if (d->fault == FAULT_RANDOM)
	{
		n = next_rand(&d->rng) % 200;
		for (size_t i = 0; i < n && i < cap; i++)
			resp[i] = (uint8_t) next_rand(&d->rng);
		/* sometimes a valid header around random bytes */
		if (n >= SSP_HDR_SIZE && next_rand(&d->rng) % 2)
		{
			resp[0] = SSP_MAGIC0;
			resp[1] = SSP_MAGIC1;
			resp[2] = SSP_VERSION;
			resp[3] = (uint8_t) (0x80 | (next_rand(&d->rng) % 4));
			resp[4] = req[4];
			resp[5] = req[5];
			resp[6] = (uint8_t) ((n - SSP_HDR_SIZE) >> 8);
			resp[7] = (uint8_t) (n - SSP_HDR_SIZE);
		}
		*resp_len = n;
		return 0;
	}
	if (!ssp_decode_request(req, req_len, &type, &tag, &seq, &max))
		n = ssp_encode_error(resp, cap, 0, SSP_ERR_BAD_MESSAGE, "bad request");
	else if (d->fault == FAULT_ERROR_ANSWER && type == SSP_READ_RECORDS)
		n = ssp_encode_error(resp, cap, tag, SSP_ERR_STORAGE, "flash read failed");
	else if (type == SSP_GET_INFO)
	{
		SspInfo		info;

		memset(&info, 0, sizeof(info));
		strcpy(info.model, "test-seal");
		strcpy(info.serial, d->fault == FAULT_OTHER_SERIAL ? "SS-OTHER" : "SS-TEST-1");
		strcpy(info.firmware, "0.1");
		info.key_alg = SSP_KEY_ECDSA_P256;
		memcpy(info.public_key, d->pub, SSP_PUBKEY_LEN);
		info.first_seq = d->first_seq;
		info.next_seq = d->next_seq;
		n = ssp_encode_info(resp, cap, tag, &info);
	}
	else if (type == SSP_READ_RECORDS)
	{
		uint8_t		recs[SSP_MAX_BATCH][SSP_MAX_RECORD];
		uint8_t		sigs[SSP_MAX_BATCH][SSP_SIG_LEN];
		size_t		lens[SSP_MAX_BATCH];
		const uint8_t *rp[SSP_MAX_BATCH];
		const uint8_t *sp[SSP_MAX_BATCH];
		int			count = 0;

		if (seq != d->first_seq)
			n = ssp_encode_error(resp, cap, tag, SSP_ERR_BAD_SEQ, "not the first unacknowledged");
		else
		{
			for (uint64_t s = seq; s < d->next_seq && count < max && count < SSP_MAX_BATCH; s++)
			{
				uint64_t	which = d->fault == FAULT_OUT_OF_ORDER && count == 1 ? s + 1 : s;

				lens[count] = make_record(which, recs[count], sizeof(recs[count]));
				sign(d->key, recs[count], lens[count], sigs[count]);
				if (d->fault == FAULT_BAD_SIGNATURE && which == 2)
					recs[count][lens[count] - 3] ^= 0x40;
				rp[count] = recs[count];
				sp[count] = sigs[count];
				count++;
			}
			if (d->fault == FAULT_COUNT_ZERO)
				count = 0;
			n = ssp_encode_records(resp, cap, tag, count, rp, lens, sp);
		}
	}
	else if (type == SSP_ACK)
	{
		if (d->fault != FAULT_NO_ACK_PROGRESS && seq >= d->first_seq && seq < d->next_seq)
			d->first_seq = seq + 1;
		n = ssp_encode_acked(resp, cap, tag, d->first_seq);
	}
	else
		n = ssp_encode_error(resp, cap, tag, SSP_ERR_UNKNOWN_TYPE, "unknown");

	if (d->fault == FAULT_WRONG_TAG && n >= SSP_HDR_SIZE)
		resp[5] ^= 0x55;
	if (d->fault == FAULT_SHORT && n > SSP_HDR_SIZE + 3)
		n -= 3;
	if (d->fault == FAULT_LONG_CLAIM)
		n = cap + 1;
	*resp_len = n;
	return 0;
}

/* The fake database (SspSubmitFn). */
static bool
db_submit(void *arg, const SspRecord *rec, bool verified)
{
	Db		   *db = arg;

	db->calls++;
	if (db->fail_at != 0 && db->calls == db->fail_at)
		return false;
	if (verified)
		db->stored++;
	else
		db->refused++;
	db->last_seq = rec->seq;
	return true;
}

/* Run one session against a fresh emulated device. */
static bool
run(Device *d, Db *db, Fault fault, const uint8_t *pub, SspSession *s)
{
	d->fault = fault;
	d->first_seq = 1;
	d->next_seq = 1 + N_RECORDS;
	d->exchanges = 0;
	memset(db, 0, sizeof(*db));
	memset(s, 0, sizeof(*s));
	s->exchange = device_exchange;
	s->exchange_ctx = d;
	s->submit = db_submit;
	s->submit_ctx = db;
	s->expected_serial = "SS-TEST-1";
	s->public_key = pub;
	s->public_key_len = SSP_PUBKEY_LEN;
	return ssp_session_run(s);
}

/* Codec checks on hand-made inputs. */
static void
test_codec(Device *d)
{
	uint8_t		rec[SSP_MAX_RECORD];
	uint8_t		sig[SSP_SIG_LEN];
	uint8_t		msg[64];
	SspRecord	r;
	const char *why = "";
	size_t		n = make_record(7, rec, sizeof(rec));
	uint8_t		type;
	uint16_t	tag;
	const uint8_t *body;
	size_t		body_len;

	check(n > 0 && ssp_decode_record(rec, n, &r, &why) && r.seq == 7 && r.force_dn == 407,
		  "a record encodes and decodes");
	sign(d->key, rec, n, sig);
	r.signature = sig;
	r.signature_len = SSP_SIG_LEN;
	check(ssp_verify_record(d->pub, SSP_PUBKEY_LEN, &r), "its signature verifies");
	rec[10] ^= 1;
	check(!ssp_verify_record(d->pub, SSP_PUBKEY_LEN, &r), "one flipped bit breaks it");
	rec[10] ^= 1;
	sig[40] ^= 1;
	check(!ssp_verify_record(d->pub, SSP_PUBKEY_LEN, &r), "a flipped signature bit breaks it");
	sig[40] ^= 1;
	check(!ssp_verify_record(d->pub, 33, &r), "a compressed-size key is refused");
	r.signature_len = 63;
	check(!ssp_verify_record(d->pub, SSP_PUBKEY_LEN, &r), "a short signature is refused");

	check(!ssp_decode_record(rec, n - 1, &r, &why), "a truncated record is refused");
	check(!ssp_decode_record(rec, SSP_MIN_RECORD - 1, &r, &why), "a record under the minimum is refused");
	rec[0] = 'X';
	check(!ssp_decode_record(rec, n, &r, &why), "a record with a bad magic is refused");
	rec[0] = 'S';
	rec[4] = 200;				/* serial length past the end */
	check(!ssp_decode_record(rec, n, &r, &why), "a serial length past the end is refused");
	rec[4] = 9;
	rec[5] = 0x07;				/* control character in the serial */
	check(!ssp_decode_record(rec, n, &r, &why), "a serial with a control character is refused");
	rec[5] = 'S';
	{
		SspRecord	bad;
		uint8_t		b[SSP_MAX_RECORD];

		memset(&bad, 0, sizeof(bad));
		strcpy(bad.serial, "X");
		bad.time_us = INT64_C(1764580500000000);
		bad.lat_e7 = 950000000;
		bad.lon_e7 = 0;
		n = ssp_encode_record(b, sizeof(b), &bad);
		check(!ssp_decode_record(b, n, &r, &why), "a latitude over 90 degrees is refused");
		bad.lat_e7 = SSP_NO_COORD;
		n = ssp_encode_record(b, sizeof(b), &bad);
		check(!ssp_decode_record(b, n, &r, &why), "half a position is refused");
		bad.lon_e7 = SSP_NO_COORD;
		bad.time_us = 0;
		n = ssp_encode_record(b, sizeof(b), &bad);
		check(!ssp_decode_record(b, n, &r, &why), "a record dated 1970 is refused");
	}

	n = ssp_encode_get_info(msg, sizeof(msg), 9);
	check(n == SSP_HDR_SIZE && ssp_decode_header(msg, n, &type, &tag, &body, &body_len, &why) &&
		  type == SSP_GET_INFO && tag == 9 && body_len == 0, "GET_INFO is a bare header");
	check(!ssp_decode_header(msg, n - 1, &type, &tag, &body, &body_len, &why), "a short header is refused");
	msg[7] = 1;
	check(!ssp_decode_header(msg, n, &type, &tag, &body, &body_len, &why),
		  "a body length unlike the transfer is refused");
	msg[7] = 0;
	msg[2] = 2;
	check(!ssp_decode_header(msg, n, &type, &tag, &body, &body_len, &why), "another version is refused");
	check(ssp_encode_get_info(msg, 4, 1) == 0, "encoding into a small buffer fails cleanly");
}

/* Whole sessions, well behaved and not. */
static void
test_sessions(Device *d)
{
	Db			db;
	SspSession	s;
	uint8_t		other[SSP_PUBKEY_LEN];
	bool		ok;

	ok = run(d, &db, FAULT_NONE, d->pub, &s);
	check(ok && db.stored == N_RECORDS && db.refused == 0 && s.stored == N_RECORDS,
		  "a session stores every record (two batches)");
	check(d->first_seq == 1 + N_RECORDS, "and the device was told to drop them (ACK)");
	check(d->exchanges == 5, "GET_INFO, 2 x (READ_RECORDS, ACK): five exchanges");
	ok = ssp_session_run(&s);
	check(ok && s.stored == 0 && d->exchanges == 6, "a second session reads nothing twice");

	run(d, &db, FAULT_NONE, d->pub, &s);
	d->first_seq = 1;
	d->exchanges = 0;
	ok = ssp_read_info(&s);
	check(ok && d->exchanges == 1 && memcmp(s.info.public_key, d->pub, SSP_PUBKEY_LEN) == 0 &&
		  strcmp(s.info.model, "test-seal") == 0 && d->first_seq == 1,
		  "GET_INFO alone shows an unbound device's key and leaves its records alone");

	ok = run(d, &db, FAULT_BAD_SIGNATURE, d->pub, &s);
	check(ok && db.refused == 1 && db.stored == N_RECORDS - 1,
		  "a record altered after signing is refused, the others stored");
	check(d->first_seq == 1 + N_RECORDS, "the refused record is kept as evidence, then acknowledged");

	memcpy(other, d->pub, SSP_PUBKEY_LEN);
	other[20] ^= 1;
	ok = run(d, &db, FAULT_NONE, other, &s);
	check(ok && db.stored == 0 && db.refused == N_RECORDS && strstr(s.error, "key") != NULL,
		  "a device whose key is not the registered one: every record refused");

	ok = run(d, &db, FAULT_OTHER_SERIAL, d->pub, &s);
	check(!ok && db.calls == 0 && strstr(s.error, "serial") != NULL,
		  "INFO with another serial than the descriptor stops the session");

	ok = run(d, &db, FAULT_NONE, d->pub, &s);
	run(d, &db, FAULT_NONE, d->pub, &s);
	db.fail_at = 3;
	d->first_seq = 1;
	db.calls = db.stored = 0;
	ok = ssp_session_run(&s);
	check(!ok && db.stored == 2 && d->first_seq == 3,
		  "the database failing at record 3: records 1-2 acknowledged, 3 stays on the device");
	db.fail_at = 0;
	ok = ssp_session_run(&s);
	check(ok && d->first_seq == 1 + N_RECORDS && db.stored == 2 + N_RECORDS - 2,
		  "the next session resumes at record 3");

	check(!run(d, &db, FAULT_WRONG_TAG, d->pub, &s) && db.calls == 0, "an answer with the wrong tag stops it");
	check(!run(d, &db, FAULT_SHORT, d->pub, &s) && db.calls == 0, "a cut answer stops it");
	check(!run(d, &db, FAULT_LONG_CLAIM, d->pub, &s) && db.calls == 0,
		  "a transport claiming more bytes than the buffer stops it");
	check(!run(d, &db, FAULT_COUNT_ZERO, d->pub, &s) && db.calls == 0,
		  "RECORDS with none while some are pending stops it");
	check(!run(d, &db, FAULT_OUT_OF_ORDER, d->pub, &s) && db.calls == 1 && d->first_seq == 1,
		  "a record out of sequence stops it before anything is acknowledged");
	check(!run(d, &db, FAULT_ERROR_ANSWER, d->pub, &s) && strstr(s.error, "flash") != NULL,
		  "a device ERROR is reported with its message");
	check(!run(d, &db, FAULT_NO_ACK_PROGRESS, d->pub, &s) && db.stored == SSP_MAX_BATCH,
		  "a device that does not move past an ACK stops it");
}

/* Random answers: the session must fail cleanly, never crash or loop. */
static void
test_random(Device *d)
{
	Db			db;
	SspSession	s;
	int			survived = 0;

	d->rng = 0x9e3779b9;
	for (int i = 0; i < 20000; i++)
	{
		if (!run(d, &db, FAULT_RANDOM, d->pub, &s) && db.calls == 0)
			survived++;
	}
	check(survived == 20000, "20000 sessions against random answers fail cleanly, nothing submitted");
}

/* Run everything. */
int
main(void)
{
	Device		d;
	size_t		len = 0;

	memset(&d, 0, sizeof(d));
	d.key = EVP_EC_gen("P-256");
	if (d.key == NULL ||
		EVP_PKEY_get_octet_string_param(d.key, OSSL_PKEY_PARAM_PUB_KEY, d.pub, sizeof(d.pub), &len) != 1)
	{
		printf("not ok - cannot make a P-256 key\n0 passed, 1 failed\n");
		return 1;
	}
	test_codec(&d);
	test_sessions(&d);
	test_random(&d);
	EVP_PKEY_free(d.key);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
