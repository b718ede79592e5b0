/*-------------------------------------------------------------------------
 *
 * usb_client.c
 *	  A small client of sealpg-agent's USB requests, for the tests and the
 *	  demo: HELLO, then USB_LIST or USB_STATUS, printed one line per item.
 *
 *	  usb_client SOCKET list     "vid:pid bus/address kind serial" lines
 *	  usb_client SOCKET status   "key value" lines
 *
 * Exit status: 0 on an answer, 1 on an error frame or a malformed answer,
 * 2 when the agent cannot be reached.
 *
 *-------------------------------------------------------------------------
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "frame.h"

/* Read exactly n bytes; false on EOF or error. */
static bool
read_all(int fd, uint8_t *buf, size_t n)
{
	while (n > 0)
	{
		ssize_t		r = read(fd, buf, n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return false;
		buf += r;
		n -= (size_t) r;
	}
	return true;
}

/* Send a request frame and read the answer into buf; its length or 0. */
static size_t
call(int fd, const uint8_t *req, size_t req_len, uint8_t *buf, size_t cap)
{
	uint8_t		prefix[SEALPG_LEN_SIZE];
	uint32_t	len;

	if (write(fd, req, req_len) != (ssize_t) req_len || !read_all(fd, prefix, sizeof(prefix)) ||
		frame_check_length(prefix, &len) != 0 || len > cap || !read_all(fd, buf, len))
		return 0;
	return len;
}

/* Print an ERROR frame's message. */
static int
print_error(const uint8_t *body, size_t len)
{
	ErrorResp	e;

	if (frame_decode_error_resp(body, len, &e))
		fprintf(stderr, "usb_client: agent error %s: %.*s\n", frame_error_name(e.code),
				(int) e.message.len, (const char *) e.message.data);
	else
		fprintf(stderr, "usb_client: malformed error frame\n");
	return 1;
}

/* Connect, say HELLO, ask, print. */
int
main(int argc, char **argv)
{
	struct sockaddr_un addr;
	static uint8_t buf[SEALPG_MAX_FRAME];
	uint8_t		req[64];
	size_t		n;
	int			fd;
	bool		list;
	FrameReader r;

	if (argc != 3 || (strcmp(argv[2], "list") != 0 && strcmp(argv[2], "status") != 0))
	{
		fprintf(stderr, "usage: usb_client SOCKET list|status\n");
		return 2;
	}
	list = strcmp(argv[2], "list") == 0;
	memset(&addr, 0, sizeof(addr));
	addr.sun_family = AF_UNIX;
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", argv[1]);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *) &addr, sizeof(addr)) != 0)
	{
		fprintf(stderr, "usb_client: cannot connect to %s: %s\n", argv[1], strerror(errno));
		return 2;
	}
	n = frame_encode_hello(req, sizeof(req), SEALPG_PROTO_VERSION);
	n = call(fd, req, n, buf, sizeof(buf));
	if (n == 0 || buf[0] != SEALPG_RESP_HELLO)
		return n == 0 ? 2 : print_error(buf + 1, n - 1);

	req[0] = req[1] = req[2] = 0;
	req[3] = 1;
	req[4] = list ? SEALPG_REQ_USB_LIST : SEALPG_REQ_USB_STATUS;
	n = call(fd, req, 5, buf, sizeof(buf));
	if (n == 0)
		return 2;
	if (buf[0] == SEALPG_RESP_ERROR)
		return print_error(buf + 1, n - 1);
	fr_init(&r, buf + 1, n - 1);
	if (list && buf[0] == SEALPG_RESP_USB_LIST)
	{
		uint16_t	count = fr_u16(&r);

		for (uint16_t i = 0; i < count && r.ok; i++)
		{
			uint16_t	vid = fr_u16(&r);
			uint16_t	pid = fr_u16(&r);
			uint8_t		bus = fr_u8(&r);
			uint8_t		address = fr_u8(&r);
			uint8_t		kind = fr_u8(&r);
			FrameBytes	serial = fr_bytes16(&r);

			if (r.ok)
				printf("%04x:%04x %03u/%03u %s %.*s\n", vid, pid, bus, address,
					   kind == SEALPG_USB_KIND_SMARTSEAL ? "smartseal" : "chip",
					   (int) serial.len, (const char *) serial.data);
		}
	}
	else if (!list && buf[0] == SEALPG_RESP_USB_STATUS)
	{
		uint8_t		on = fr_u8(&r);
		uint8_t		connected = fr_u8(&r);
		uint32_t	spooled = fr_u32(&r);
		uint32_t	dropped = fr_u32(&r);
		uint32_t	sent = fr_u32(&r);
		uint32_t	records = fr_u32(&r);
		uint32_t	refused = fr_u32(&r);
		FrameBytes	err = fr_bytes16(&r);

		if (r.ok)
			printf("usb %s\ndatabase %s\nspooled %u\ndropped %u\nsent %u\nrecords %u\nrefused %u\n"
				   "last_error %.*s\n", on ? "on" : "off", connected ? "connected" : "disconnected",
				   spooled, dropped, sent, records, refused, (int) err.len, (const char *) err.data);
	}
	else
		r.ok = false;
	close(fd);
	if (!r.ok || !fr_done(&r))
	{
		fprintf(stderr, "usb_client: malformed answer\n");
		return 1;
	}
	return 0;
}
