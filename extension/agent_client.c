/*-------------------------------------------------------------------------
 *
 * agent_client.c
 *	  The backend's connection to sealpg-agent.
 *
 * One persistent connection per backend, opened on first use and never in
 * the postmaster (a socket does not survive fork into unrelated backends).
 * The socket is non-blocking and every wait goes through
 * WaitLatchOrSocket() with a deadline of sealpg.agent_timeout, so a query
 * cancel or a terminate request is served (CHECK_FOR_INTERRUPTS) while the
 * agent is slow, and postmaster death ends the backend.
 *
 * Desynchronisation is never allowed: a request that did not complete
 * (timeout, error, or an interrupt that longjmp'd out of the wait) leaves
 * agent_busy set or closes the socket, and the next request starts on a
 * fresh connection.  A late reply can therefore never be taken for the
 * answer to a later request.
 *
 * A change of sealpg.agent_socket (it is reloadable) is noticed at the next
 * request, which then connects to the new path.
 *
 * Retry: when a connection that was already open turns out to be broken
 * (the agent restarted), the request is sent once more on a new connection
 * -- except KEYGEN after it was sent, because the key may already exist;
 * that case is reported and the caller decides.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "miscadmin.h"
#include "storage/latch.h"
#include "utils/timestamp.h"
#include "utils/wait_event.h"

#include "sealpg.h"
#include "agent_client.h"
#include "../agent/frame.h"

/* Outcome of one exchange on the socket. */
typedef enum AgentIo
{
	AGENT_IO_OK,
	AGENT_IO_SEND_FAILED,		/* nothing of the request reached the agent */
	AGENT_IO_LOST				/* request (maybe) sent, no complete reply */
} AgentIo;

/* A reply frame, body palloc'd. */
typedef struct AgentReply
{
	uint8		type;
	uint8	   *body;
	size_t		len;
} AgentReply;

static pgsocket agent_sock = PGINVALID_SOCKET;
static bool agent_busy = false;
static char agent_connected_path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
static char agent_io_error[256];

/* The socket path for messages. */
static const char *
agent_path(void)
{
	return sealpg_agent_socket ? sealpg_agent_socket : "(unset)";
}

/* Close the connection, if any. */
void
sealpg_agent_disconnect(void)
{
	if (agent_sock != PGINVALID_SOCKET)
		closesocket(agent_sock);
	agent_sock = PGINVALID_SOCKET;
	agent_busy = false;
}

/* Milliseconds left until deadline; raise SE102 (closing) when none. */
static long
agent_remaining_ms(TimestampTz deadline)
{
	long		ms = TimestampDifferenceMilliseconds(GetCurrentTimestamp(), deadline);

	if (ms <= 0)
	{
		sealpg_agent_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_TIMEOUT),
				 errmsg("sealpg agent did not answer within %d ms", sealpg_agent_timeout_ms),
				 errdetail("The connection to the agent was closed; the next request opens a new one."),
				 errhint("Check that sealpg-agent on socket \"%s\" is running and its token responds, "
						 "or raise sealpg.agent_timeout.", agent_path())));
	}
	return ms;
}

/* Wait until the socket is ready for events, serving interrupts. */
static void
agent_wait(int events, TimestampTz deadline)
{
	for (;;)
	{
		long		ms = agent_remaining_ms(deadline);
		int			rc;

		rc = WaitLatchOrSocket(MyLatch,
							   events | WL_TIMEOUT | WL_LATCH_SET | WL_EXIT_ON_PM_DEATH,
							   agent_sock, ms, PG_WAIT_EXTENSION);
		if (rc & WL_LATCH_SET)
		{
			ResetLatch(MyLatch);
			CHECK_FOR_INTERRUPTS();
		}
		if (rc & events)
			return;
	}
}

/* Send all bytes; false (with agent_io_error set) if the peer is gone. */
static bool
agent_send(const uint8 *buf, size_t n, TimestampTz deadline, bool *sent_any)
{
	while (n > 0)
	{
		ssize_t		w = send(agent_sock, buf, n, MSG_NOSIGNAL);

		if (w > 0)
		{
			*sent_any = true;
			buf += w;
			n -= (size_t) w;
			continue;
		}
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		{
			agent_wait(WL_SOCKET_WRITEABLE, deadline);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		snprintf(agent_io_error, sizeof(agent_io_error), "send failed: %s", strerror(errno));
		return false;
	}
	return true;
}

/* Receive exactly n bytes; false (with agent_io_error set) on EOF/error. */
static bool
agent_recv(uint8 *buf, size_t n, TimestampTz deadline)
{
	while (n > 0)
	{
		ssize_t		r = recv(agent_sock, buf, n, 0);

		if (r > 0)
		{
			buf += r;
			n -= (size_t) r;
			continue;
		}
		if (r == 0)
		{
			snprintf(agent_io_error, sizeof(agent_io_error), "the agent closed the connection");
			return false;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK)
		{
			agent_wait(WL_SOCKET_READABLE, deadline);
			continue;
		}
		if (errno == EINTR)
			continue;
		snprintf(agent_io_error, sizeof(agent_io_error), "receive failed: %s", strerror(errno));
		return false;
	}
	return true;
}

/* Send one request frame and read one reply frame. */
static AgentIo
agent_exchange(const uint8 *req, size_t reqlen, TimestampTz deadline, AgentReply *reply)
{
	uint8		prefix[SEALPG_LEN_SIZE];
	uint32		len;
	bool		sent_any = false;
	int			rc;

	if (!agent_send(req, reqlen, deadline, &sent_any))
		return sent_any ? AGENT_IO_LOST : AGENT_IO_SEND_FAILED;
	if (!agent_recv(prefix, sizeof(prefix), deadline))
		return AGENT_IO_LOST;
	rc = frame_check_length(prefix, &len);
	if (rc != 0)
	{
		sealpg_agent_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("sealpg agent sent a frame of invalid length %u", len),
				 errhint("Check that socket \"%s\" belongs to sealpg-agent.", agent_path())));
	}
	reply->body = palloc(len);
	if (!agent_recv(reply->body, len, deadline))
		return AGENT_IO_LOST;
	reply->type = reply->body[0];
	reply->len = len - 1;
	memmove(reply->body, reply->body + 1, reply->len);
	return AGENT_IO_OK;
}

/* Is the open connection already known to be dead (EOF or stray bytes)? */
static bool
agent_connection_stale(void)
{
	uint8		b;
	ssize_t		r = recv(agent_sock, &b, 1, MSG_PEEK | MSG_DONTWAIT);

	if (r == 0 || r > 0)
		return true;			/* EOF, or bytes nobody asked for */
	return !(errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR);
}

/* Copy an agent-supplied message, replacing non-printable bytes. */
static char *
agent_message(FrameBytes m)
{
	char	   *s = palloc(m.len + 1);

	for (uint32 i = 0; i < m.len; i++)
		s[i] = (m.data[i] >= 0x20 && m.data[i] < 0x7f) ? (char) m.data[i] : '?';
	s[m.len] = '\0';
	return s;
}

/* Raise the ereport that matches an ERROR frame from the agent. */
static void
agent_raise(const AgentReply *reply)
{
	ErrorResp	er;
	char	   *msg;
	int			sqlstate;

	if (!frame_decode_error_resp(reply->body, reply->len, &er))
	{
		sealpg_agent_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("sealpg agent sent a malformed error frame"),
				 errhint("Check that socket \"%s\" belongs to sealpg-agent.", agent_path())));
	}
	msg = agent_message(er.message);
	switch (er.code)
	{
		case SEALPG_ERR_NO_TOKEN:
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_TOKEN_ABSENT),
					 errmsg("security token is not present"),
					 errdetail("The agent on socket \"%s\" reports: %s", agent_path(), msg),
					 errhint("Insert the token, or check its label with sealpg.agent_tokens().")));
			break;
		case SEALPG_ERR_NO_KEY:
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_KEY_NOT_FOUND),
					 errmsg("key not found on the security token"),
					 errdetail("The agent on socket \"%s\" reports: %s", agent_path(), msg),
					 errhint("The key id may belong to another token, or the key was deleted.")));
			break;
		case SEALPG_ERR_BAD_ARGS:
			ereport(ERROR,
					(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
					 errmsg("sealpg agent refused the arguments: %s", msg)));
			break;
		case SEALPG_ERR_NOT_ALLOWED:
			sealpg_agent_disconnect();
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_AGENT_UNAVAILABLE),
					 errmsg("sealpg agent refused this server's connection"),
					 errdetail("The agent on socket \"%s\" reports: %s", agent_path(), msg),
					 errhint("Start sealpg-agent with --allow-uid set to the PostgreSQL server's user.")));
			break;
		case SEALPG_ERR_NOT_LOGGED_IN:
		case SEALPG_ERR_PKCS11:
		case SEALPG_ERR_INTERNAL:
		case SEALPG_ERR_BUSY:
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_AGENT_FAILURE),
					 errmsg("sealpg agent could not complete the request"),
					 errdetail("The agent on socket \"%s\" reports %s: %s", agent_path(),
							   frame_error_name(er.code), msg),
					 errhint(er.code == SEALPG_ERR_NOT_LOGGED_IN ?
							 "Add the token's PIN to the agent's PIN file and restart the agent." :
							 "See the agent's log for details.")));
			break;
		default:
			sqlstate = ERRCODE_SEAL_AGENT_PROTOCOL;
			sealpg_agent_disconnect();
			ereport(ERROR,
					(errcode(sqlstate),
					 errmsg("sealpg agent rejected the request as %s", frame_error_name(er.code)),
					 errdetail("The agent on socket \"%s\" reports: %s", agent_path(), msg),
					 errhint("The agent and the extension may be of different versions.")));
	}
}

/* Raise SE101 for a connection that could not be made or was lost. */
static void
agent_unavailable(const char *what)
{
	sealpg_agent_disconnect();
	ereport(ERROR,
			(errcode(ERRCODE_SEAL_AGENT_UNAVAILABLE),
			 errmsg("sealpg agent is unavailable"),
			 errdetail("%s (socket \"%s\").", what, agent_path()),
			 errhint("Start sealpg-agent, or set sealpg.agent_socket to the socket it listens on.")));
}

/*
 * After a failed handshake, read an ERROR frame the agent may have sent
 * before closing (a refused peer uid) and raise it; return if there is none.
 */
static void
agent_raise_pending_error(void)
{
	uint8		buf[1024];
	size_t		got = 0;
	uint32		len;
	AgentReply	reply;

	while (got < sizeof(buf))
	{
		ssize_t		r = recv(agent_sock, buf + got, sizeof(buf) - got, MSG_DONTWAIT);

		if (r <= 0)
			break;
		got += (size_t) r;
	}
	if (got < SEALPG_HDR_SIZE || frame_check_length(buf, &len) != 0 ||
		len > got - SEALPG_LEN_SIZE || buf[SEALPG_LEN_SIZE] != SEALPG_RESP_ERROR)
		return;
	reply.type = SEALPG_RESP_ERROR;
	reply.body = buf + SEALPG_HDR_SIZE;
	reply.len = len - 1;
	agent_raise(&reply);
}

/* Open the socket and complete HELLO; raises on failure. */
static void
agent_connect(TimestampTz deadline)
{
	struct sockaddr_un addr;
	uint8		req[16];
	size_t		n;
	AgentReply	reply;
	HelloResp	hr;

	if (IsPostmasterEnvironment && !IsUnderPostmaster)
		elog(ERROR, "the sealpg agent connection cannot be opened in the postmaster");
	if (sealpg_agent_socket == NULL || sealpg_agent_socket[0] == '\0')
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_UNAVAILABLE),
				 errmsg("sealpg.agent_socket is not set"),
				 errhint("Set sealpg.agent_socket to the socket sealpg-agent listens on.")));
	if (strlen(sealpg_agent_socket) >= sizeof(addr.sun_path))
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_UNAVAILABLE),
				 errmsg("sealpg.agent_socket is too long"),
				 errhint("Use a socket path of at most %d bytes.", (int) sizeof(addr.sun_path) - 1)));

	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strlcpy(addr.sun_path, sealpg_agent_socket, sizeof(addr.sun_path));
	agent_sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (agent_sock == PGINVALID_SOCKET)
		agent_unavailable(psprintf("could not create a socket: %m"));
	if (connect(agent_sock, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		if (errno == EAGAIN)
			agent_unavailable("the agent's listen queue is full");
		agent_unavailable(psprintf("could not connect: %m"));
	}

	strlcpy(agent_connected_path, sealpg_agent_socket, sizeof(agent_connected_path));
	agent_busy = true;
	n = frame_encode_hello(req, sizeof(req), SEALPG_PROTO_VERSION);
	if (agent_exchange(req, n, deadline, &reply) != AGENT_IO_OK)
	{
		agent_raise_pending_error();
		agent_unavailable(psprintf("handshake failed: %s", agent_io_error));
	}
	if (reply.type == SEALPG_RESP_ERROR)
		agent_raise(&reply);
	if (reply.type != SEALPG_RESP_HELLO || !frame_decode_hello_resp(reply.body, reply.len, &hr) ||
		hr.version != SEALPG_PROTO_VERSION)
	{
		sealpg_agent_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("sealpg agent answered HELLO unexpectedly"),
				 errhint("Check that socket \"%s\" belongs to a sealpg-agent speaking protocol %d.",
						 agent_path(), SEALPG_PROTO_VERSION)));
	}
	pfree(reply.body);
	agent_busy = false;
}

/*
 * Send a request and return its successful reply of type expect; raise
 * for ERROR frames and protocol violations.  idempotent says whether the
 * request may be sent again after the connection was lost mid-request.
 */
static void
agent_request(const uint8 *req, size_t reqlen, bool idempotent, uint8 expect,
			  AgentReply *reply)
{
	TimestampTz deadline;

	if (reqlen == 0)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("sealpg agent request does not fit in one frame")));
	/* a previous request was interrupted: its reply may still come */
	if (agent_busy)
		sealpg_agent_disconnect();
	/* sealpg.agent_socket changed (reload) since the connection was made */
	if (agent_sock != PGINVALID_SOCKET &&
		strcmp(agent_connected_path, sealpg_agent_socket ? sealpg_agent_socket : "") != 0)
		sealpg_agent_disconnect();
	deadline = TimestampTzPlusMilliseconds(GetCurrentTimestamp(), sealpg_agent_timeout_ms);

	for (int attempt = 0;; attempt++)
	{
		bool		fresh = false;
		AgentIo		io;

		if (agent_sock != PGINVALID_SOCKET && agent_connection_stale())
			sealpg_agent_disconnect();
		if (agent_sock == PGINVALID_SOCKET)
		{
			agent_connect(deadline);
			fresh = true;
		}
		agent_busy = true;
		io = agent_exchange(req, reqlen, deadline, reply);
		if (io == AGENT_IO_OK)
			break;
		sealpg_agent_disconnect();
		if (attempt == 0 && !fresh && (io == AGENT_IO_SEND_FAILED || idempotent))
			continue;
		if (io == AGENT_IO_LOST && !idempotent)
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_AGENT_UNAVAILABLE),
					 errmsg("connection to the sealpg agent was lost during key generation"),
					 errdetail("%s (socket \"%s\"). A key may have been created on the token "
							   "without being recorded.", agent_io_error, agent_path()),
					 errhint("Check the agent's log, then retry.")));
		agent_unavailable(agent_io_error);
	}
	agent_busy = false;

	if (reply->type == SEALPG_RESP_ERROR)
		agent_raise(reply);
	if (reply->type != expect)
	{
		sealpg_agent_disconnect();
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
				 errmsg("sealpg agent answered with frame type 0x%02x, expected 0x%02x",
						reply->type, expect),
				 errhint("Check that socket \"%s\" belongs to sealpg-agent.", agent_path())));
	}
}

/* Raise SE105 for a reply body that does not decode. */
static void
agent_malformed(const char *what)
{
	sealpg_agent_disconnect();
	ereport(ERROR,
			(errcode(ERRCODE_SEAL_AGENT_PROTOCOL),
			 errmsg("sealpg agent sent a malformed %s reply", what),
			 errhint("Check that socket \"%s\" belongs to sealpg-agent.", agent_path())));
}

/* A palloc'd C string from a wire string. */
static char *
agent_cstring(FrameBytes b)
{
	return agent_message(b);
}

/* A palloc'd bytea from wire bytes. */
static bytea *
agent_bytea(FrameBytes b)
{
	bytea	   *v = palloc(VARHDRSZ + b.len);

	SET_VARSIZE(v, VARHDRSZ + b.len);
	if (b.len > 0)
		memcpy(VARDATA(v), b.data, b.len);
	return v;
}

/* Fill a SealKeyInfo from a KEYGEN/PUBKEY/KEYATTRS reply. */
static void
agent_keyinfo(const AgentReply *reply, bool with_spki, SealKeyInfo *out)
{
	KeyInfoResp ki;

	if (!frame_decode_keyinfo_resp(reply->body, reply->len, &ki) ||
		(ki.alg != SEALPG_ALG_EC_P256 && ki.alg != SEALPG_ALG_ED25519) ||
		ki.key_id.len == 0 || (with_spki && ki.spki.len == 0))
		agent_malformed("key");
	memset(out, 0, sizeof(*out));
	out->alg = ki.alg;
	out->key_id = agent_bytea(ki.key_id);
	out->spki = with_spki ? agent_bytea(ki.spki) : NULL;
	out->attrs = ki.attrs;
	out->sensitive = (ki.attrs & SEALPG_ATTR_SENSITIVE) != 0;
	out->extractable = (ki.attrs & SEALPG_ATTR_EXTRACTABLE) != 0;
	out->never_extractable = (ki.attrs & SEALPG_ATTR_NEVER_EXTRACTABLE) != 0;
	out->always_sensitive = (ki.attrs & SEALPG_ATTR_ALWAYS_SENSITIVE) != 0;
	out->local = (ki.attrs & SEALPG_ATTR_LOCAL) != 0;
}

/* Check a token label before it goes on the wire. */
static void
check_token_label(const char *token)
{
	size_t		len = token ? strlen(token) : 0;

	if (len == 0 || len > SEALPG_MAX_LABEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("token label must be 1 to %d bytes", SEALPG_MAX_LABEL)));
}

/* Check a key id before it goes on the wire. */
static void
check_key_id(size_t key_id_len)
{
	if (key_id_len == 0 || key_id_len > SEALPG_MAX_KEY_ID)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key id must be 1 to %d bytes", SEALPG_MAX_KEY_ID)));
}

/* HELLO on the (possibly new) connection: the agent's version. */
uint32
sealpg_agent_hello(char **agent_name)
{
	uint8		req[16];
	size_t		n = frame_encode_hello(req, sizeof(req), SEALPG_PROTO_VERSION);
	AgentReply	reply;
	HelloResp	hr;

	agent_request(req, n, true, SEALPG_RESP_HELLO, &reply);
	if (!frame_decode_hello_resp(reply.body, reply.len, &hr))
		agent_malformed("HELLO");
	if (agent_name)
		*agent_name = agent_cstring(hr.agent);
	return hr.version;
}

/* LIST_TOKENS: every slot of the agent's module. */
SealTokenInfo *
sealpg_agent_list_tokens(int *ntokens)
{
	uint8		req[16];
	size_t		n = frame_encode_list_tokens(req, sizeof(req));
	AgentReply	reply;
	FrameReader r;
	uint16		count;
	SealTokenInfo *tokens;

	agent_request(req, n, true, SEALPG_RESP_TOKENS, &reply);
	if (!frame_decode_tokens_begin(reply.body, reply.len, &r, &count))
		agent_malformed("token list");
	tokens = palloc0(sizeof(SealTokenInfo) * (count > 0 ? count : 1));
	for (int i = 0; i < count; i++)
	{
		TokenEntry	te;

		if (!frame_decode_token_next(&r, &te))
			agent_malformed("token list");
		tokens[i].label = agent_cstring(te.label);
		tokens[i].serial = agent_cstring(te.serial);
		tokens[i].manufacturer = agent_cstring(te.manufacturer);
		tokens[i].model = agent_cstring(te.model);
		tokens[i].present = (te.flags & SEALPG_TOKEN_PRESENT) != 0;
		tokens[i].initialized = (te.flags & SEALPG_TOKEN_INITIALIZED) != 0;
		tokens[i].login_required = (te.flags & SEALPG_TOKEN_LOGIN_REQUIRED) != 0;
	}
	if (!fr_done(&r))
		agent_malformed("token list");
	*ntokens = count;
	return tokens;
}

/* Map an algorithm name to SEALPG_ALG_*. */
static uint8
parse_alg(const char *alg)
{
	if (alg != NULL)
	{
		if (pg_strcasecmp(alg, "ecdsa-p256") == 0 || pg_strcasecmp(alg, "p256") == 0 ||
			pg_strcasecmp(alg, "p-256") == 0 || pg_strcasecmp(alg, "prime256v1") == 0)
			return SEALPG_ALG_EC_P256;
		if (pg_strcasecmp(alg, "ed25519") == 0)
			return SEALPG_ALG_ED25519;
	}
	ereport(ERROR,
			(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
			 errmsg("unsupported key algorithm \"%s\"", alg ? alg : "(null)"),
			 errhint("Use \"ecdsa-p256\" or \"ed25519\".")));
	return 0;					/* keep compiler quiet */
}

/* Generate a key pair on a token through the agent. */
void
sealpg_agent_keygen(const char *token, const char *alg, const char *label,
					SealKeyInfo *out)
{
	uint8		algno = parse_alg(alg);
	uint8		req[512];
	size_t		n;
	AgentReply	reply;

	check_token_label(token);
	if (label != NULL && strlen(label) > SEALPG_MAX_KEY_LABEL)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("key label must be at most %d bytes", SEALPG_MAX_KEY_LABEL)));
	n = frame_encode_keygen(req, sizeof(req), token, algno, label ? label : "");
	agent_request(req, n, false, SEALPG_RESP_KEYGEN, &reply);
	agent_keyinfo(&reply, true, out);
}

/* Sign input with a key on a token; raw signature, palloc'd. */
unsigned char *
sealpg_agent_sign(const char *token, const unsigned char *key_id, size_t key_id_len,
				  const char *mechanism, const unsigned char *input, size_t input_len,
				  size_t *outlen)
{
	uint8		mech;
	uint8	   *req;
	size_t		cap;
	size_t		n;
	AgentReply	reply;
	FrameBytes	sig;
	unsigned char *result;

	if (mechanism != NULL && pg_strcasecmp(mechanism, "ecdsa") == 0)
		mech = SEALPG_MECH_ECDSA;
	else if (mechanism != NULL && (pg_strcasecmp(mechanism, "eddsa") == 0 ||
								   pg_strcasecmp(mechanism, "ed25519") == 0))
		mech = SEALPG_MECH_EDDSA;
	else
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unsupported signing mechanism \"%s\"", mechanism ? mechanism : "(null)"),
				 errhint("Use \"ecdsa\" or \"eddsa\".")));
	check_token_label(token);
	check_key_id(key_id_len);
	if (input_len > SEALPG_MAX_FRAME - 256)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("input to sign is too long (%zu bytes)", input_len),
				 errhint("Sign a digest (ECDSA) or a message of at most %d bytes.",
						 SEALPG_MAX_FRAME - 256)));
	cap = input_len + 256;
	req = palloc(cap);
	n = frame_encode_sign(req, cap, token, key_id, key_id_len, mech, input, input_len);
	agent_request(req, n, true, SEALPG_RESP_SIGN, &reply);
	pfree(req);
	if (!frame_decode_sign_resp(reply.body, reply.len, &sig) || sig.len == 0 ||
		sig.len > SEALPG_MAX_SIGNATURE)
		agent_malformed("SIGN");
	result = palloc(sig.len);
	memcpy(result, sig.data, sig.len);
	*outlen = sig.len;
	pfree(reply.body);
	return result;
}

/* PUBKEY: SPKI and attributes of an existing key. */
void
sealpg_agent_pubkey(const char *token, const unsigned char *key_id, size_t key_id_len,
					SealKeyInfo *out)
{
	uint8		req[512];
	size_t		n;
	AgentReply	reply;

	check_token_label(token);
	check_key_id(key_id_len);
	n = frame_encode_keyref(req, sizeof(req), SEALPG_REQ_PUBKEY, token, key_id, key_id_len);
	agent_request(req, n, true, SEALPG_RESP_PUBKEY, &reply);
	agent_keyinfo(&reply, true, out);
}

/* KEYATTRS: attributes of an existing key. */
void
sealpg_agent_keyattrs(const char *token, const unsigned char *key_id, size_t key_id_len,
					  SealKeyInfo *out)
{
	uint8		req[512];
	size_t		n;
	AgentReply	reply;

	check_token_label(token);
	check_key_id(key_id_len);
	n = frame_encode_keyref(req, sizeof(req), SEALPG_REQ_KEYATTRS, token, key_id, key_id_len);
	agent_request(req, n, true, SEALPG_RESP_KEYATTRS, &reply);
	agent_keyinfo(&reply, false, out);
}
