/*-------------------------------------------------------------------------
 *
 * agent_client_test.c
 *	  Integration test client for sealpg-agent.  Run by tests/run_tests.sh
 *	  against an agent serving a private SoftHSM2 token.
 *
 *	  agent_client_test full SOCKET TOKEN NOPIN_TOKEN
 *		  the protocol, hostile-client and concurrency checks; prints one
 *		  "ok"/"not ok" line per check and "N passed, N failed" at the end.
 *	  agent_client_test removal SOCKET TOKEN FLAGFILE
 *		  with the agent on tests/libp11shim.so: pull the token out and
 *		  put it back by creating and removing FLAGFILE.
 *	  agent_client_test cache SOCKET TOKEN DELETE_COMMAND
 *		  the agent's cache of key handles: many signatures with one key,
 *		  more keys than the cache holds, and a key deleted behind the
 *		  agent's back by DELETE_COMMAND (a printf format whose %s is the
 *		  key id in hex) must give NO_KEY, never a signature.
 *	  agent_client_test hello SOCKET
 *		  exit 0 if HELLO is answered, 3 if the agent refused the peer,
 *		  1 on anything else (used by the peer-uid checks).
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "frame.h"

#define BUFSZ (SEALPG_MAX_FRAME + 16)
#define CONCURRENT_CLIENTS 50
#define SIGNS_PER_CLIENT 20
#define CACHE_SIGNS 500
#define CACHE_KEYS 70			/* more than the agent's 64 cached handles */

static int	passed = 0;
static int	failed = 0;
static const char *sock_path;

/* Record one check. */
static void
check(int ok, const char *what)
{
	if (ok)
	{
		passed++;
		printf("ok - %s\n", what);
	}
	else
	{
		failed++;
		printf("not ok - %s\n", what);
	}
	fflush(stdout);
}

/* Connect to the agent; -1 on failure. */
static int
conn_open(void)
{
	struct sockaddr_un addr;
	int			fd = socket(AF_UNIX, SOCK_STREAM, 0);

	if (fd < 0)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
	if (connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		close(fd);
		return -1;
	}
	return fd;
}

/* Send all bytes; false on failure. */
static int
send_all(int fd, const void *buf, size_t n)
{
	const uint8_t *p = buf;

	while (n > 0)
	{
		ssize_t		w = send(fd, p, n, MSG_NOSIGNAL);

		if (w <= 0)
			return 0;
		p += w;
		n -= (size_t) w;
	}
	return 1;
}

/* Read n bytes within timeout_ms: 1 ok, 0 EOF first, -1 error/timeout. */
static int
recv_exact(int fd, uint8_t *buf, size_t n, int timeout_ms)
{
	size_t		got = 0;

	while (got < n)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		ssize_t		r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return -1;
		r = recv(fd, buf + got, n - got, 0);
		if (r == 0)
			return got == 0 ? 0 : -1;
		if (r < 0)
			return -1;
		got += (size_t) r;
	}
	return 1;
}

/* Read one frame: 1 ok (type, body, len set), 0 EOF, -1 error. */
static int
recv_frame(int fd, uint8_t *type, uint8_t *body, size_t *len, int timeout_ms)
{
	uint8_t		prefix[4];
	uint32_t	flen;
	int			rc;

	rc = recv_exact(fd, prefix, 4, timeout_ms);
	if (rc != 1)
		return rc;
	if (frame_check_length(prefix, &flen) != 0)
		return -1;
	if (recv_exact(fd, body, flen, timeout_ms) != 1)
		return -1;
	*type = body[0];
	memmove(body, body + 1, flen - 1);
	*len = flen - 1;
	return 1;
}

/* Send a request and read the answer; 1 when an answer came. */
static int
rpc(int fd, const uint8_t *req, size_t n, uint8_t *type, uint8_t *body, size_t *len)
{
	if (n == 0 || !send_all(fd, req, n))
		return 0;
	return recv_frame(fd, type, body, len, 10000) == 1;
}

/* Send a request; true if the answer is an ERROR frame with this code. */
static int
expect_error(int fd, const uint8_t *req, size_t n, uint32_t code)
{
	static __thread uint8_t body[BUFSZ];
	uint8_t		type;
	size_t		len;
	ErrorResp	er;

	if (!rpc(fd, req, n, &type, body, &len) || type != SEALPG_RESP_ERROR ||
		!frame_decode_error_resp(body, len, &er))
		return 0;
	if (er.code != code)
		printf("# got error %s: %.*s\n", frame_error_name(er.code),
			   (int) er.message.len, (const char *) er.message.data);
	return er.code == code;
}

/* HELLO on fd; true when the agent agreed on version 1. */
static int
do_hello(int fd)
{
	uint8_t		req[64],
				type;
	static __thread uint8_t body[BUFSZ];
	size_t		n = frame_encode_hello(req, sizeof(req), SEALPG_PROTO_VERSION),
				len;
	HelloResp	hr;

	return rpc(fd, req, n, &type, body, &len) && type == SEALPG_RESP_HELLO &&
		frame_decode_hello_resp(body, len, &hr) && hr.version == SEALPG_PROTO_VERSION;
}

/* A connected, greeted client, or -1. */
static int
conn_ready(void)
{
	int			fd = conn_open();

	if (fd >= 0 && !do_hello(fd))
	{
		close(fd);
		return -1;
	}
	return fd;
}

/* Verify a signature with OpenSSL against an SPKI. */
static int
verify_sig(const uint8_t *spki, size_t spki_len, uint8_t mech, const uint8_t *sig,
		   size_t sig_len, const uint8_t *input, size_t input_len)
{
	const unsigned char *p = spki;
	EVP_PKEY   *pkey = d2i_PUBKEY(NULL, &p, (long) spki_len);
	int			ok = 0;

	if (pkey == NULL)
		return 0;
	if (mech == SEALPG_MECH_ECDSA)
	{
		ECDSA_SIG  *es = ECDSA_SIG_new();
		BIGNUM	   *r = BN_bin2bn(sig, (int) sig_len / 2, NULL);
		BIGNUM	   *s = BN_bin2bn(sig + sig_len / 2, (int) sig_len / 2, NULL);
		unsigned char *der = NULL;
		int			derlen;
		EVP_PKEY_CTX *ctx;

		ECDSA_SIG_set0(es, r, s);
		derlen = i2d_ECDSA_SIG(es, &der);
		ctx = EVP_PKEY_CTX_new(pkey, NULL);
		if (derlen > 0 && ctx != NULL && EVP_PKEY_verify_init(ctx) == 1)
			ok = EVP_PKEY_verify(ctx, der, (size_t) derlen, input, input_len) == 1;
		EVP_PKEY_CTX_free(ctx);
		OPENSSL_free(der);
		ECDSA_SIG_free(es);
	}
	else
	{
		EVP_MD_CTX *md = EVP_MD_CTX_new();

		if (md != NULL && EVP_DigestVerifyInit(md, NULL, NULL, NULL, pkey) == 1)
			ok = EVP_DigestVerify(md, sig, sig_len, input, input_len) == 1;
		EVP_MD_CTX_free(md);
	}
	EVP_PKEY_free(pkey);
	return ok;
}

/* A generated key as the test keeps it. */
typedef struct TestKey
{
	uint8_t		id[SEALPG_MAX_KEY_ID];
	size_t		id_len;
	uint8_t		spki[512];
	size_t		spki_len;
	uint8_t		attrs;
	uint8_t		alg;
} TestKey;

/* KEYGEN; true with *key filled on success. */
static int
keygen(int fd, const char *token, uint8_t alg, const char *label, TestKey *key)
{
	static uint8_t req[1024],
				body[BUFSZ];
	uint8_t		type;
	size_t		n = frame_encode_keygen(req, sizeof(req), token, alg, label),
				len;
	KeyInfoResp ki;

	if (!rpc(fd, req, n, &type, body, &len) || type != SEALPG_RESP_KEYGEN ||
		!frame_decode_keyinfo_resp(body, len, &ki) || ki.spki.len > sizeof(key->spki) ||
		ki.key_id.len > sizeof(key->id))
		return 0;
	memcpy(key->id, ki.key_id.data, ki.key_id.len);
	key->id_len = ki.key_id.len;
	memcpy(key->spki, ki.spki.data, ki.spki.len);
	key->spki_len = ki.spki.len;
	key->attrs = ki.attrs;
	key->alg = ki.alg;
	return 1;
}

/* SIGN; true with the signature in sig/sig_len. */
static int
sign(int fd, const char *token, const TestKey *key, uint8_t mech, const uint8_t *in,
	 size_t in_len, uint8_t *sig, size_t *sig_len)
{
	uint8_t		req[2048],
				type;
	static __thread uint8_t body[BUFSZ];
	size_t		n = frame_encode_sign(req, sizeof(req), token, key->id, key->id_len,
									  mech, in, in_len),
				len;
	FrameBytes	s;

	if (!rpc(fd, req, n, &type, body, &len) || type != SEALPG_RESP_SIGN ||
		!frame_decode_sign_resp(body, len, &s) || s.len > SEALPG_MAX_SIGNATURE)
		return 0;
	memcpy(sig, s.data, s.len);
	*sig_len = s.len;
	return 1;
}

/* True when the peer closed the connection within timeout_ms. */
static int
closed_by_agent(int fd, int timeout_ms)
{
	uint8_t		buf[256];
	struct pollfd pfd = {fd, POLLIN, 0};

	for (;;)
	{
		ssize_t		r;

		if (poll(&pfd, 1, timeout_ms) <= 0)
			return 0;
		r = recv(fd, buf, sizeof(buf), 0);
		if (r == 0 || (r < 0 && errno == ECONNRESET))
			return 1;
		if (r < 0)
			return 0;
	}
}

typedef struct WorkerArg
{
	const char *token;
	const TestKey *key;
	int			ok;
} WorkerArg;

/* One of the concurrent clients: connect, HELLO, sign and verify. */
static void *
worker(void *p)
{
	WorkerArg  *wa = p;
	int			fd = conn_ready();

	wa->ok = 0;
	if (fd < 0)
		return NULL;
	for (int i = 0; i < SIGNS_PER_CLIENT; i++)
	{
		uint8_t		msg[32],
					dgst[32],
					sig[SEALPG_MAX_SIGNATURE];
		size_t		sig_len;

		RAND_bytes(msg, sizeof(msg));
		SHA256(msg, sizeof(msg), dgst);
		if (!sign(fd, wa->token, wa->key, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len) ||
			!verify_sig(wa->key->spki, wa->key->spki_len, SEALPG_MECH_ECDSA, sig, sig_len,
						dgst, 32))
		{
			close(fd);
			return NULL;
		}
	}
	wa->ok = 1;
	close(fd);
	return NULL;
}

/* The full protocol test. */
static int
run_full(const char *token, const char *nopin_token)
{
	static uint8_t req[BUFSZ],
				body[BUFSZ];
	uint8_t		type;
	size_t		n,
				len;
	int			fd,
				fd2;
	TestKey		ec,
				ed,
				bogus;
	uint8_t		dgst[32],
				sig[SEALPG_MAX_SIGNATURE];
	size_t		sig_len = 0;
	const uint8_t want = SEALPG_ATTR_SENSITIVE | SEALPG_ATTR_NEVER_EXTRACTABLE |
		SEALPG_ATTR_ALWAYS_SENSITIVE | SEALPG_ATTR_LOCAL;
	const char *msg = "a document to be sealed";

	/* handshake */
	fd = conn_open();
	check(fd >= 0, "connect to the agent");
	if (fd < 0)
		return 1;
	n = frame_encode_list_tokens(req, sizeof(req));
	check(expect_error(fd, req, n, SEALPG_ERR_HELLO_REQUIRED), "request before HELLO -> HELLO_REQUIRED");
	n = frame_encode_hello(req, sizeof(req), 99);
	check(expect_error(fd, req, n, SEALPG_ERR_VERSION), "HELLO version 99 -> VERSION");
	check(do_hello(fd), "HELLO version 1 answered with version 1");

	/* LIST_TOKENS */
	n = frame_encode_list_tokens(req, sizeof(req));
	{
		FrameReader r;
		uint16_t	count = 0;
		int			found = 0,
					well_formed;

		well_formed = rpc(fd, req, n, &type, body, &len) && type == SEALPG_RESP_TOKENS &&
			frame_decode_tokens_begin(body, len, &r, &count);
		for (uint16_t i = 0; well_formed && i < count; i++)
		{
			TokenEntry te;

			if (!frame_decode_token_next(&r, &te))
				well_formed = 0;
			else if (te.label.len == strlen(token) &&
					 memcmp(te.label.data, token, te.label.len) == 0 &&
					 (te.flags & SEALPG_TOKEN_PRESENT) && (te.flags & SEALPG_TOKEN_INITIALIZED) &&
					 te.serial.len > 0 && te.model.len > 0)
				found = 1;
		}
		check(well_formed && fr_done(&r), "LIST_TOKENS answered with a well-formed list");
		check(found, "LIST_TOKENS shows the test token present, with serial and model");
	}

	/* KEYGEN */
	check(keygen(fd, token, SEALPG_ALG_EC_P256, "test ec key", &ec), "KEYGEN ECDSA P-256");
	check(ec.id_len == SEALPG_KEY_ID_LEN && ec.alg == SEALPG_ALG_EC_P256, "P-256 key id is 16 bytes");
	check((ec.attrs & want) == want && !(ec.attrs & SEALPG_ATTR_EXTRACTABLE),
		  "P-256 key: sensitive, not extractable, never extractable, always sensitive, local");
	{
		const unsigned char *p = ec.spki;
		EVP_PKEY   *pk = d2i_PUBKEY(NULL, &p, (long) ec.spki_len);

		check(pk != NULL && EVP_PKEY_is_a(pk, "EC") && EVP_PKEY_get_bits(pk) == 256,
			  "P-256 SPKI parses as a 256-bit EC key");
		EVP_PKEY_free(pk);
	}
	check(keygen(fd, token, SEALPG_ALG_ED25519, "test ed key", &ed), "KEYGEN Ed25519");
	check((ed.attrs & want) == want && !(ed.attrs & SEALPG_ATTR_EXTRACTABLE) &&
		  ed.alg == SEALPG_ALG_ED25519,
		  "Ed25519 key: sensitive, not extractable, never extractable, local");
	{
		const unsigned char *p = ed.spki;
		EVP_PKEY   *pk = d2i_PUBKEY(NULL, &p, (long) ed.spki_len);

		check(pk != NULL && EVP_PKEY_is_a(pk, "ED25519"), "Ed25519 SPKI parses as Ed25519");
		EVP_PKEY_free(pk);
	}

	/* SIGN + verify */
	SHA256((const uint8_t *) msg, strlen(msg), dgst);
	check(sign(fd, token, &ec, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len) && sig_len == 64,
		  "SIGN ECDSA returns raw r||s of 64 bytes");
	check(verify_sig(ec.spki, ec.spki_len, SEALPG_MECH_ECDSA, sig, sig_len, dgst, 32),
		  "ECDSA signature verifies with OpenSSL against the SPKI");
	dgst[0] ^= 1;
	check(!verify_sig(ec.spki, ec.spki_len, SEALPG_MECH_ECDSA, sig, sig_len, dgst, 32),
		  "ECDSA signature does not verify for another digest");
	check(sign(fd, token, &ed, SEALPG_MECH_EDDSA, (const uint8_t *) msg, strlen(msg), sig, &sig_len) &&
		  sig_len == 64, "SIGN EDDSA returns 64 bytes");
	check(verify_sig(ed.spki, ed.spki_len, SEALPG_MECH_EDDSA, sig, sig_len,
					 (const uint8_t *) msg, strlen(msg)),
		  "Ed25519 signature verifies with OpenSSL");

	/* PUBKEY, KEYATTRS */
	n = frame_encode_keyref(req, sizeof(req), SEALPG_REQ_PUBKEY, token, ec.id, ec.id_len);
	{
		KeyInfoResp ki;

		check(rpc(fd, req, n, &type, body, &len) && type == SEALPG_RESP_PUBKEY &&
			  frame_decode_keyinfo_resp(body, len, &ki) && ki.spki.len == ec.spki_len &&
			  memcmp(ki.spki.data, ec.spki, ec.spki_len) == 0 && ki.attrs == ec.attrs &&
			  ki.alg == SEALPG_ALG_EC_P256,
			  "PUBKEY returns the same SPKI and attributes as KEYGEN");
	}
	n = frame_encode_keyref(req, sizeof(req), SEALPG_REQ_KEYATTRS, token, ed.id, ed.id_len);
	{
		KeyInfoResp ki;

		check(rpc(fd, req, n, &type, body, &len) && type == SEALPG_RESP_KEYATTRS &&
			  frame_decode_keyinfo_resp(body, len, &ki) && ki.attrs == ed.attrs &&
			  ki.alg == SEALPG_ALG_ED25519 && ki.spki.len == 0,
			  "KEYATTRS returns algorithm and attributes");
	}

	/* refusals */
	n = frame_encode_sign(req, sizeof(req), "no-such-token", ec.id, ec.id_len,
						  SEALPG_MECH_ECDSA, dgst, 32);
	check(expect_error(fd, req, n, SEALPG_ERR_NO_TOKEN), "SIGN on an absent token -> NO_TOKEN");
	memset(&bogus, 0, sizeof(bogus));
	memset(bogus.id, 0xAB, 16);
	bogus.id_len = 16;
	n = frame_encode_sign(req, sizeof(req), token, bogus.id, bogus.id_len, SEALPG_MECH_ECDSA, dgst, 32);
	check(expect_error(fd, req, n, SEALPG_ERR_NO_KEY), "SIGN with an unknown key id -> NO_KEY");
	n = frame_encode_keyref(req, sizeof(req), SEALPG_REQ_PUBKEY, token, bogus.id, bogus.id_len);
	check(expect_error(fd, req, n, SEALPG_ERR_NO_KEY), "PUBKEY with an unknown key id -> NO_KEY");
	n = frame_encode_sign(req, sizeof(req), token, ed.id, ed.id_len, SEALPG_MECH_ECDSA, dgst, 32);
	check(expect_error(fd, req, n, SEALPG_ERR_BAD_ARGS), "ECDSA with an Ed25519 key -> BAD_ARGS");
	n = frame_encode_sign(req, sizeof(req), token, ec.id, ec.id_len, SEALPG_MECH_ECDSA, dgst, 5);
	check(expect_error(fd, req, n, SEALPG_ERR_BAD_ARGS), "ECDSA over a 5-byte digest -> BAD_ARGS");
	n = frame_encode_keygen(req, sizeof(req), token, 77, "x");
	check(expect_error(fd, req, n, SEALPG_ERR_BAD_ARGS), "KEYGEN with algorithm 77 -> BAD_ARGS");
	n = frame_encode_keygen(req, sizeof(req), "a-token-label-that-is-longer-than-32", SEALPG_ALG_EC_P256, "x");
	check(expect_error(fd, req, n, SEALPG_ERR_BAD_ARGS), "33-byte token label -> BAD_ARGS");
	n = frame_encode_keygen(req, sizeof(req), nopin_token, SEALPG_ALG_EC_P256, "x");
	check(expect_error(fd, req, n, SEALPG_ERR_NOT_LOGGED_IN), "KEYGEN on a token without a PIN -> NOT_LOGGED_IN");

	/* malformed bodies and unknown types keep the connection usable */
	n = frame_encode_keygen(req, sizeof(req), token, SEALPG_ALG_EC_P256, "truncated");
	req[3] -= 4;
	check(expect_error(fd, req, n - 4, SEALPG_ERR_BAD_FRAME), "truncated KEYGEN body -> BAD_FRAME");
	n = frame_encode_list_tokens(req, sizeof(req));
	req[3] = 2;
	req[5] = 0;
	check(expect_error(fd, req, 6, SEALPG_ERR_BAD_FRAME), "LIST_TOKENS with a body -> BAD_FRAME");
	{
		uint8_t		unk[5] = {0, 0, 0, 1, 0x42};
		uint8_t		usb[7] = {0, 0, 0, 3, SEALPG_REQ_RESERVED_USB_LAST, 1, 2};
		uint8_t		usb_list_body[7] = {0, 0, 0, 3, SEALPG_REQ_USB_LIST, 1, 2};

		check(expect_error(fd, unk, 5, SEALPG_ERR_UNKNOWN_TYPE), "unknown type 0x42 -> UNKNOWN_TYPE");
		check(expect_error(fd, usb, 7, SEALPG_ERR_UNKNOWN_TYPE), "unused USB type 0x1f -> UNKNOWN_TYPE");
		check(expect_error(fd, usb_list_body, 7, SEALPG_ERR_BAD_FRAME), "USB_LIST with a body -> BAD_FRAME");
		check(expect_error(fd, (const uint8_t *) "\0\0\0\1\x81", 5, SEALPG_ERR_UNKNOWN_TYPE),
			  "a response type sent as a request -> UNKNOWN_TYPE");
	}
	check(sign(fd, token, &ec, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len),
		  "the connection still signs after the bad requests");

	/* hostile framing: each on its own connection */
	fd2 = conn_open();
	{
		uint8_t		big[5] = {0x00, 0x10, 0x00, 0x00, SEALPG_REQ_HELLO};

		check(fd2 >= 0 && expect_error(fd2, big, 5, SEALPG_ERR_TOO_LARGE),
			  "length 1 MiB -> TOO_LARGE before any body is read");
		check(closed_by_agent(fd2, 3000), "... and the connection is closed");
	}
	close(fd2);
	fd2 = conn_open();
	{
		uint8_t		zero[4] = {0, 0, 0, 0};

		check(fd2 >= 0 && expect_error(fd2, zero, 4, SEALPG_ERR_BAD_FRAME), "length 0 -> BAD_FRAME");
	}
	close(fd2);
	fd2 = conn_open();
	{
		uint8_t		garbage[256];

		RAND_bytes(garbage, sizeof(garbage));
		garbage[0] = 0x7F;		/* makes the length oversized */
		send_all(fd2, garbage, sizeof(garbage));
		check(fd2 >= 0 && closed_by_agent(fd2, 3000), "random garbage: the agent answers and closes");
	}
	close(fd2);
	fd2 = conn_open();
	send_all(fd2, "\0\0", 2);
	close(fd2);
	fd2 = conn_open();
	send_all(fd2, "\0\0\0\x40\x01\0", 6);	/* 64-byte frame, 2 bytes sent */
	close(fd2);
	check(do_hello(fd), "short frame then close, client vanishing mid-frame: agent still answers");
	fd2 = conn_open();
	{
		struct timespec t0,
					t1;

		clock_gettime(CLOCK_MONOTONIC, &t0);
		send_all(fd2, "\0\0\0\x10\x01", 5);		/* 16-byte frame, body never sent */
		check(fd2 >= 0 && closed_by_agent(fd2, 8000), "a stalled frame is dropped after the I/O timeout");
		clock_gettime(CLOCK_MONOTONIC, &t1);
		printf("# stalled frame dropped after %.1f s\n",
			   (double) (t1.tv_sec - t0.tv_sec) + (t1.tv_nsec - t0.tv_nsec) / 1e9);
	}
	close(fd2);

	/* concurrency */
	{
		pthread_t	tids[CONCURRENT_CLIENTS];
		WorkerArg	args[CONCURRENT_CLIENTS];
		int			all_ok = 1;
		char		what[128];

		for (int i = 0; i < CONCURRENT_CLIENTS; i++)
		{
			args[i].token = token;
			args[i].key = &ec;
			args[i].ok = 0;
			pthread_create(&tids[i], NULL, worker, &args[i]);
		}
		for (int i = 0; i < CONCURRENT_CLIENTS; i++)
		{
			pthread_join(tids[i], NULL);
			all_ok &= args[i].ok;
		}
		snprintf(what, sizeof(what), "%d concurrent clients x %d signatures, all verified",
				 CONCURRENT_CLIENTS, SIGNS_PER_CLIENT);
		check(all_ok, what);
	}
	check(do_hello(fd), "after all that the agent still answers HELLO");
	close(fd);
	fd = conn_ready();
	check(fd >= 0, "and accepts a new connection");
	if (fd >= 0)
		close(fd);

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

/* The token is pulled out (flag file created) and put back (removed). */
static int
run_removal(const char *token, const char *flag)
{
	static uint8_t req[BUFSZ];
	uint8_t		dgst[32] = {1, 2, 3},
				sig[SEALPG_MAX_SIGNATURE];
	size_t		sig_len,
				n;
	TestKey		key;
	FILE	   *f;
	int			fd = conn_ready();

	check(fd >= 0 && keygen(fd, token, SEALPG_ALG_EC_P256, "removal", &key) &&
		  sign(fd, token, &key, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len),
		  "token present: key generated and used");
	for (int i = 0; i < 20; i++)
		if (!sign(fd, token, &key, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len))
			break;
	check(verify_sig(key.spki, key.spki_len, SEALPG_MECH_ECDSA, sig, sig_len, dgst, 32),
		  "token present: 20 more signatures with the cached key handle");
	f = fopen(flag, "w");
	if (f != NULL)
		fclose(f);
	n = frame_encode_sign(req, sizeof(req), token, key.id, key.id_len, SEALPG_MECH_ECDSA, dgst, 32);
	check(expect_error(fd, req, n, SEALPG_ERR_NO_TOKEN),
		  "token pulled out under an open session -> NO_TOKEN");
	check(expect_error(fd, req, n, SEALPG_ERR_NO_TOKEN), "still absent -> NO_TOKEN");
	unlink(flag);
	check(sign(fd, token, &key, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len) &&
		  verify_sig(key.spki, key.spki_len, SEALPG_MECH_ECDSA, sig, sig_len, dgst, 32),
		  "token put back: the same connection signs again (new session, login)");
	if (fd >= 0)
		close(fd);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

/* Sign a digest with a key and verify the signature against its SPKI. */
static int
sign_verified(int fd, const char *token, const TestKey *key, const uint8_t *dgst)
{
	uint8_t		sig[SEALPG_MAX_SIGNATURE];
	size_t		sig_len;

	return sign(fd, token, key, SEALPG_MECH_ECDSA, dgst, 32, sig, &sig_len) &&
		verify_sig(key->spki, key->spki_len, SEALPG_MECH_ECDSA, sig, sig_len, dgst, 32);
}

/* The agent's cache of key handles, and a key deleted behind its back. */
static int
run_cache(const char *token, const char *delete_fmt)
{
	static uint8_t req[BUFSZ];
	static TestKey keys[CACHE_KEYS];
	uint8_t		dgst[32];
	char		hex[2 * SEALPG_MAX_KEY_ID + 1],
				cmd[1024];
	size_t		n;
	int			fd = conn_ready(),
				fd2,
				ok;

	check(fd >= 0, "connect to the agent");
	if (fd < 0)
		return 1;

	/* one key, many requests on one connection (its handle cached) */
	ok = keygen(fd, token, SEALPG_ALG_EC_P256, "cache 0", &keys[0]);
	for (int i = 0; ok && i < CACHE_SIGNS; i++)
	{
		RAND_bytes(dgst, sizeof(dgst));
		ok = sign_verified(fd, token, &keys[0], dgst);
	}
	check(ok, "one key signs 500 times on one connection, every signature verifies");

	/* more keys than the cache holds, used round robin twice */
	for (int i = 1; ok && i < CACHE_KEYS; i++)
		ok = keygen(fd, token, SEALPG_ALG_EC_P256, "cache n", &keys[i]);
	check(ok, "70 more keys generated");
	for (int round = 0; ok && round < 2; round++)
		for (int i = 0; ok && i < CACHE_KEYS; i++)
		{
			RAND_bytes(dgst, sizeof(dgst));
			ok = sign_verified(fd, token, &keys[i], dgst);
		}
	check(ok, "70 keys (more than the cache holds) each sign twice with their own key");

	/* delete keys[0] with another PKCS#11 application */
	for (size_t i = 0; i < keys[0].id_len; i++)
		snprintf(hex + 2 * i, 3, "%02x", keys[0].id[i]);
	RAND_bytes(dgst, sizeof(dgst));
	fd2 = conn_ready();
	check(fd2 >= 0 && sign_verified(fd2, token, &keys[0], dgst) &&
		  sign_verified(fd, token, &keys[0], dgst),
		  "the key to be deleted signs on two connections (handle cached on both)");
	snprintf(cmd, sizeof(cmd), delete_fmt, hex);
	check(system(cmd) == 0, "the private key deleted from the token by another application");
	n = frame_encode_sign(req, sizeof(req), token, keys[0].id, keys[0].id_len,
						  SEALPG_MECH_ECDSA, dgst, 32);
	check(expect_error(fd, req, n, SEALPG_ERR_NO_KEY),
		  "SIGN with the deleted key on a connection that cached it -> NO_KEY");
	check(expect_error(fd, req, n, SEALPG_ERR_NO_KEY), "and again -> NO_KEY");
	check(fd2 >= 0 && expect_error(fd2, req, n, SEALPG_ERR_NO_KEY),
		  "SIGN with the deleted key on the second connection -> NO_KEY");
	check(sign_verified(fd, token, &keys[1], dgst) && sign_verified(fd2, token, &keys[2], dgst),
		  "the other keys still sign on both connections");
	if (fd2 >= 0)
		close(fd2);
	fd2 = conn_ready();
	check(fd2 >= 0 && expect_error(fd2, req, n, SEALPG_ERR_NO_KEY),
		  "SIGN with the deleted key on a new connection -> NO_KEY");
	if (fd2 >= 0)
		close(fd2);
	close(fd);
	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}

/* Connect and HELLO once: 0 answered, 3 refused, 1 other. */
static int
run_hello(void)
{
	uint8_t		req[64],
				type;
	static uint8_t body[BUFSZ];
	size_t		n,
				len;
	int			fd = conn_open();
	ErrorResp	er;
	int			rc;

	if (fd < 0)
		return 1;
	n = frame_encode_hello(req, sizeof(req), SEALPG_PROTO_VERSION);
	send_all(fd, req, n);
	rc = recv_frame(fd, &type, body, &len, 5000);
	close(fd);
	if (rc == 1 && type == SEALPG_RESP_HELLO)
		return 0;
	if (rc == 1 && type == SEALPG_RESP_ERROR && frame_decode_error_resp(body, len, &er) &&
		er.code == SEALPG_ERR_NOT_ALLOWED)
		return 3;
	if (rc == 0)
		return 3;				/* closed without a word: also a refusal */
	return 1;
}

/* Entry point. */
int
main(int argc, char **argv)
{
	if (argc == 5 && strcmp(argv[1], "full") == 0)
	{
		sock_path = argv[2];
		return run_full(argv[3], argv[4]);
	}
	if (argc == 5 && strcmp(argv[1], "removal") == 0)
	{
		sock_path = argv[2];
		return run_removal(argv[3], argv[4]);
	}
	if (argc == 5 && strcmp(argv[1], "cache") == 0)
	{
		sock_path = argv[2];
		return run_cache(argv[3], argv[4]);
	}
	if (argc == 3 && strcmp(argv[1], "hello") == 0)
	{
		sock_path = argv[2];
		return run_hello();
	}
	fprintf(stderr, "usage: %s full SOCKET TOKEN NOPIN_TOKEN | removal SOCKET TOKEN FLAG | cache SOCKET TOKEN DELETE_COMMAND | hello SOCKET\n",
			argv[0]);
	return 2;
}
