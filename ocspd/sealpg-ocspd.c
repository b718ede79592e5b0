/*-------------------------------------------------------------------------
 *
 * sealpg-ocspd.c
 *	  A small HTTP front for sealpg.ocsp_respond(): OCSP over HTTP
 *	  (RFC 6960 appendix A, RFC 5019 profile) on a loopback address.
 *
 *	  sealpg-ocspd [--listen 127.0.0.1] [--port 8481] [--db CONNINFO]
 *	               [--connections 4] [--threads 2] [--cache-ttl 60]
 *	               [--cache-max 100000]
 *
 * POST / with an application/ocsp-request body, or GET /<base64 request>
 * (URL-encoded), is answered with the application/ocsp-response that the
 * database returns.  Malformed or oversized requests get the OCSP status
 * malformedRequest; a database failure gets tryLater (HTTP 200 both, as
 * RFC 5019 asks).  The database decides everything; this program only
 * carries bytes and caches.
 *
 * The cache and why it is never stale once a status change has committed:
 *	- only requests without a nonce are cached (RFC 5019 "pre-produced"
 *	  responses); with a nonce every request goes to the database;
 *	- entries are keyed by the request's exact bytes and live at most
 *	  --cache-ttl seconds (keep it below sealpg.ocsp_validity);
 *	- one more connection LISTENs on sealpg_revocation and sealpg_status.
 *	  Every notification bumps a generation counter; an entry made under an
 *	  older generation is never served (every request checks it), and a
 *	  response fetched while a notification arrived is not stored;
 *	- while the listening connection is down, nothing is cached or served
 *	  from the cache.
 * PostgreSQL sends notifications after the changing transaction commits,
 * so the window left is the notification's path from the server to this
 * process (a fraction of a millisecond on one host): a request answered
 * from the cache inside that window still sees the previous status.  No
 * Cache-Control max-age is sent, so HTTP caches do not widen it.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <libpq-fe.h>
#include <microhttpd.h>
#include <openssl/evp.h>
#include <openssl/ocsp.h>

/* Largest request accepted (as in the database, ocsp.c). */
#define MAX_REQUEST		8192

/* OCSP responses without a body. */
static const unsigned char resp_malformed[] = {0x30, 0x03, 0x0a, 0x01, 0x01};
static const unsigned char resp_try_later[] = {0x30, 0x03, 0x0a, 0x01, 0x03};

/* ---- settings ---- */
static const char *listen_addr = "127.0.0.1";
static int	listen_port = 8481;
static const char *conninfo = "";
static int	n_connections = 4;
static int	n_threads = 2;
static int	cache_ttl = 60;
static int	cache_max = 100000;

/* ---- database connections ---- */
typedef struct DbConn
{
	pthread_mutex_t lock;
	PGconn	   *conn;
} DbConn;

static DbConn *pool;
static atomic_uint next_conn;

/* ---- the cache ---- */
typedef struct CacheEntry
{
	struct CacheEntry *next;
	uint64_t	hash;
	uint64_t	generation;
	time_t		expires;
	size_t		key_len;
	size_t		value_len;
	unsigned char *key;
	unsigned char *value;
} CacheEntry;

#define CACHE_BUCKETS	65536
static CacheEntry *buckets[CACHE_BUCKETS];
static int	cache_count;
static pthread_rwlock_t cache_lock = PTHREAD_RWLOCK_INITIALIZER;
static atomic_uint_fast64_t generation = 1;
static atomic_bool listening = false;
static atomic_bool stopping = false;

/* Per-connection state: the request body being received. */
typedef struct Upload
{
	unsigned char *data;
	size_t		len;
	bool		too_long;
} Upload;

/* FNV-1a over the request bytes. */
static uint64_t
hash_bytes(const unsigned char *p, size_t len)
{
	uint64_t	h = 1469598103934665603ULL;

	while (len-- > 0)
	{
		h ^= *p++;
		h *= 1099511628211ULL;
	}
	return h;
}

/* Free every cache entry (the write lock is held). */
static void
cache_clear_locked(void)
{
	int			i;

	for (i = 0; i < CACHE_BUCKETS; i++)
	{
		CacheEntry *e = buckets[i];

		while (e != NULL)
		{
			CacheEntry *next = e->next;

			free(e->key);
			free(e->value);
			free(e);
			e = next;
		}
		buckets[i] = NULL;
	}
	cache_count = 0;
}

/* Copy a cached response for the request into *out; true on a hit. */
static bool
cache_get(const unsigned char *key, size_t key_len, uint64_t h,
		  unsigned char **out, size_t *out_len)
{
	CacheEntry *e;
	bool		hit = false;
	time_t		now = time(NULL);
	uint64_t	gen = atomic_load(&generation);

	if (cache_ttl <= 0 || !atomic_load(&listening))
		return false;
	pthread_rwlock_rdlock(&cache_lock);
	for (e = buckets[h % CACHE_BUCKETS]; e != NULL; e = e->next)
	{
		if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
		{
			if (e->generation == gen && e->expires > now)
			{
				*out = malloc(e->value_len);
				if (*out != NULL)
				{
					memcpy(*out, e->value, e->value_len);
					*out_len = e->value_len;
					hit = true;
				}
			}
			break;
		}
	}
	pthread_rwlock_unlock(&cache_lock);
	return hit;
}

/* Store a response fetched under generation gen (unless it moved on). */
static void
cache_put(const unsigned char *key, size_t key_len, uint64_t h, uint64_t gen,
		  const unsigned char *value, size_t value_len)
{
	CacheEntry **slot;
	CacheEntry *e;

	if (cache_ttl <= 0 || !atomic_load(&listening))
		return;
	pthread_rwlock_wrlock(&cache_lock);
	if (atomic_load(&generation) != gen)
	{
		pthread_rwlock_unlock(&cache_lock);
		return;
	}
	if (cache_count >= cache_max)
		cache_clear_locked();
	slot = &buckets[h % CACHE_BUCKETS];
	for (e = *slot; e != NULL; e = e->next)
		if (e->hash == h && e->key_len == key_len && memcmp(e->key, key, key_len) == 0)
			break;
	if (e == NULL)
	{
		e = calloc(1, sizeof(CacheEntry));
		if (e == NULL || (e->key = malloc(key_len)) == NULL)
		{
			free(e);
			pthread_rwlock_unlock(&cache_lock);
			return;
		}
		memcpy(e->key, key, key_len);
		e->key_len = key_len;
		e->hash = h;
		e->next = *slot;
		*slot = e;
		cache_count++;
	}
	free(e->value);
	e->value = malloc(value_len);
	if (e->value != NULL)
		memcpy(e->value, value, value_len);
	e->value_len = e->value ? value_len : 0;
	e->generation = e->value ? gen : 0;
	e->expires = time(NULL) + cache_ttl;
	pthread_rwlock_unlock(&cache_lock);
}

/* May the response to this request be cached (no nonce, well formed)? */
static bool
cacheable(const unsigned char *req, size_t len)
{
	const unsigned char *p = req;
	OCSP_REQUEST *r = d2i_OCSP_REQUEST(NULL, &p, (long) len);
	bool		ok;

	if (r == NULL)
		return false;
	ok = (p == req + len) && OCSP_REQUEST_get_ext_by_NID(r, NID_id_pkix_OCSP_Nonce, -1) < 0;
	OCSP_REQUEST_free(r);
	return ok;
}

/* Ask the database; a malloc'd response, or NULL when it failed. */
static unsigned char *
ask_database(const unsigned char *req, size_t len, size_t *out_len)
{
	DbConn	   *db = &pool[atomic_fetch_add(&next_conn, 1) % (unsigned) n_connections];
	const char *values[1] = {(const char *) req};
	int			lengths[1] = {(int) len};
	int			formats[1] = {1};
	PGresult   *res;
	unsigned char *out = NULL;

	pthread_mutex_lock(&db->lock);
	if (PQstatus(db->conn) != CONNECTION_OK)
		PQreset(db->conn);
	res = PQexecParams(db->conn, "SELECT sealpg.ocsp_respond($1::bytea)", 1, NULL,
					   values, lengths, formats, 1);
	if (PQresultStatus(res) == PGRES_TUPLES_OK && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
	{
		*out_len = (size_t) PQgetlength(res, 0, 0);
		out = malloc(*out_len);
		if (out != NULL)
			memcpy(out, PQgetvalue(res, 0, 0), *out_len);
	}
	else
		fprintf(stderr, "sealpg-ocspd: %s", PQerrorMessage(db->conn));
	PQclear(res);
	pthread_mutex_unlock(&db->lock);
	return out;
}

/* Answer one OCSP request (DER bytes) with an HTTP 200 OCSP response. */
static enum MHD_Result
answer(struct MHD_Connection *connection, const unsigned char *req, size_t len)
{
	struct MHD_Response *response;
	enum MHD_Result ret;
	unsigned char *body = NULL;
	size_t		body_len = 0;
	uint64_t	h = 0;
	bool		may_cache = false;

	if (len == 0 || len > MAX_REQUEST)
		response = MHD_create_response_from_buffer(sizeof(resp_malformed),
												   (void *) resp_malformed, MHD_RESPMEM_PERSISTENT);
	else
	{
		may_cache = cache_ttl > 0 && cacheable(req, len);
		if (may_cache)
			h = hash_bytes(req, len);
		if (!may_cache || !cache_get(req, len, h, &body, &body_len))
		{
			uint64_t	gen = atomic_load(&generation);

			body = ask_database(req, len, &body_len);
			/* cache successful responses only: 30 len 0a 01 00 ... */
			if (body != NULL && may_cache && body_len > 8 &&
				memcmp(body + (body[1] & 0x80 ? 2 + (body[1] & 0x7f) : 2), "\x0a\x01\x00", 3) == 0)
				cache_put(req, len, h, gen, body, body_len);
		}
		if (body == NULL)
			response = MHD_create_response_from_buffer(sizeof(resp_try_later),
													   (void *) resp_try_later, MHD_RESPMEM_PERSISTENT);
		else
			response = MHD_create_response_from_buffer(body_len, body, MHD_RESPMEM_MUST_FREE);
	}
	if (response == NULL)
	{
		free(body);
		return MHD_NO;
	}
	MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE, "application/ocsp-response");
	ret = MHD_queue_response(connection, MHD_HTTP_OK, response);
	MHD_destroy_response(response);
	return ret;
}

/* Decode the base64 request of a GET path; malloc'd, or NULL. */
static unsigned char *
decode_get(const char *url, size_t *len)
{
	const char *b64 = url;
	size_t		n;
	unsigned char *out;
	int			got;
	int			pad = 0;

	while (*b64 == '/')
		b64++;
	n = strlen(b64);
	if (n == 0 || n % 4 != 0 || n > (MAX_REQUEST / 3 + 1) * 4)
		return NULL;
	out = malloc(n / 4 * 3 + 1);
	if (out == NULL)
		return NULL;
	got = EVP_DecodeBlock(out, (const unsigned char *) b64, (int) n);
	if (got < 0)
	{
		free(out);
		return NULL;
	}
	if (b64[n - 1] == '=')
		pad++;
	if (b64[n - 2] == '=')
		pad++;
	*len = (size_t) got - pad;
	return out;
}

/* The HTTP handler: POST bodies are collected, then answered; GETs at once. */
static enum MHD_Result
handle(void *cls, struct MHD_Connection *connection, const char *url,
	   const char *method, const char *version, const char *upload_data,
	   size_t *upload_data_size, void **con_cls)
{
	Upload	   *up = *con_cls;

	(void) cls;
	(void) version;
	if (strcmp(method, MHD_HTTP_METHOD_GET) == 0)
	{
		size_t		len = 0;
		unsigned char *req = decode_get(url, &len);
		enum MHD_Result ret = answer(connection, req, req ? len : 0);

		free(req);
		return ret;
	}
	if (strcmp(method, MHD_HTTP_METHOD_POST) != 0)
	{
		struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
		enum MHD_Result ret;

		if (r == NULL)
			return MHD_NO;
		MHD_add_response_header(r, "Allow", "GET, POST");
		ret = MHD_queue_response(connection, MHD_HTTP_METHOD_NOT_ALLOWED, r);
		MHD_destroy_response(r);
		return ret;
	}
	if (up == NULL)
	{
		up = calloc(1, sizeof(Upload));
		if (up == NULL)
			return MHD_NO;
		*con_cls = up;
		return MHD_YES;
	}
	if (*upload_data_size > 0)
	{
		if (!up->too_long)
		{
			if (up->len + *upload_data_size > MAX_REQUEST)
			{
				up->too_long = true;
				free(up->data);
				up->data = NULL;
				up->len = 0;
			}
			else
			{
				unsigned char *grown = realloc(up->data, up->len + *upload_data_size);

				if (grown == NULL)
					return MHD_NO;
				memcpy(grown + up->len, upload_data, *upload_data_size);
				up->data = grown;
				up->len += *upload_data_size;
			}
		}
		*upload_data_size = 0;
		return MHD_YES;
	}
	return answer(connection, up->data, up->too_long ? MAX_REQUEST + 1 : up->len);
}

/* Free a connection's upload state when its request is done. */
static void
request_done(void *cls, struct MHD_Connection *connection, void **con_cls,
			 enum MHD_RequestTerminationCode toe)
{
	Upload	   *up = *con_cls;

	(void) cls;
	(void) connection;
	(void) toe;
	if (up != NULL)
	{
		free(up->data);
		free(up);
		*con_cls = NULL;
	}
}

/* Invalidate every cached response (a status changed somewhere). */
static void
invalidate(void)
{
	atomic_fetch_add(&generation, 1);
}

/* The listening thread: LISTEN, and bump the generation on every NOTIFY. */
static void *
listen_loop(void *arg)
{
	(void) arg;
	while (!atomic_load(&stopping))
	{
		PGconn	   *conn = PQconnectdb(conninfo);
		PGresult   *res;

		if (PQstatus(conn) != CONNECTION_OK)
		{
			fprintf(stderr, "sealpg-ocspd: listener: %s", PQerrorMessage(conn));
			PQfinish(conn);
			sleep(1);
			continue;
		}
		res = PQexec(conn, "LISTEN sealpg_revocation; LISTEN sealpg_status");
		if (PQresultStatus(res) != PGRES_COMMAND_OK)
		{
			fprintf(stderr, "sealpg-ocspd: listener: %s", PQerrorMessage(conn));
			PQclear(res);
			PQfinish(conn);
			sleep(1);
			continue;
		}
		PQclear(res);
		/* whatever changed while nobody listened is unknown: start afresh */
		invalidate();
		atomic_store(&listening, true);
		while (!atomic_load(&stopping))
		{
			struct pollfd pfd = {.fd = PQsocket(conn),.events = POLLIN};
			PGnotify   *n;
			bool		any = false;

			if (poll(&pfd, 1, 1000) < 0 && errno != EINTR)
				break;
			if (!PQconsumeInput(conn))
				break;
			while ((n = PQnotifies(conn)) != NULL)
			{
				any = true;
				PQfreemem(n);
			}
			if (any)
				invalidate();
		}
		atomic_store(&listening, false);
		invalidate();
		fprintf(stderr, "sealpg-ocspd: listener lost its connection; not caching until it is back\n");
		PQfinish(conn);
	}
	return NULL;
}

/* Stop on SIGINT and SIGTERM. */
static void
on_signal(int sig)
{
	(void) sig;
	atomic_store(&stopping, true);
}

/* Print usage and exit. */
static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
			"usage: sealpg-ocspd [--listen ADDR] [--port N] [--db CONNINFO] [--connections N]\n"
			"                    [--threads N] [--cache-ttl SECONDS] [--cache-max N]\n"
			"Answers OCSP requests (POST, or GET /<base64>) with sealpg.ocsp_respond().\n"
			"--cache-ttl 0 turns the cache off.\n");
	exit(status);
}

/* Parse a bounded integer flag or exit. */
static int
int_arg(const char *name, const char *value, int min, int max)
{
	char	   *end;
	long		v = strtol(value, &end, 10);

	if (*value == '\0' || *end != '\0' || v < min || v > max)
	{
		fprintf(stderr, "sealpg-ocspd: --%s must be an integer from %d to %d\n", name, min, max);
		exit(2);
	}
	return (int) v;
}

/* Parse the flags, connect, serve until a signal. */
int
main(int argc, char **argv)
{
	static const struct option options[] = {
		{"listen", required_argument, NULL, 'l'},
		{"port", required_argument, NULL, 'p'},
		{"db", required_argument, NULL, 'd'},
		{"connections", required_argument, NULL, 'c'},
		{"threads", required_argument, NULL, 't'},
		{"cache-ttl", required_argument, NULL, 'T'},
		{"cache-max", required_argument, NULL, 'M'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	struct sockaddr_in addr;
	struct MHD_Daemon *daemon;
	pthread_t	listener;
	int			opt;
	int			i;

	while ((opt = getopt_long(argc, argv, "h", options, NULL)) != -1)
	{
		switch (opt)
		{
			case 'l':
				listen_addr = optarg;
				break;
			case 'p':
				listen_port = int_arg("port", optarg, 1, 65535);
				break;
			case 'd':
				conninfo = optarg;
				break;
			case 'c':
				n_connections = int_arg("connections", optarg, 1, 256);
				break;
			case 't':
				n_threads = int_arg("threads", optarg, 1, 256);
				break;
			case 'T':
				cache_ttl = int_arg("cache-ttl", optarg, 0, 86400);
				break;
			case 'M':
				cache_max = int_arg("cache-max", optarg, 1, 10000000);
				break;
			case 'h':
				usage(0);
				break;
			default:
				usage(2);
		}
	}
	if (optind != argc)
		usage(2);

	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t) listen_port);
	if (inet_pton(AF_INET, listen_addr, &addr.sin_addr) != 1)
	{
		fprintf(stderr, "sealpg-ocspd: --listen wants an IPv4 address, not \"%s\"\n", listen_addr);
		return 2;
	}

	pool = calloc((size_t) n_connections, sizeof(DbConn));
	if (pool == NULL)
		return 1;
	for (i = 0; i < n_connections; i++)
	{
		pthread_mutex_init(&pool[i].lock, NULL);
		pool[i].conn = PQconnectdb(conninfo);
		if (PQstatus(pool[i].conn) != CONNECTION_OK)
		{
			fprintf(stderr, "sealpg-ocspd: cannot connect: %s", PQerrorMessage(pool[i].conn));
			return 1;
		}
	}

	signal(SIGPIPE, SIG_IGN);
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	if (pthread_create(&listener, NULL, listen_loop, NULL) != 0)
	{
		fprintf(stderr, "sealpg-ocspd: cannot start the listener thread\n");
		return 1;
	}

	daemon = MHD_start_daemon(MHD_USE_EPOLL_INTERNAL_THREAD | MHD_USE_ERROR_LOG,
							  (uint16_t) listen_port, NULL, NULL, handle, NULL,
							  MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
							  MHD_OPTION_THREAD_POOL_SIZE, (unsigned int) n_threads,
							  MHD_OPTION_NOTIFY_COMPLETED, request_done, NULL,
							  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) 30,
							  MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) (64 * 1024),
							  MHD_OPTION_END);
	if (daemon == NULL)
	{
		fprintf(stderr, "sealpg-ocspd: cannot listen on %s:%d\n", listen_addr, listen_port);
		return 1;
	}
	fprintf(stderr, "sealpg-ocspd: listening on http://%s:%d/\n", listen_addr, listen_port);

	while (!atomic_load(&stopping))
		pause();

	MHD_stop_daemon(daemon);
	pthread_join(listener, NULL);
	for (i = 0; i < n_connections; i++)
		PQfinish(pool[i].conn);
	pthread_rwlock_wrlock(&cache_lock);
	cache_clear_locked();
	pthread_rwlock_unlock(&cache_lock);
	return 0;
}
