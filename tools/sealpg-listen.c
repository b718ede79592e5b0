/*-------------------------------------------------------------------------
 *
 * sealpg-listen.c
 *	  Print sealpg's notifications as JSON lines, from one or more
 *	  databases.
 *
 *	  sealpg-listen [--count N] [--timeout S] [--timestamps] [--channel C]... [CONNINFO]...
 *
 * LISTENs on sealpg_alert, sealpg_revocation and sealpg_status (or the
 * channels named with --channel) on every connection string given (the
 * PG* environment when none is), and prints one line per notification:
 * the payload's JSON object with "channel" added first (a payload that is
 * not an object is printed as {"channel": ..., "payload": "..."}).  A lost
 * connection is retried with exponential backoff (0.5 s up to 30 s)
 * while the others go on.  SIGTERM or SIGINT ends it cleanly (exit 0);
 * --count N exits 0 after N notifications; --timeout S exits (1 if a
 * --count was not reached, else 0) after S seconds.  "listening" is
 * written to stderr each time a connection is ready.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>

#include <libpq-fe.h>

#define MAX_CONNECTIONS	16
#define MAX_CHANNELS	8
#define BACKOFF_MIN		0.5
#define BACKOFF_MAX		30.0

typedef struct Listener
{
	const char *conninfo;
	PGconn	   *conn;
	double		retry_at;		/* when to try again, if conn is NULL */
	double		backoff;
} Listener;

static volatile sig_atomic_t stop_requested = 0;
static const char *channels[MAX_CHANNELS];
static int	nchannels = 0;
static int	with_timestamps = 0;

/* Remember that a signal asked us to stop. */
static void
on_signal(int signo)
{
	(void) signo;
	stop_requested = 1;
}

/* Seconds since an arbitrary start, monotonic. */
static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Is the name a plain lowercase identifier (safe to LISTEN unquoted)? */
static int
valid_channel(const char *name)
{
	const char *p;

	if (name[0] == '\0' || strlen(name) > 63)
		return 0;
	for (p = name; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return name[0] < '0' || name[0] > '9';
}

/* Print a string as a JSON string. */
static void
print_json_string(const char *s)
{
	putchar('"');
	for (; *s; s++)
	{
		unsigned char c = (unsigned char) *s;

		if (c == '"' || c == '\\')
			printf("\\%c", c);
		else if (c == '\n')
			fputs("\\n", stdout);
		else if (c == '\r')
			fputs("\\r", stdout);
		else if (c == '\t')
			fputs("\\t", stdout);
		else if (c < 0x20)
			printf("\\u%04x", c);
		else
			putchar(c);
	}
	putchar('"');
}

/* Print one notification as one JSON line. */
static void
print_notification(const PGnotify *n)
{
	const char *p = n->extra ? n->extra : "";
	size_t		len = strlen(p);

	while (*p == ' ')
		p++;
	len = strlen(p);
	while (len > 0 && p[len - 1] == ' ')
		len--;
	fputs("{\"channel\":", stdout);
	print_json_string(n->relname);
	if (with_timestamps)
	{
		struct timespec ts;

		clock_gettime(CLOCK_REALTIME, &ts);
		printf(",\"received_epoch\":%lld.%06ld", (long long) ts.tv_sec, ts.tv_nsec / 1000);
	}
	if (len >= 2 && p[0] == '{' && p[len - 1] == '}')
	{
		const char *body = p + 1;

		while (*body == ' ')
			body++;
		if (*body != '}')
			putchar(',');
		fwrite(body, 1, len - (body - p), stdout);
	}
	else
	{
		fputs(",\"payload\":", stdout);
		print_json_string(n->extra ? n->extra : "");
		putchar('}');
	}
	putchar('\n');
	fflush(stdout);
}

/* Connect one listener and LISTEN; on failure schedule a retry. */
static void
connect_listener(Listener *l)
{
	int			i;

	l->conn = PQconnectdb(l->conninfo);
	if (PQstatus(l->conn) == CONNECTION_OK)
	{
		for (i = 0; i < nchannels; i++)
		{
			char		sql[100];
			PGresult   *res;

			snprintf(sql, sizeof(sql), "LISTEN %s", channels[i]);
			res = PQexec(l->conn, sql);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
			{
				fprintf(stderr, "sealpg-listen: LISTEN %s failed: %s", channels[i],
						PQerrorMessage(l->conn));
				PQclear(res);
				goto failed;
			}
			PQclear(res);
		}
		l->backoff = BACKOFF_MIN;
		fprintf(stderr, "sealpg-listen: listening (%s)\n", PQdb(l->conn));
		return;
	}
	fprintf(stderr, "sealpg-listen: cannot connect: %s", PQerrorMessage(l->conn));
failed:
	PQfinish(l->conn);
	l->conn = NULL;
	l->retry_at = now_s() + l->backoff;
	l->backoff = l->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : l->backoff * 2;
}

/* Drop a broken connection; it is retried with backoff. */
static void
lose_listener(Listener *l)
{
	fprintf(stderr, "sealpg-listen: connection lost: %s", PQerrorMessage(l->conn));
	PQfinish(l->conn);
	l->conn = NULL;
	l->retry_at = now_s() + l->backoff;
	l->backoff = l->backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : l->backoff * 2;
}

/* Explain the command line and exit. */
static void
usage(int status)
{
	fprintf(status ? stderr : stdout,
			"usage: sealpg-listen [--count N] [--timeout SECONDS] [--timestamps] [--channel NAME]... [CONNINFO]...\n"
			"Prints sealpg's notifications (sealpg_alert, sealpg_revocation, sealpg_status)\n"
			"as JSON lines; without CONNINFO the PG* environment variables are used.\n");
	exit(status);
}

/* Parse the options, then listen until stopped, counted or timed out. */
int
main(int argc, char **argv)
{
	Listener	listeners[MAX_CONNECTIONS];
	int			nlisteners = 0;
	long		count = -1,
				received = 0;
	double		timeout = -1,
				deadline = 0;
	int			i,
				status = 0;
	struct sigaction sa;

	for (i = 1; i < argc; i++)
	{
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
			usage(0);
		else if (strcmp(argv[i], "--timestamps") == 0)
			with_timestamps = 1;
		else if (strcmp(argv[i], "--count") == 0 && i + 1 < argc)
		{
			char	   *end;

			count = strtol(argv[++i], &end, 10);
			if (*end != '\0' || count < 1)
				usage(2);
		}
		else if (strcmp(argv[i], "--timeout") == 0 && i + 1 < argc)
		{
			char	   *end;

			timeout = strtod(argv[++i], &end);
			if (*end != '\0' || timeout <= 0)
				usage(2);
		}
		else if (strcmp(argv[i], "--channel") == 0 && i + 1 < argc)
		{
			if (nchannels == MAX_CHANNELS || !valid_channel(argv[i + 1]))
			{
				fprintf(stderr, "sealpg-listen: bad channel \"%s\"\n", argv[i + 1]);
				return 2;
			}
			channels[nchannels++] = argv[++i];
		}
		else if (strncmp(argv[i], "--", 2) == 0)
			usage(2);
		else
		{
			if (nlisteners == MAX_CONNECTIONS)
			{
				fprintf(stderr, "sealpg-listen: at most %d connection strings\n", MAX_CONNECTIONS);
				return 2;
			}
			listeners[nlisteners].conninfo = argv[i];
			nlisteners++;
		}
	}
	if (nchannels == 0)
	{
		channels[nchannels++] = "sealpg_alert";
		channels[nchannels++] = "sealpg_revocation";
		channels[nchannels++] = "sealpg_status";
	}
	if (nlisteners == 0)
		listeners[nlisteners++].conninfo = "";

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	if (timeout > 0)
		deadline = now_s() + timeout;
	for (i = 0; i < nlisteners; i++)
	{
		listeners[i].conn = NULL;
		listeners[i].backoff = BACKOFF_MIN;
		connect_listener(&listeners[i]);
	}

	while (!stop_requested && (count < 0 || received < count))
	{
		fd_set		fds;
		int			maxfd = -1;
		double		wait = 1.0,
					t = now_s();
		struct timeval tv;

		if (timeout > 0 && t >= deadline)
		{
			status = count > 0 ? 1 : 0;
			break;
		}
		FD_ZERO(&fds);
		for (i = 0; i < nlisteners; i++)
		{
			Listener   *l = &listeners[i];

			if (l->conn == NULL)
			{
				if (t >= l->retry_at)
					connect_listener(l);
				if (l->conn == NULL)
				{
					if (l->retry_at - t < wait)
						wait = l->retry_at - t;
					continue;
				}
			}
			FD_SET(PQsocket(l->conn), &fds);
			if (PQsocket(l->conn) > maxfd)
				maxfd = PQsocket(l->conn);
		}
		if (timeout > 0 && deadline - t < wait)
			wait = deadline - t;
		if (wait < 0)
			wait = 0;
		tv.tv_sec = (long) wait;
		tv.tv_usec = (long) ((wait - (long) wait) * 1e6);
		if (select(maxfd + 1, &fds, NULL, NULL, &tv) < 0)
		{
			if (errno == EINTR)
				continue;
			perror("sealpg-listen: select");
			status = 1;
			break;
		}
		for (i = 0; i < nlisteners; i++)
		{
			Listener   *l = &listeners[i];
			PGnotify   *n;

			if (l->conn == NULL || !FD_ISSET(PQsocket(l->conn), &fds))
				continue;
			if (!PQconsumeInput(l->conn) || PQstatus(l->conn) != CONNECTION_OK)
			{
				lose_listener(l);
				continue;
			}
			while ((n = PQnotifies(l->conn)) != NULL)
			{
				if (count < 0 || received < count)
				{
					print_notification(n);
					received++;
				}
				PQfreemem(n);
			}
		}
	}
	for (i = 0; i < nlisteners; i++)
		if (listeners[i].conn != NULL)
			PQfinish(listeners[i].conn);
	return status;
}
