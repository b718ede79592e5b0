/*-------------------------------------------------------------------------
 *
 * usbbench.c
 *	  An emulated USB bench for tests and the demo: a umockdev testbed in
 *	  which devices are plugged in and pulled out on command while another
 *	  program (the agent) runs inside it.  Run under umockdev-wrapper.
 *
 *	  umockdev-wrapper usbbench DEVDIR COMMAND [ARGS...]
 *
 * Starts COMMAND inside the testbed, then reads lines from stdin:
 *	  add MODEL [RECORDING]   plug in DEVDIR/MODEL/device; RECORDING (a pcap
 *	                          in DEVDIR/MODEL) answers its transfers
 *	  remove MODEL            pull it out ("remove" uevent)
 *	  wait MS                 sleep
 *	  quit                    stop COMMAND (SIGTERM) and exit
 * and answers each with one line, "ok ..." or "error ...", so that a shell
 * script can drive it through a pair of fifos.  Exits with COMMAND's status.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <umockdev.h>

#define MAX_MODELS	8

/* A model plugged in: its name and sysfs path. */
typedef struct Plugged
{
	char		model[64];
	char	   *syspath;
	char		devnode[64];	/* /dev/bus/usb/BBB/DDD, whose ioctls a recording answers */
} Plugged;

static Plugged plugged[MAX_MODELS];

/* The device node a description declares ("E: DEVNAME=..."), or "". */
static void
description_devnode(const char *text, char *out, size_t len)
{
	const char *p = strstr(text, "E: DEVNAME=");
	size_t		n;

	out[0] = '\0';
	if (p == NULL)
		return;
	p += strlen("E: DEVNAME=");
	n = strcspn(p, "\n");
	if (n < len)
	{
		memcpy(out, p, n);
		out[n] = '\0';
	}
}

/* The sysfs path a description file declares ("P: /devices/..."). */
static char *
description_syspath(const char *text)
{
	const char *p = strstr(text, "P: ");
	const char *e;
	char	   *out;

	if (p == NULL)
		return NULL;
	p += 3;
	e = strchr(p, '\n');
	if (e == NULL)
		e = p + strlen(p);
	out = malloc((size_t) (e - p) + 5);
	if (out == NULL)
		return NULL;
	sprintf(out, "/sys%.*s", (int) (e - p), p);
	return out;
}

/* Is a model name safe to put in a path? */
static bool
valid_model(const char *m)
{
	if (*m == '\0' || strlen(m) >= sizeof(plugged[0].model))
		return false;
	for (const char *c = m; *c; c++)
		if (!(*c == '-' || *c == '_' || *c == '.' || (*c >= '0' && *c <= '9') ||
			  (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z')) || (c[0] == '.' && c[1] == '.'))
			return false;
	return true;
}

/* Plug a model in; NULL on success, else why not. */
static const char *
add_model(UMockdevTestbed *tb, const char *dir, const char *model, const char *recording)
{
	char		path[4096];
	gchar	   *text = NULL;
	GError	   *err = NULL;
	char	   *syspath;
	int			slot = -1;

	for (int i = 0; i < MAX_MODELS; i++)
	{
		if (plugged[i].syspath != NULL && strcmp(plugged[i].model, model) == 0)
			return "already plugged in";
		if (plugged[i].syspath == NULL && slot < 0)
			slot = i;
	}
	if (slot < 0)
		return "too many devices";
	snprintf(path, sizeof(path), "%s/%s/device", dir, model);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return "no such model";
	syspath = description_syspath(text);
	if (syspath == NULL || !umockdev_testbed_add_from_string(tb, text, &err))
	{
		g_free(text);
		free(syspath);
		if (err)
			g_error_free(err);
		return "the description does not load";
	}
	description_devnode(text, plugged[slot].devnode, sizeof(plugged[slot].devnode));
	g_free(text);
	if (recording != NULL)
	{
		snprintf(path, sizeof(path), "%s/%s/%s", dir, model, recording);
		if (!umockdev_testbed_load_pcap(tb, syspath, path, &err))
		{
			if (err)
				g_error_free(err);
			umockdev_testbed_uevent(tb, syspath, "remove");
			umockdev_testbed_remove_device(tb, syspath);
			free(syspath);
			return "the recording does not load";
		}
	}
	snprintf(plugged[slot].model, sizeof(plugged[slot].model), "%s", model);
	plugged[slot].syspath = syspath;
	return NULL;
}

/* Pull a model out; NULL on success, else why not. */
static const char *
remove_model(UMockdevTestbed *tb, const char *model)
{
	for (int i = 0; i < MAX_MODELS; i++)
		if (plugged[i].syspath != NULL && strcmp(plugged[i].model, model) == 0)
		{
			umockdev_testbed_uevent(tb, plugged[i].syspath, "remove");
			/* a recording answers a node, not a device: free it for the next one */
			if (plugged[i].devnode[0] != '\0')
				umockdev_testbed_detach_ioctl(tb, plugged[i].devnode, NULL);
			umockdev_testbed_remove_device(tb, plugged[i].syspath);
			free(plugged[i].syspath);
			plugged[i].syspath = NULL;
			return NULL;
		}
	return "not plugged in";
}

/* Run the bench. */
int
main(int argc, char **argv)
{
	UMockdevTestbed *tb;
	char		line[512];
	pid_t		child;
	int			status = 0;

	if (argc < 3)
	{
		fprintf(stderr, "usage: umockdev-wrapper usbbench DEVDIR COMMAND [ARGS...]\n");
		return 2;
	}
	if (getenv("LD_PRELOAD") == NULL || strstr(getenv("LD_PRELOAD"), "libumockdev-preload") == NULL)
	{
		fprintf(stderr, "usbbench: not in a umockdev environment; run it under umockdev-wrapper\n");
		return 77;
	}
	tb = umockdev_testbed_new();
	setvbuf(stdout, NULL, _IOLBF, 0);

	child = fork();
	if (child < 0)
	{
		perror("usbbench: fork");
		return 1;
	}
	if (child == 0)
	{
		execvp(argv[2], argv + 2);
		fprintf(stderr, "usbbench: cannot run %s: %s\n", argv[2], strerror(errno));
		_exit(127);
	}
	printf("ok started %d\n", (int) child);

	while (fgets(line, sizeof(line), stdin) != NULL)
	{
		char	   *cmd = strtok(line, " \t\r\n");
		char	   *a1 = strtok(NULL, " \t\r\n");
		char	   *a2 = strtok(NULL, " \t\r\n");
		const char *why = NULL;

		if (cmd == NULL)
			continue;
		if (strcmp(cmd, "quit") == 0)
			break;
		if (strcmp(cmd, "wait") == 0 && a1 != NULL)
			usleep((useconds_t) atoi(a1) * 1000);
		else if (strcmp(cmd, "add") == 0 && a1 != NULL && valid_model(a1) && (a2 == NULL || valid_model(a2)))
			why = add_model(tb, argv[1], a1, a2);
		else if (strcmp(cmd, "remove") == 0 && a1 != NULL)
			why = remove_model(tb, a1);
		else
			why = "unknown command";
		if (why)
			printf("error %s %s: %s\n", cmd, a1 ? a1 : "", why);
		else
			printf("ok %s %s\n", cmd, a1 ? a1 : "");
	}

	kill(child, SIGTERM);
	while (waitpid(child, &status, 0) < 0 && errno == EINTR)
		;
	for (int i = 0; i < MAX_MODELS; i++)
		free(plugged[i].syspath);
	g_object_unref(tb);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
