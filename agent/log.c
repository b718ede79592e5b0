/*-------------------------------------------------------------------------
 *
 * log.c
 *	  Leveled logging of sealpg-agent.  Each message is written with one
 *	  call so that lines from concurrent connection threads do not mix.
 *
 *-------------------------------------------------------------------------
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

static LogLevel log_level = LOG_LEVEL_INFO;
static bool log_syslog = false;

static const char *const level_names[] = {"error", "warning", "info", "debug"};

/* Choose the threshold and the destination. */
void
log_setup(LogLevel level, bool use_syslog)
{
	log_level = level;
	log_syslog = use_syslog;
	if (use_syslog)
		openlog("sealpg-agent", LOG_PID, LOG_DAEMON);
}

/* Parse a level name; false when it is not one of ours. */
bool
log_parse_level(const char *name, LogLevel *out)
{
	for (int i = 0; i <= LOG_LEVEL_DEBUG; i++)
	{
		if (strcmp(name, level_names[i]) == 0)
		{
			*out = (LogLevel) i;
			return true;
		}
	}
	return false;
}

/* Write one message if its level passes the threshold. */
void
log_msg(LogLevel level, const char *fmt,...)
{
	char		text[1024];
	char		line[1200];
	va_list		ap;
	int			n;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);

	if (log_syslog)
	{
		static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};

		syslog(prio[level], "%s", text);
		return;
	}
	else
	{
		struct timespec ts;
		struct tm	tm;
		char		stamp[32];

		clock_gettime(CLOCK_REALTIME, &ts);
		gmtime_r(&ts.tv_sec, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%d %H:%M:%S", &tm);
		n = snprintf(line, sizeof(line), "%s.%03ld UTC sealpg-agent[%d] %s: %s\n",
					 stamp, ts.tv_nsec / 1000000, (int) getpid(),
					 level_names[level], text);
		if (n > (int) sizeof(line) - 1)
			n = (int) sizeof(line) - 1;
		if (write(STDERR_FILENO, line, (size_t) n) < 0)
			return;
	}
}
