/*-------------------------------------------------------------------------
 *
 * agent.h
 *	  Settings of sealpg-agent and the entry points shared by main.c
 *	  (configuration, daemon, signals), server.c (socket, accept, peer
 *	  check, connection threads) and handlers.c (request dispatch).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_AGENT_H
#define SEALPG_AGENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "log.h"
#include "token.h"
#include "usb.h"

#define AGENT_VERSION_STRING	"sealpg-agent 1.0"
#define AGENT_MAX_ALLOW_UIDS	32

/* Everything the flags and the config file can set. */
typedef struct AgentConfig
{
	char	   *socket_path;
	char	   *module_path;
	char	   *pin_file;
	char	   *pid_file;
	uid_t		allow_uids[AGENT_MAX_ALLOW_UIDS];
	int			n_allow_uids;
	bool		foreground;
	LogLevel	log_level;
	int			io_timeout_ms;	/* per frame, once its first byte arrived */
	int			max_clients;
	UsbConfig	usb;			/* USB presence and the database link (usb.c) */
} AgentConfig;

/* Per-connection state seen by the request handlers. */
typedef struct ConnState
{
	unsigned long id;
	uid_t		peer_uid;
	pid_t		peer_pid;
	bool		hello_done;
	TokenSessions *sessions;
} ConnState;

/* server.c */
extern int	server_open_socket(const AgentConfig *cfg);
extern int	server_run(const AgentConfig *cfg, int listen_fd, int signal_fd);

/* handlers.c */
extern size_t handle_request(ConnState *cs, uint8_t type, const uint8_t *body,
							 size_t len, uint8_t *out, size_t cap);

#endif							/* SEALPG_AGENT_H */
