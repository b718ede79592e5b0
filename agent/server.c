/*-------------------------------------------------------------------------
 *
 * server.c
 *	  The listening socket of sealpg-agent, the accept loop with its peer
 *	  check, and one thread per client connection.
 *
 * Security: the socket lives in a directory that belongs to the agent's
 * user and is closed to group and others (made 0700 if missing, refused
 * otherwise), it is created under umask 0177, and every accepted peer's
 * uid (SO_PEERCRED) must be in the allow list; others get one NOT_ALLOWED
 * error frame and are closed.
 *
 * Robustness: a frame's length is checked before its body is read; a bad
 * length ends the connection after an error frame (the stream cannot be
 * resynchronised).  Once the first byte of a frame has arrived, the rest
 * must arrive within io_timeout_ms, so a slow or vanished client cannot
 * hold a thread; an idle connection between frames is kept.  Writes have
 * the same timeout (SO_SNDTIMEO).
 *
 * Shutdown: the main loop stops on SIGTERM/SIGINT (read from a signalfd),
 * closes and unlinks the socket and waits a bounded time for connection
 * threads, which notice the stop flag within a poll interval.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "agent.h"
#include "frame.h"

#define IDLE_POLL_MS		500
#define SHUTDOWN_WAIT_SEC	5

typedef struct ConnThread
{
	int			fd;
	ConnState	cs;
	int			io_timeout_ms;
} ConnThread;

static atomic_bool stopping = false;
static pthread_mutex_t active_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t active_cond = PTHREAD_COND_INITIALIZER;
static int	active_conns = 0;
static unsigned long next_conn_id = 1;

/* Milliseconds on the monotonic clock. */
static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/*
 * Read exactly n bytes.  With idle_first, waiting for the first byte has no
 * deadline (only the stop flag ends it); after that the remaining bytes
 * must come within timeout_ms.  Returns 1 on success, 0 on a clean EOF
 * before any byte, -1 on error, timeout, stop or EOF in the middle.
 */
static int
read_exact(int fd, uint8_t *buf, size_t n, bool idle_first, int timeout_ms)
{
	size_t		got = 0;
	int64_t		deadline = idle_first ? 0 : now_ms() + timeout_ms;

	while (got < n)
	{
		struct pollfd pfd = {fd, POLLIN, 0};
		int			wait;
		int			rc;
		ssize_t		r;

		if (atomic_load(&stopping))
			return -1;
		if (deadline == 0)
			wait = IDLE_POLL_MS;
		else
		{
			int64_t		left = deadline - now_ms();

			if (left <= 0)
				return -1;
			wait = left < IDLE_POLL_MS ? (int) left : IDLE_POLL_MS;
		}
		rc = poll(&pfd, 1, wait);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc <= 0)
			continue;
		r = recv(fd, buf + got, n - got, 0);
		if (r == 0)
			return got == 0 && idle_first ? 0 : -1;
		if (r < 0)
		{
			if (errno == EINTR || errno == EAGAIN)
				continue;
			return -1;
		}
		got += (size_t) r;
		if (deadline == 0)
			deadline = now_ms() + timeout_ms;
	}
	return 1;
}

/* Write all n bytes (SO_SNDTIMEO bounds each send); false on failure. */
static bool
write_all(int fd, const uint8_t *buf, size_t n)
{
	while (n > 0)
	{
		ssize_t		w = send(fd, buf, n, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		buf += w;
		n -= (size_t) w;
	}
	return true;
}

/* Serve one connection until it closes, misbehaves or the agent stops. */
static void *
conn_main(void *arg)
{
	ConnThread *ct = arg;
	ConnState  *cs = &ct->cs;
	uint8_t    *in = malloc(SEALPG_MAX_FRAME);
	uint8_t    *out = malloc(SEALPG_MAX_FRAME + SEALPG_LEN_SIZE);
	const char *why = "closed by peer";

	cs->sessions = token_sessions_new();
	if (in == NULL || out == NULL || cs->sessions == NULL)
	{
		why = "out of memory";
		goto done;
	}
	for (;;)
	{
		uint8_t		prefix[SEALPG_LEN_SIZE];
		uint32_t	len;
		size_t		n;
		int			rc;

		rc = read_exact(ct->fd, prefix, sizeof(prefix), true, ct->io_timeout_ms);
		if (rc == 0)
			break;
		if (rc < 0)
		{
			why = atomic_load(&stopping) ? "agent stopping" : "short or slow frame header";
			break;
		}
		rc = frame_check_length(prefix, &len);
		if (rc != 0)
		{
			char		msg[96];

			snprintf(msg, sizeof(msg), "frame length %u outside 1..%d", len, SEALPG_MAX_FRAME);
			n = frame_encode_error(out, SEALPG_MAX_FRAME, (uint32_t) rc, msg);
			write_all(ct->fd, out, n);
			why = msg;
			log_warning("conn %lu: %s; closing", cs->id, msg);
			break;
		}
		if (read_exact(ct->fd, in, len, false, ct->io_timeout_ms) != 1)
		{
			why = "frame body incomplete (client vanished or too slow)";
			log_warning("conn %lu: %s", cs->id, why);
			break;
		}
		n = handle_request(cs, in[0], in + 1, len - 1, out, SEALPG_MAX_FRAME + SEALPG_LEN_SIZE);
		if (n == 0 || !write_all(ct->fd, out, n))
		{
			why = "cannot send the response";
			break;
		}
	}
done:
	log_debug("conn %lu: closed (%s)", cs->id, why);
	token_sessions_free(cs->sessions);
	free(in);
	free(out);
	close(ct->fd);
	free(ct);
	pthread_mutex_lock(&active_lock);
	active_conns--;
	pthread_cond_broadcast(&active_cond);
	pthread_mutex_unlock(&active_lock);
	return NULL;
}

/* Make sure the socket's directory exists and is private to us. */
static int
check_socket_dir(const char *socket_path)
{
	char	   *copy = strdup(socket_path);
	char	   *dir;
	struct stat st;
	int			rc = -1;

	if (copy == NULL)
		return -1;
	dir = dirname(copy);
	if (lstat(dir, &st) != 0)
	{
		if (errno != ENOENT || mkdir(dir, 0700) != 0 || lstat(dir, &st) != 0)
		{
			log_error("cannot create socket directory \"%s\": %s", dir, strerror(errno));
			goto out;
		}
		log_info("created socket directory %s (0700)", dir);
	}
	if (!S_ISDIR(st.st_mode))
		log_error("\"%s\" is not a directory", dir);
	else if (st.st_uid != geteuid())
		log_error("socket directory \"%s\" belongs to uid %d, not to the agent's uid %d",
				  dir, (int) st.st_uid, (int) geteuid());
	else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
		log_error("socket directory \"%s\" is accessible to group or others (mode %04o); "
				  "it must be 0700", dir, (unsigned) (st.st_mode & 07777));
	else
		rc = 0;
out:
	free(copy);
	return rc;
}

/* Remove a stale socket left by a dead agent; refuse if one is alive. */
static int
remove_stale_socket(const char *path, const struct sockaddr_un *addr)
{
	struct stat st;
	int			fd;

	if (lstat(path, &st) != 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISSOCK(st.st_mode))
	{
		log_error("\"%s\" exists and is not a socket", path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (const struct sockaddr *) addr, sizeof(*addr)) == 0)
	{
		close(fd);
		log_error("another agent is listening on \"%s\"", path);
		return -1;
	}
	if (fd >= 0)
		close(fd);
	if (unlink(path) != 0)
	{
		log_error("cannot remove stale socket \"%s\": %s", path, strerror(errno));
		return -1;
	}
	log_info("removed stale socket %s", path);
	return 0;
}

/* Create, bind and listen on the agent's socket; the fd or -1. */
int
server_open_socket(const AgentConfig *cfg)
{
	struct sockaddr_un addr;
	mode_t		old_umask;
	int			fd;

	if (strlen(cfg->socket_path) >= sizeof(addr.sun_path))
	{
		log_error("socket path \"%s\" is too long", cfg->socket_path);
		return -1;
	}
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	strcpy(addr.sun_path, cfg->socket_path);

	if (check_socket_dir(cfg->socket_path) != 0)
		return -1;
	if (remove_stale_socket(cfg->socket_path, &addr) != 0)
		return -1;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
	{
		log_error("socket: %s", strerror(errno));
		return -1;
	}
	old_umask = umask(0177);
	if (bind(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		umask(old_umask);
		log_error("cannot bind \"%s\": %s", cfg->socket_path, strerror(errno));
		close(fd);
		return -1;
	}
	umask(old_umask);
	if (listen(fd, 128) != 0)
	{
		log_error("listen: %s", strerror(errno));
		close(fd);
		unlink(cfg->socket_path);
		return -1;
	}
	return fd;
}

/* Is this uid in the allow list? */
static bool
uid_allowed(const AgentConfig *cfg, uid_t uid)
{
	for (int i = 0; i < cfg->n_allow_uids; i++)
		if (cfg->allow_uids[i] == uid)
			return true;
	return false;
}

/* Send one error frame without blocking, then close. */
static void
refuse(int fd, int code, const char *msg)
{
	uint8_t		buf[256];
	size_t		n = frame_encode_error(buf, sizeof(buf), (uint32_t) code, msg);

	if (n > 0 && send(fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) < 0)
		log_debug("could not send the refusal: %s", strerror(errno));
	close(fd);
}

/* Accept one client: check its uid and hand it to a new thread. */
static void
accept_one(const AgentConfig *cfg, int listen_fd)
{
	struct ucred cred;
	socklen_t	credlen = sizeof(cred);
	struct timeval tv;
	pthread_attr_t attr;
	pthread_t	tid;
	ConnThread *ct;
	int			fd;

	fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0)
	{
		if (errno != EINTR && errno != EAGAIN && errno != ECONNABORTED)
			log_warning("accept: %s", strerror(errno));
		return;
	}
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &credlen) != 0)
	{
		log_warning("SO_PEERCRED failed: %s; connection closed", strerror(errno));
		close(fd);
		return;
	}
	if (!uid_allowed(cfg, cred.uid))
	{
		log_warning("refused connection from uid %d (pid %d): uid not allowed",
					(int) cred.uid, (int) cred.pid);
		refuse(fd, SEALPG_ERR_NOT_ALLOWED, "peer uid not allowed by the agent");
		return;
	}
	pthread_mutex_lock(&active_lock);
	if (active_conns >= cfg->max_clients)
	{
		pthread_mutex_unlock(&active_lock);
		log_warning("refused connection from pid %d: %d clients already", (int) cred.pid,
					cfg->max_clients);
		refuse(fd, SEALPG_ERR_BUSY, "too many clients");
		return;
	}
	active_conns++;
	pthread_mutex_unlock(&active_lock);

	tv.tv_sec = cfg->io_timeout_ms / 1000;
	tv.tv_usec = (cfg->io_timeout_ms % 1000) * 1000;
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

	ct = calloc(1, sizeof(ConnThread));
	if (ct != NULL)
	{
		ct->fd = fd;
		ct->io_timeout_ms = cfg->io_timeout_ms;
		ct->cs.id = next_conn_id++;
		ct->cs.peer_uid = cred.uid;
		ct->cs.peer_pid = cred.pid;
		log_debug("conn %lu: accepted uid %d pid %d", ct->cs.id, (int) cred.uid, (int) cred.pid);
		pthread_attr_init(&attr);
		pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
		if (pthread_create(&tid, &attr, conn_main, ct) == 0)
		{
			pthread_attr_destroy(&attr);
			return;
		}
		pthread_attr_destroy(&attr);
		free(ct);
	}
	log_error("cannot start a connection thread");
	refuse(fd, SEALPG_ERR_INTERNAL, "agent cannot start a thread");
	pthread_mutex_lock(&active_lock);
	active_conns--;
	pthread_mutex_unlock(&active_lock);
}

/*
 * Accept clients until SIGTERM or SIGINT arrives on signal_fd, then close
 * the socket and wait for connection threads.  Returns 0 when every thread
 * ended (the module may be finalised), 1 otherwise.
 */
int
server_run(const AgentConfig *cfg, int listen_fd, int signal_fd)
{
	struct timespec until;
	int			rc = 0;

	log_info("listening on %s", cfg->socket_path);
	for (;;)
	{
		struct pollfd pfd[2] = {{listen_fd, POLLIN, 0}, {signal_fd, POLLIN, 0}};

		if (poll(pfd, 2, -1) < 0)
		{
			if (errno == EINTR)
				continue;
			log_error("poll: %s", strerror(errno));
			break;
		}
		if (pfd[1].revents & POLLIN)
		{
			struct signalfd_siginfo si;

			if (read(signal_fd, &si, sizeof(si)) == sizeof(si))
			{
				if (si.ssi_signo == SIGTERM || si.ssi_signo == SIGINT)
				{
					log_info("received signal %u; shutting down", si.ssi_signo);
					break;
				}
				log_info("ignoring signal %u", si.ssi_signo);
			}
		}
		if (pfd[0].revents & POLLIN)
			accept_one(cfg, listen_fd);
	}

	close(listen_fd);
	if (unlink(cfg->socket_path) != 0)
		log_warning("cannot unlink %s: %s", cfg->socket_path, strerror(errno));
	atomic_store(&stopping, true);

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += SHUTDOWN_WAIT_SEC;
	pthread_mutex_lock(&active_lock);
	while (active_conns > 0)
	{
		if (pthread_cond_timedwait(&active_cond, &active_lock, &until) == ETIMEDOUT)
			break;
	}
	if (active_conns > 0)
	{
		log_warning("%d connection(s) still busy after %d s", active_conns, SHUTDOWN_WAIT_SEC);
		rc = 1;
	}
	pthread_mutex_unlock(&active_lock);
	return rc;
}
