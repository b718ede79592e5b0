/*-------------------------------------------------------------------------
 *
 * main.c
 *	  sealpg-agent: command-line flags, the config file, daemonising,
 *	  signals and the start/stop order.
 *
 * Start order: settings, PIN file (refused if group/other may read it),
 * signals blocked and routed to a signalfd, socket bound, then (unless
 * --foreground) the double fork, the pid file, and only then the PKCS#11
 * module, because module state does not survive fork().  Stop order is
 * the reverse: socket closed and unlinked, connection threads ended,
 * C_Finalize, pid file removed, PINs wiped.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent.h"

#define DEFAULT_SOCKET		"/run/sealpg/agent.sock"
#define DEFAULT_MODULE		"/usr/lib/softhsm/libsofthsm2.so"

/* Print usage to f. */
static void
usage(FILE *f)
{
	fprintf(f,
			"Usage: sealpg-agent [options]\n"
			"  --config FILE        read \"key = value\" settings (same names, '_' for '-')\n"
			"  --socket PATH        listening socket (default " DEFAULT_SOCKET ")\n"
			"  --module PATH        PKCS#11 module (default " DEFAULT_MODULE ")\n"
			"  --pin-file PATH      TOKENLABEL:PIN lines; must be mode 0600 or stricter\n"
			"  --allow-uid UID|NAME peer allowed to connect (repeatable; default: postgres)\n"
			"  --foreground         stay in the foreground, log to stderr\n"
			"  --log-level LEVEL    error, warning, info (default) or debug\n"
			"  --pid-file PATH      write the daemon's pid there\n"
			"  --io-timeout MS      time allowed to complete a started frame (default 10000)\n"
			"  --max-clients N      concurrent connections (default 256)\n"
			"  --usb-device VID:PID:KIND  watch this USB device; KIND is chip or smartseal (repeatable)\n"
			"  --db CONNSTR         database for presence events and smart-seal records (role sealpg_agent)\n"
			"  --host-name NAME     this host's name in device events (default: the host name)\n"
			"  --usb-spool PATH     event spool while the database is away (default: beside the socket)\n"
			"  --usb-spool-max N    spool size limit in bytes (default 64 MiB)\n"
			"  --smartseal-poll SEC read smart seals every SEC seconds; 0: at arrival only (default 30)\n"
			"  --help               this text\n");
}

/* Parse a uid given as a number or a user name; false if neither. */
static bool
parse_uid(const char *s, uid_t *out)
{
	char	   *end;
	long		v;
	struct passwd *pw;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s != '\0' && *end == '\0' && errno == 0 && v >= 0 && v < INT_MAX)
	{
		*out = (uid_t) v;
		return true;
	}
	pw = getpwnam(s);
	if (pw == NULL)
		return false;
	*out = pw->pw_uid;
	return true;
}

/* Parse a positive integer bounded by max. */
static bool
parse_int(const char *s, int min, int max, int *out)
{
	char	   *end;
	long		v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (*s == '\0' || *end != '\0' || errno != 0 || v < min || v > max)
		return false;
	*out = (int) v;
	return true;
}

/* Replace a string setting. */
static void
set_string(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	if (*dst == NULL)
	{
		fprintf(stderr, "sealpg-agent: out of memory\n");
		exit(1);
	}
}

/* Apply one setting by name (config keys use '_' or '-'); false if invalid. */
static bool
apply_setting(AgentConfig *cfg, const char *key, const char *value, const char *where)
{
	char		name[64];
	size_t		i;

	for (i = 0; key[i] != '\0' && i < sizeof(name) - 1; i++)
		name[i] = key[i] == '_' ? '-' : key[i];
	name[i] = '\0';

	if (strcmp(name, "socket") == 0)
		set_string(&cfg->socket_path, value);
	else if (strcmp(name, "module") == 0)
		set_string(&cfg->module_path, value);
	else if (strcmp(name, "pin-file") == 0)
		set_string(&cfg->pin_file, value);
	else if (strcmp(name, "pid-file") == 0)
		set_string(&cfg->pid_file, value);
	else if (strcmp(name, "allow-uid") == 0)
	{
		uid_t		uid;

		if (!parse_uid(value, &uid))
		{
			fprintf(stderr, "sealpg-agent: %s: unknown user \"%s\"\n", where, value);
			return false;
		}
		if (cfg->n_allow_uids >= AGENT_MAX_ALLOW_UIDS)
		{
			fprintf(stderr, "sealpg-agent: %s: too many allowed uids\n", where);
			return false;
		}
		cfg->allow_uids[cfg->n_allow_uids++] = uid;
	}
	else if (strcmp(name, "foreground") == 0)
	{
		if (strcmp(value, "true") == 0 || strcmp(value, "on") == 0 || strcmp(value, "1") == 0 ||
			strcmp(value, "yes") == 0)
			cfg->foreground = true;
		else if (strcmp(value, "false") == 0 || strcmp(value, "off") == 0 ||
				 strcmp(value, "0") == 0 || strcmp(value, "no") == 0)
			cfg->foreground = false;
		else
		{
			fprintf(stderr, "sealpg-agent: %s: foreground must be true or false\n", where);
			return false;
		}
	}
	else if (strcmp(name, "log-level") == 0)
	{
		if (!log_parse_level(value, &cfg->log_level))
		{
			fprintf(stderr, "sealpg-agent: %s: log level must be error, warning, info or debug\n",
					where);
			return false;
		}
	}
	else if (strcmp(name, "io-timeout") == 0)
	{
		if (!parse_int(value, 100, 3600000, &cfg->io_timeout_ms))
		{
			fprintf(stderr, "sealpg-agent: %s: io-timeout must be 100..3600000 ms\n", where);
			return false;
		}
	}
	else if (strcmp(name, "max-clients") == 0)
	{
		if (!parse_int(value, 1, 100000, &cfg->max_clients))
		{
			fprintf(stderr, "sealpg-agent: %s: max-clients must be 1..100000\n", where);
			return false;
		}
	}
	else
	{
		int			rc = usb_apply_setting(&cfg->usb, name, value, where);

		if (rc < 0)
			return false;
		if (rc == 0)
		{
			fprintf(stderr, "sealpg-agent: %s: unknown setting \"%s\"\n", where, key);
			return false;
		}
	}
	return true;
}

/* Trim blanks at both ends, in place. */
static char *
trim(char *s)
{
	char	   *e;

	while (isspace((unsigned char) *s))
		s++;
	e = s + strlen(s);
	while (e > s && isspace((unsigned char) e[-1]))
		*--e = '\0';
	return s;
}

/* Read a config file of "key = value" lines ('#' starts a comment). */
static bool
load_config(AgentConfig *cfg, const char *path)
{
	FILE	   *f = fopen(path, "r");
	char		line[1024];
	int			lineno = 0;
	bool		ok = true;

	if (f == NULL)
	{
		fprintf(stderr, "sealpg-agent: cannot open config \"%s\": %s\n", path, strerror(errno));
		return false;
	}
	while (ok && fgets(line, sizeof(line), f) != NULL)
	{
		char		where[PATH_MAX + 32];
		char	   *hash = strchr(line, '#');
		char	   *eq;
		char	   *s;

		lineno++;
		if (hash != NULL)
			*hash = '\0';
		s = trim(line);
		if (*s == '\0')
			continue;
		snprintf(where, sizeof(where), "%s:%d", path, lineno);
		eq = strchr(s, '=');
		if (eq == NULL)
		{
			fprintf(stderr, "sealpg-agent: %s: expected key = value\n", where);
			ok = false;
			break;
		}
		*eq = '\0';
		ok = apply_setting(cfg, trim(s), trim(eq + 1), where);
	}
	fclose(f);
	return ok;
}

/* Fill cfg from the config file (if any) and the flags; flags win. */
static bool
parse_args(AgentConfig *cfg, int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'},
		{"socket", required_argument, NULL, 's'},
		{"module", required_argument, NULL, 'm'},
		{"pin-file", required_argument, NULL, 'p'},
		{"allow-uid", required_argument, NULL, 'u'},
		{"foreground", no_argument, NULL, 'f'},
		{"log-level", required_argument, NULL, 'l'},
		{"pid-file", required_argument, NULL, 'P'},
		{"io-timeout", required_argument, NULL, 't'},
		{"max-clients", required_argument, NULL, 'n'},
		{"usb-device", required_argument, NULL, 'U'},
		{"db", required_argument, NULL, 'D'},
		{"host-name", required_argument, NULL, 'H'},
		{"usb-spool", required_argument, NULL, 'S'},
		{"usb-spool-max", required_argument, NULL, 'M'},
		{"smartseal-poll", required_argument, NULL, 'R'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0}
	};
	bool		cli_uids = false;
	int			c;

	/* First pass: only --config, so that the flags can override it. */
	opterr = 0;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
		if (c == 'c' && !load_config(cfg, optarg))
			return false;

	optind = 1;
	opterr = 1;
	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1)
	{
		const char *name = NULL;

		switch (c)
		{
			case 'c':
				continue;
			case 's':
				name = "socket";
				break;
			case 'm':
				name = "module";
				break;
			case 'p':
				name = "pin-file";
				break;
			case 'u':
				if (!cli_uids)
				{
					cfg->n_allow_uids = 0;	/* flags replace the file's list */
					cli_uids = true;
				}
				name = "allow-uid";
				break;
			case 'f':
				cfg->foreground = true;
				continue;
			case 'l':
				name = "log-level";
				break;
			case 'P':
				name = "pid-file";
				break;
			case 't':
				name = "io-timeout";
				break;
			case 'n':
				name = "max-clients";
				break;
			case 'U':
				name = "usb-device";
				break;
			case 'D':
				name = "db";
				break;
			case 'H':
				name = "host-name";
				break;
			case 'S':
				name = "usb-spool";
				break;
			case 'M':
				name = "usb-spool-max";
				break;
			case 'R':
				name = "smartseal-poll";
				break;
			case 'h':
				usage(stdout);
				exit(0);
			default:
				usage(stderr);
				return false;
		}
		if (!apply_setting(cfg, name, optarg, "command line"))
			return false;
	}
	if (optind < argc)
	{
		fprintf(stderr, "sealpg-agent: unexpected argument \"%s\"\n", argv[optind]);
		return false;
	}
	if (cfg->socket_path == NULL)
		set_string(&cfg->socket_path, DEFAULT_SOCKET);
	if (cfg->module_path == NULL)
		set_string(&cfg->module_path, DEFAULT_MODULE);
	usb_config_finish(&cfg->usb, cfg->socket_path);
	if (cfg->n_allow_uids == 0)
	{
		struct passwd *pw = getpwnam("postgres");

		cfg->allow_uids[cfg->n_allow_uids++] = pw ? pw->pw_uid : geteuid();
	}
	return true;
}

/*
 * Detach from the terminal: double fork, new session, stdio on /dev/null.
 * The launching process waits on a pipe until the daemon reports that it
 * is serving (a byte written by daemon_ready) and exits 0, or exits 1 if
 * the daemon dies first, so that "sealpg-agent && use it" and systemd's
 * Type=forking both see a ready agent.  Returns the pipe's write end in
 * the daemon, or -1.
 */
static int
daemonize(void)
{
	int			ready[2];
	pid_t		pid;
	int			fd;

	if (pipe2(ready, O_CLOEXEC) != 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
	{
		char		c = 0;

		close(ready[1]);
		while (read(ready[0], &c, 1) < 0 && errno == EINTR)
			;
		_exit(c == 'R' ? 0 : 1);
	}
	close(ready[0]);
	if (setsid() < 0)
		return -1;
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid > 0)
		_exit(0);
	if (chdir("/") != 0)
		return -1;
	fd = open("/dev/null", O_RDWR);
	if (fd < 0)
		return -1;
	dup2(fd, STDIN_FILENO);
	dup2(fd, STDOUT_FILENO);
	dup2(fd, STDERR_FILENO);
	if (fd > STDERR_FILENO)
		close(fd);
	return ready[1];
}

/* Tell the launching process that the daemon is serving. */
static void
daemon_ready(int ready_fd)
{
	if (ready_fd < 0)
		return;
	if (write(ready_fd, "R", 1) != 1)
		log_warning("cannot notify the launching process: %s", strerror(errno));
	close(ready_fd);
}

/* Write our pid to path (0644). */
static bool
write_pid_file(const char *path)
{
	FILE	   *f;
	int			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		return false;
	f = fdopen(fd, "w");
	if (f == NULL)
	{
		close(fd);
		return false;
	}
	fprintf(f, "%d\n", (int) getpid());
	return fclose(f) == 0;
}

/* Start, serve, stop. */
int
main(int argc, char **argv)
{
	AgentConfig cfg;
	char		err[TOKEN_ERRLEN];
	sigset_t	mask;
	int			signal_fd;
	int			listen_fd;
	int			ready_fd = -1;
	int			rc;

	memset(&cfg, 0, sizeof(cfg));
	cfg.log_level = LOG_LEVEL_INFO;
	cfg.io_timeout_ms = 10000;
	cfg.max_clients = 256;
	cfg.usb.poll_seconds = 30;
	if (!parse_args(&cfg, argc, argv))
		return 2;
	log_setup(cfg.log_level, false);

	if (cfg.pin_file != NULL)
	{
		if (token_pins_load(cfg.pin_file, err) != 0)
		{
			log_error("%s", err);
			return 1;
		}
	}
	else
		log_warning("no --pin-file: tokens that require a login cannot be used");

	signal(SIGPIPE, SIG_IGN);
	sigemptyset(&mask);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGHUP);
	if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0 ||
		(signal_fd = signalfd(-1, &mask, SFD_CLOEXEC)) < 0)
	{
		log_error("cannot set up signal handling: %s", strerror(errno));
		return 1;
	}

	listen_fd = server_open_socket(&cfg);
	if (listen_fd < 0)
	{
		token_pins_clear();
		return 1;
	}

	if (!cfg.foreground)
	{
		ready_fd = daemonize();
		if (ready_fd < 0)
		{
			log_error("cannot become a daemon: %s", strerror(errno));
			unlink(cfg.socket_path);
			return 1;
		}
		log_setup(cfg.log_level, true);
	}
	if (cfg.pid_file != NULL && !write_pid_file(cfg.pid_file))
	{
		log_error("cannot write pid file \"%s\": %s", cfg.pid_file, strerror(errno));
		unlink(cfg.socket_path);
		return 1;
	}

	if (token_module_load(cfg.module_path, err) != 0)
	{
		log_error("%s", err);
		close(listen_fd);
		unlink(cfg.socket_path);
		if (cfg.pid_file != NULL)
			unlink(cfg.pid_file);
		token_pins_clear();
		return 1;
	}
	for (int i = 0; i < cfg.n_allow_uids; i++)
		log_info("allowing peer uid %d", (int) cfg.allow_uids[i]);
	if (!usb_start(&cfg.usb))
		log_error("USB presence could not start; the agent serves without it");
	daemon_ready(ready_fd);

	rc = server_run(&cfg, listen_fd, signal_fd);
	usb_stop();
	if (rc == 0)
		token_module_unload();
	else
		log_warning("PKCS#11 module left initialised: connections still inside it");
	if (cfg.pid_file != NULL)
		unlink(cfg.pid_file);
	token_pins_clear();
	close(signal_fd);
	free(cfg.socket_path);
	free(cfg.module_path);
	free(cfg.pin_file);
	free(cfg.pid_file);
	usb_config_free(&cfg.usb);
	log_info("stopped");
	return rc == 0 ? 0 : 1;
}
