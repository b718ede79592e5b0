/*-------------------------------------------------------------------------
 *
 * dblink.c
 *	  How USB presence events and smart-seal records reach the database:
 *	  an append-only spool file, and one thread that owns a libpq
 *	  connection (role sealpg_agent) and replays the spool in order.
 *
 * Nothing is lost while the database is unreachable.  Every event is
 * appended to the spool (one text line, fdatasync'd) before anything else
 * happens to it; the database thread sends lines in file order with
 * sealpg.device_event(...) and moves its offset past a line only once the
 * call has returned; when it has caught up the file is truncated.  A
 * restarted agent replays the spool from the start: device_event is
 * idempotent (the same host, serial, event and time are recorded once),
 * so a line sent just before a crash is harmless.  The spool is bounded
 * (--usb-spool-max); past it new events are refused and counted (USB_STATUS
 * reports them) rather than filling the disk.
 *
 * Smart-seal records are not spooled: they stay on the device until the
 * database has stored them, and only then are they acknowledged (ACK), so
 * the device itself is their spool.  A reading session needs the
 * database (the device's registered public key), so it runs in this
 * thread after the spool has been replayed, and is retried when the
 * database fails half-way.
 *
 * Lines: "at_us TAB kind TAB vid TAB pid TAB serial TAB event LF"; serials
 * are printable ASCII without backslash or space (usb.c), so no escaping
 * is needed.  The start-up scan is a line with event "scan" whose serial
 * field lists the serials found, separated by spaces; it is sent with
 * sealpg.device_scan(...), which records as gone whatever the database
 * believed plugged into this host but the scan did not find.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "log.h"
#include "smartseal.h"
#include "usb.h"

#define MAX_SESSIONS		32
#define BACKOFF_MIN_MS		500
#define BACKOFF_MAX_MS		30000
#define SESSION_RETRY_US	INT64_C(5000000)
#define LINE_MAX_LEN		(USB_MAX_DEVICES * (USB_MAX_SERIAL + 1) + 128)

/* A smart seal waiting to be read. */
typedef struct SessionJob
{
	bool		used;
	uint8_t		bus;
	uint8_t		address;
	char		serial[USB_MAX_SERIAL + 1];
	int64_t		due_us;
} SessionJob;

static const UsbConfig *config;
static bool dblink_running;
static atomic_bool db_stopping;
static pthread_t db_thread;

static pthread_mutex_t db_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t db_cond = PTHREAD_COND_INITIALIZER;
static bool db_wake;
static int	spool_fd = -1;
static off_t spool_sent;		/* first byte not yet accepted by the database */
static DbLinkStatus status;
static SessionJob sessions[MAX_SESSIONS];

/* Remember the latest database error for USB_STATUS (caller holds no lock). */
static void
set_error(const char *msg)
{
	char		clean[sizeof(status.last_error)];
	size_t		n = strlen(msg);

	if (n >= sizeof(clean))
		n = sizeof(clean) - 1;
	for (size_t i = 0; i < n; i++)
		clean[i] = (msg[i] == '\n' || msg[i] == '\r') ? ' ' : msg[i];
	clean[n] = '\0';
	pthread_mutex_lock(&db_lock);
	strcpy(status.last_error, clean);
	pthread_mutex_unlock(&db_lock);
}

/* Wake the database thread. */
static void
wake_db(void)
{
	pthread_mutex_lock(&db_lock);
	db_wake = true;
	pthread_cond_signal(&db_cond);
	pthread_mutex_unlock(&db_lock);
}

/* Count complete lines after the sent offset (called at start-up). */
static uint32_t
count_lines(int fd)
{
	char		buf[8192];
	off_t		off = 0;
	ssize_t		n;
	uint32_t	lines = 0;
	char		last = '\n';

	while ((n = pread(fd, buf, sizeof(buf), off)) > 0)
	{
		for (ssize_t i = 0; i < n; i++)
			if (buf[i] == '\n')
				lines++;
		last = buf[n - 1];
		off += n;
	}
	if (last != '\n' && write(fd, "\n", 1) == 1)	/* end a line cut by a crash */
		lines++;
	return lines;
}

/* Append one event to the spool (or just log it without --db). */
void
dblink_event(UsbKind kind, uint16_t vid, uint16_t pid, const char *serial, const char *event,
			 int64_t at_us)
{
	char	   *line;
	int			n;
	struct stat st;

	if (!dblink_running)
		return;
	line = malloc(LINE_MAX_LEN);
	if (line == NULL)
	{
		log_error("usb: out of memory; %s of %04x:%04x not spooled", event, vid, pid);
		return;
	}
	n = snprintf(line, LINE_MAX_LEN, "%" PRId64 "\t%s\t%u\t%u\t%s\t%s\n", at_us,
				 usb_kind_name(kind), vid, pid, serial, event);
	if (n < 0 || n >= LINE_MAX_LEN)
	{
		free(line);
		log_error("usb: event line too long; %s of %04x:%04x not spooled", event, vid, pid);
		return;
	}
	pthread_mutex_lock(&db_lock);
	if (fstat(spool_fd, &st) == 0 && st.st_size + n > config->spool_max_bytes)
	{
		status.dropped++;
		pthread_mutex_unlock(&db_lock);
		free(line);
		log_error("usb: spool %s is full (%ld bytes); %s of %04x:%04x serial \"%s\" dropped",
				  config->spool_path, config->spool_max_bytes, event, vid, pid, serial);
		return;
	}
	if (write(spool_fd, line, (size_t) n) != n || fdatasync(spool_fd) != 0)
	{
		status.dropped++;
		pthread_mutex_unlock(&db_lock);
		free(line);
		log_error("usb: cannot write the spool %s: %s", config->spool_path, strerror(errno));
		return;
	}
	status.spooled++;
	db_wake = true;
	pthread_cond_signal(&db_cond);
	pthread_mutex_unlock(&db_lock);
	free(line);
}

/* Spool the start-up scan: the serials of this kind found plugged in. */
void
dblink_scan(UsbKind kind, const char *serials, int64_t at_us)
{
	dblink_event(kind, 0, 0, serials, "scan", at_us);
}

/* Queue a reading session for a smart seal (replaces one for the same device). */
void
dblink_read_smartseal(uint8_t bus, uint8_t address, const char *serial)
{
	int			free_slot = -1;

	if (!dblink_running)
		return;
	pthread_mutex_lock(&db_lock);
	for (int i = 0; i < MAX_SESSIONS; i++)
	{
		if (sessions[i].used && sessions[i].bus == bus && sessions[i].address == address)
		{
			free_slot = i;
			break;
		}
		if (!sessions[i].used && free_slot < 0)
			free_slot = i;
	}
	if (free_slot >= 0)
	{
		SessionJob *j = &sessions[free_slot];

		j->used = true;
		j->bus = bus;
		j->address = address;
		snprintf(j->serial, sizeof(j->serial), "%s", serial);
		j->due_us = 0;
		db_wake = true;
		pthread_cond_signal(&db_cond);
	}
	pthread_mutex_unlock(&db_lock);
	if (free_slot < 0)
		log_warning("usb: too many smart seals waiting; serial \"%s\" is read at the next poll", serial);
}

/* A copy of the link's counters. */
void
dblink_status(DbLinkStatus *out)
{
	pthread_mutex_lock(&db_lock);
	*out = status;
	pthread_mutex_unlock(&db_lock);
}

/* Format microseconds since the epoch as an ISO timestamp in UTC. */
static void
format_time(int64_t at_us, char *buf, size_t len)
{
	time_t		secs = (time_t) (at_us / 1000000);
	long		frac = (long) (at_us % 1000000);
	struct tm	tm;
	char		date[24];

	if (frac < 0)
	{
		frac += 1000000;
		secs--;
	}
	gmtime_r(&secs, &tm);
	strftime(date, sizeof(date), "%Y-%m-%d %H:%M:%S", &tm);
	snprintf(buf, len, "%.19s.%06ld+00", date, frac);
}

/* Outcome of one database call. */
typedef enum CallResult
{
	CALL_OK,
	CALL_SKIP,					/* the database refused this input for good */
	CALL_RETRY					/* connection lost or a transient refusal */
} CallResult;

/* Run a query with text parameters; classify its outcome. */
static CallResult
db_call(PGconn *conn, const char *sql, int nparams, const char *const *values, PGresult **out)
{
	PGresult   *res = PQexecParams(conn, sql, nparams, NULL, values, NULL, NULL, 0);
	const char *state;

	if (res != NULL && PQresultStatus(res) == PGRES_TUPLES_OK)
	{
		if (out)
			*out = res;
		else
			PQclear(res);
		return CALL_OK;
	}
	state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	set_error(res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	log_warning("usb: database: %s", res ? PQresultErrorMessage(res) : PQerrorMessage(conn));
	PQclear(res);
	if (PQstatus(conn) != CONNECTION_OK)
		return CALL_RETRY;
	/* data errors (22) and constraint violations (23) will never pass */
	if (state != NULL && (strncmp(state, "22", 2) == 0 || strncmp(state, "23", 2) == 0))
		return CALL_SKIP;
	return CALL_RETRY;
}

/* Send one spool line; a malformed line is skipped. */
static CallResult
send_line(PGconn *conn, char *line)
{
	char	   *field[6];
	char		at[40];
	char	   *p = line;
	char	   *end;
	int64_t		at_us;
	const char *values[7];

	for (int i = 0; i < 6; i++)
	{
		field[i] = p;
		p = strchr(p, i < 5 ? '\t' : '\0');
		if (p == NULL)
			return CALL_SKIP;
		if (i < 5)
			*p++ = '\0';
	}
	errno = 0;
	at_us = strtoll(field[0], &end, 10);
	if (errno != 0 || *end != '\0' || end == field[0])
		return CALL_SKIP;
	format_time(at_us, at, sizeof(at));
	values[0] = config->host_name;
	if (strcmp(field[5], "scan") == 0)
	{
		values[1] = field[1];
		values[2] = field[4];
		values[3] = at;
		return db_call(conn, "SELECT sealpg.device_scan($1, $2, "
					   "coalesce(pg_catalog.string_to_array(nullif($3, ''), ' '), '{}'), $4::timestamptz)",
					   4, values, NULL);
	}
	values[1] = field[1];
	values[2] = field[2];
	values[3] = field[3];
	values[4] = field[4][0] ? field[4] : NULL;
	values[5] = field[5];
	values[6] = at;
	return db_call(conn, "SELECT sealpg.device_event($1, $2, $3::integer, $4::integer, $5, $6, $7::timestamptz)",
				   7, values, NULL);
}

/* Replay the spool in order; false when the connection must be renewed. */
static bool
drain_spool(PGconn *conn)
{
	static char buf[LINE_MAX_LEN + 1];	/* the database thread's alone */
	struct stat st;

	for (;;)
	{
		ssize_t		n;
		off_t		off;
		char	   *nl;
		size_t		len;

		if (atomic_load(&db_stopping))
			return true;
		pthread_mutex_lock(&db_lock);
		off = spool_sent;
		n = pread(spool_fd, buf, sizeof(buf) - 1, off);
		pthread_mutex_unlock(&db_lock);
		if (n <= 0)
			break;
		buf[n] = '\0';
		nl = memchr(buf, '\n', (size_t) n);
		if (nl == NULL)
		{
			if ((size_t) n < sizeof(buf) - 1)
				break;			/* a line being written: next round */
			nl = buf + n - 1;	/* an over-long line: skip it whole */
			*nl = '\0';
			log_error("usb: skipping an over-long spool line");
		}
		else
		{
			CallResult	rc;

			*nl = '\0';
			rc = send_line(conn, buf);
			if (rc == CALL_RETRY)
				return false;
			if (rc == CALL_SKIP)
				log_error("usb: spool line refused for good and skipped: %s", buf);
		}
		len = (size_t) (nl - buf) + 1;
		pthread_mutex_lock(&db_lock);
		spool_sent += (off_t) len;
		if (status.spooled > 0)
			status.spooled--;
		status.sent++;
		pthread_mutex_unlock(&db_lock);
	}
	pthread_mutex_lock(&db_lock);
	if (fstat(spool_fd, &st) == 0 && st.st_size <= spool_sent)
	{
		if (ftruncate(spool_fd, 0) == 0)
		{
			spool_sent = 0;
			status.spooled = 0;
		}
		else
			log_warning("usb: cannot truncate the spool: %s", strerror(errno));
	}
	pthread_mutex_unlock(&db_lock);
	return true;
}

/* What a record submission needs. */
typedef struct SubmitCtx
{
	PGconn	   *conn;
	const char *serial;
	bool		db_failed;
} SubmitCtx;

/* Hex of a byte string as a bytea literal ("\x..."). */
static void
to_bytea_hex(const uint8_t *p, size_t n, char *out, size_t cap)
{
	static const char hex[] = "0123456789abcdef";
	size_t		o = 0;

	if (cap < 3 + 2 * n)
	{
		out[0] = '\0';
		return;
	}
	out[o++] = '\\';
	out[o++] = 'x';
	for (size_t i = 0; i < n; i++)
	{
		out[o++] = hex[p[i] >> 4];
		out[o++] = hex[p[i] & 15];
	}
	out[o] = '\0';
}

/* SspSubmitFn: store one record with sealpg.device_record(...). */
static bool
submit_record(void *arg, const SspRecord *rec, bool verified)
{
	SubmitCtx  *ctx = arg;
	char		seq[24], at[40], lat[24], lon[24], acc[16], force[16];
	char		raw[3 + 2 * SSP_MAX_RECORD], sig[3 + 2 * SSP_SIG_LEN + 2];
	const char *values[12];
	CallResult	rc;

	snprintf(seq, sizeof(seq), "%" PRIu64, rec->seq);
	format_time(rec->time_us, at, sizeof(at));
	snprintf(lat, sizeof(lat), "%.7f", rec->lat_e7 / 1e7);
	snprintf(lon, sizeof(lon), "%.7f", rec->lon_e7 / 1e7);
	snprintf(acc, sizeof(acc), "%u", rec->accuracy_m);
	snprintf(force, sizeof(force), "%.1f", rec->force_dn / 10.0);
	to_bytea_hex(rec->signed_data, rec->signed_len, raw, sizeof(raw));
	to_bytea_hex(rec->signature, rec->signature_len <= SSP_SIG_LEN + 1 ? rec->signature_len : 0,
				 sig, sizeof(sig));
	values[0] = config->host_name;
	values[1] = ctx->serial;
	values[2] = seq;
	values[3] = at;
	values[4] = rec->lat_e7 == SSP_NO_COORD ? NULL : lat;
	values[5] = rec->lon_e7 == SSP_NO_COORD ? NULL : lon;
	values[6] = rec->accuracy_m == SSP_NO_U16 ? NULL : acc;
	values[7] = rec->force_dn == SSP_NO_U16 ? NULL : force;
	values[8] = rec->operator_id[0] ? rec->operator_id : NULL;
	values[9] = raw;
	values[10] = sig;
	values[11] = verified ? "true" : "false";
	rc = db_call(ctx->conn,
				 "SELECT sealpg.device_record($1, $2, $3::bigint, $4::timestamptz, $5::float8, "
				 "$6::float8, $7::real, $8::real, $9, $10::bytea, $11::bytea, $12::boolean)",
				 12, values, NULL);
	if (rc != CALL_OK)
	{
		ctx->db_failed = true;
		return false;
	}
	pthread_mutex_lock(&db_lock);
	if (verified)
		status.records++;
	else
		status.refused++;
	pthread_mutex_unlock(&db_lock);
	if (!verified)
		log_warning("usb: smart seal \"%s\" record %" PRIu64 " has a bad signature: refused, kept as evidence",
					ctx->serial, rec->seq);
	return true;
}

/* Kind, vid and pid of a present device, for events about it. */
static bool
find_present(uint8_t bus, uint8_t address, UsbPresent *out)
{
	UsbPresent	devs[USB_MAX_DEVICES];
	size_t		n = usb_snapshot(devs, USB_MAX_DEVICES);

	for (size_t i = 0; i < n; i++)
		if (devs[i].bus == bus && devs[i].address == address)
		{
			*out = devs[i];
			return true;
		}
	return false;
}

/* Read one smart seal; false when the database failed (retry later). */
static bool
run_session(PGconn *conn, const SessionJob *job)
{
	const char *values[2] = {config->host_name, job->serial};
	PGresult   *res = NULL;
	unsigned char *key = NULL;
	size_t		key_len = 0;
	char		err[200];
	UsbLink    *link;
	SspSession	s;
	SubmitCtx	ctx = {conn, job->serial, false};
	UsbPresent	p;
	bool		ok;

	if (!find_present(job->bus, job->address, &p))
		return true;			/* gone meanwhile: its departure is spooled */
	if (db_call(conn, "SELECT sealpg.device_public_key($1, $2)", 2, values, &res) != CALL_OK)
		return false;
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		key = PQunescapeBytea((const unsigned char *) PQgetvalue(res, 0, 0), &key_len);
	PQclear(res);
	link = usb_link_open(job->bus, job->address, err, sizeof(err));
	if (link == NULL)
	{
		PQfreemem(key);
		log_warning("usb: smart seal \"%s\": %s", job->serial, err);
		return true;
	}
	memset(&s, 0, sizeof(s));
	s.exchange = usb_link_exchange;
	s.exchange_ctx = link;
	if (key == NULL)
	{
		/* not bound: say what an administrator needs to bind it */
		s.expected_serial = job->serial;
		if (ssp_read_info(&s))
		{
			char		hex[2 * SSP_PUBKEY_LEN + 1];

			for (int i = 0; i < SSP_PUBKEY_LEN; i++)
				snprintf(hex + 2 * i, 3, "%02x", s.info.public_key[i]);
			log_info("usb: smart seal \"%s\" (%s, firmware %s) is not bound; its records stay on the "
					 "device.  Its public key: %s", job->serial, s.info.model, s.info.firmware, hex);
		}
		else
			log_warning("usb: smart seal \"%s\" is not bound and does not answer GET_INFO: %s",
						job->serial, s.error);
		usb_link_close(link);
		return true;
	}
	s.submit = submit_record;
	s.submit_ctx = &ctx;
	s.expected_serial = job->serial;
	s.public_key = key;
	s.public_key_len = key_len;
	ok = ssp_session_run(&s);
	usb_link_close(link);
	PQfreemem(key);
	if (ok)
	{
		log_info("usb: smart seal \"%s\": %d record(s) stored, %d refused%s%s", job->serial,
				 s.stored, s.refused, s.error[0] ? "; " : "", s.error);
		return true;
	}
	log_warning("usb: smart seal \"%s\": session stopped after %d stored, %d refused: %s",
				job->serial, s.stored, s.refused, s.error);
	if (ctx.db_failed)
		return false;
	dblink_event(p.kind, p.vid, p.pid, job->serial, "protocol_error", usb_now_us());
	return true;
}

/* Run the sessions that are due; false when the connection must be renewed. */
static bool
run_due_sessions(PGconn *conn)
{
	for (int i = 0; i < MAX_SESSIONS && !atomic_load(&db_stopping); i++)
	{
		SessionJob	job;

		pthread_mutex_lock(&db_lock);
		job = sessions[i];
		if (job.used && job.due_us <= usb_now_us())
			sessions[i].used = false;
		pthread_mutex_unlock(&db_lock);
		if (!job.used || job.due_us > usb_now_us())
			continue;
		if (!run_session(conn, &job))
		{
			/* the database failed: put it back, a little later */
			pthread_mutex_lock(&db_lock);
			if (!sessions[i].used)
			{
				sessions[i] = job;
				sessions[i].due_us = usb_now_us() + SESSION_RETRY_US;
			}
			pthread_mutex_unlock(&db_lock);
			if (PQstatus(conn) != CONNECTION_OK)
				return false;
		}
	}
	return true;
}

/* Queue a session for every smart seal present (the periodic poll). */
static void
poll_smartseals(void)
{
	UsbPresent	devs[USB_MAX_DEVICES];
	size_t		n = usb_snapshot(devs, USB_MAX_DEVICES);

	for (size_t i = 0; i < n; i++)
		if (devs[i].kind == USB_KIND_SMARTSEAL)
			dblink_read_smartseal(devs[i].bus, devs[i].address, devs[i].serial);
}

/* Connect and become sealpg_agent; NULL (error recorded) on failure. */
static PGconn *
db_connect(void)
{
	static const char *const keys[] = {"dbname", "fallback_application_name", "connect_timeout", NULL};
	const char *values[] = {config->db_conninfo, "sealpg-agent", "10", NULL};
	PGconn	   *conn = PQconnectdbParams(keys, values, 1);
	PGresult   *res;

	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
	{
		set_error(conn ? PQerrorMessage(conn) : "out of memory");
		PQfinish(conn);
		return NULL;
	}
	res = PQexec(conn, "SET ROLE sealpg_agent");
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
	{
		set_error(PQresultErrorMessage(res));
		log_error("usb: the database login cannot act as sealpg_agent: %s", PQresultErrorMessage(res));
		PQclear(res);
		PQfinish(conn);
		return NULL;
	}
	PQclear(res);
	return conn;
}

/* The database thread: connect, replay, read smart seals, wait, repeat. */
static void *
db_main(void *arg)
{
	PGconn	   *conn = NULL;
	int			backoff_ms = BACKOFF_MIN_MS;
	int64_t		next_poll_us = 0;
	int64_t		next_connect_us = 0;

	(void) arg;
	while (!atomic_load(&db_stopping))
	{
		struct timespec until;
		int			wait_ms = 1000;

		if (conn == NULL && usb_now_us() < next_connect_us)
		{
			/* woken by an event while backing off: it waits in the spool */
			int64_t		left_ms = (next_connect_us - usb_now_us()) / 1000;

			wait_ms = left_ms < 1 ? 1 : (int) left_ms;
		}
		else if (conn == NULL)
		{
			conn = db_connect();
			pthread_mutex_lock(&db_lock);
			status.connected = conn != NULL;
			pthread_mutex_unlock(&db_lock);
			if (conn == NULL)
			{
				log_warning("usb: database unreachable (%s); events wait in %s, retry in %d ms",
							status.last_error, config->spool_path, backoff_ms);
				wait_ms = backoff_ms;
				next_connect_us = usb_now_us() + (int64_t) backoff_ms * 1000;
				backoff_ms = backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : backoff_ms * 2;
			}
			else
			{
				log_info("usb: connected to the database as sealpg_agent");
				backoff_ms = BACKOFF_MIN_MS;
			}
		}
		if (conn != NULL)
		{
			if (config->poll_seconds > 0 && usb_now_us() >= next_poll_us)
			{
				poll_smartseals();
				next_poll_us = usb_now_us() + (int64_t) config->poll_seconds * 1000000;
			}
			if (!drain_spool(conn) || !run_due_sessions(conn) || !drain_spool(conn))
			{
				log_warning("usb: lost the database; reconnecting");
				PQfinish(conn);
				conn = NULL;
				pthread_mutex_lock(&db_lock);
				status.connected = false;
				pthread_mutex_unlock(&db_lock);
				continue;
			}
		}
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_sec += wait_ms / 1000;
		until.tv_nsec += (long) (wait_ms % 1000) * 1000000;
		if (until.tv_nsec >= 1000000000)
		{
			until.tv_sec++;
			until.tv_nsec -= 1000000000;
		}
		pthread_mutex_lock(&db_lock);
		while (!db_wake && !atomic_load(&db_stopping))
			if (pthread_cond_timedwait(&db_cond, &db_lock, &until) == ETIMEDOUT)
				break;
		db_wake = false;
		pthread_mutex_unlock(&db_lock);
	}
	PQfinish(conn);
	return NULL;
}

/* Open the spool and start the database thread (nothing without --db). */
bool
dblink_start(const UsbConfig *cfg)
{
	config = cfg;
	if (cfg->db_conninfo == NULL)
	{
		log_warning("usb: no --db: presence events are logged only, smart seals are not read");
		return true;
	}
	spool_fd = open(cfg->spool_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (spool_fd < 0)
	{
		log_error("usb: cannot open the spool %s: %s", cfg->spool_path, strerror(errno));
		return false;
	}
	status.spooled = count_lines(spool_fd);
	spool_sent = 0;
	if (status.spooled > 0)
		log_info("usb: %u event(s) from an earlier run wait in %s", status.spooled, cfg->spool_path);
	atomic_store(&db_stopping, false);
	db_wake = true;
	if (pthread_create(&db_thread, NULL, db_main, NULL) != 0)
	{
		log_error("usb: cannot start the database thread");
		close(spool_fd);
		spool_fd = -1;
		return false;
	}
	dblink_running = true;
	return true;
}

/* Stop the database thread (what is not sent stays in the spool). */
void
dblink_stop(void)
{
	if (!dblink_running)
		return;
	atomic_store(&db_stopping, true);
	wake_db();
	pthread_join(db_thread, NULL);
	dblink_running = false;
	if (status.spooled > 0)
		log_info("usb: %u event(s) left in %s for the next run", status.spooled, config->spool_path);
	close(spool_fd);
	spool_fd = -1;
}
