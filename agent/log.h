/*-------------------------------------------------------------------------
 *
 * log.h
 *	  Leveled logging of sealpg-agent: stderr in the foreground, syslog
 *	  when running as a daemon.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_LOG_H
#define SEALPG_LOG_H

#include <stdbool.h>

typedef enum LogLevel
{
	LOG_LEVEL_ERROR = 0,
	LOG_LEVEL_WARNING,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG
} LogLevel;

extern void log_setup(LogLevel level, bool use_syslog);
extern bool log_parse_level(const char *name, LogLevel *out);
extern void log_msg(LogLevel level, const char *fmt,...)
			__attribute__((format(printf, 2, 3)));

#define log_error(...)		log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
#define log_warning(...)	log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_info(...)		log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_debug(...)		log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif							/* SEALPG_LOG_H */
