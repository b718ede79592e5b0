/*-------------------------------------------------------------------------
 *
 * usb.c
 *	  USB presence of security chips and smart seals through libusb: the
 *	  configured vid:pid list, the table of devices present, hotplug,
 *	  serial numbers, the USB_LIST and USB_STATUS requests, and the bulk
 *	  link a smart-seal reading session uses.
 *
 * Threads.  libusb's hotplug callbacks run in the event thread, which
 * only calls libusb_handle_events; a callback must not do synchronous I/O
 * there, so it queues a job (the device, referenced, and the time) for
 * the worker thread, which opens the device, reads its serial number
 * (a string descriptor: control transfers), updates the table and hands
 * the event to the spool (dblink.c).  Request handlers only read the
 * table under its mutex; they never touch libusb.
 *
 * Start-up: hotplug is registered first (without ENUMERATE), then the
 * devices already plugged in are listed and queued as "present", so a
 * device that arrives in between is seen once (the table is keyed by the
 * libusb_device).  Nothing from a device is trusted: serial numbers are
 * bounded and reduced to printable ASCII before they leave this file.
 *
 *-------------------------------------------------------------------------
 */
#include <ctype.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <libusb.h>

#include "frame.h"
#include "log.h"
#include "smartseal.h"
#include "usb.h"

#define EVENT_POLL_MS		500
#define SERIAL_ATTEMPTS		4
#define SERIAL_RETRY_MS		250

/* One device present, with the libusb reference that keys it. */
typedef struct TableEntry
{
	libusb_device *dev;
	UsbPresent	p;
} TableEntry;

/* Work for the worker thread: an arrival, a departure, or (dev NULL) the scan. */
typedef struct UsbJob
{
	struct UsbJob *next;
	libusb_device *dev;			/* NULL: the start-up scan is complete */
	bool		arrived;
	bool		initial;		/* found at start-up: "present" */
	int64_t		at_us;
} UsbJob;

struct UsbLink
{
	libusb_device_handle *handle;
	int			iface;
	uint8_t		ep_out;
	uint8_t		ep_in;
};

static const UsbConfig *config;
static libusb_context *usb_ctx;
static libusb_hotplug_callback_handle hotplug_handle;
static bool hotplug_registered;
static bool usb_running;
static atomic_bool usb_stopping;
static pthread_t event_thread;
static pthread_t worker_thread;

static pthread_mutex_t table_lock = PTHREAD_MUTEX_INITIALIZER;
static TableEntry table[USB_MAX_DEVICES];
static int	n_table;

static pthread_mutex_t job_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t job_cond = PTHREAD_COND_INITIALIZER;
static UsbJob *job_head;
static UsbJob *job_tail;

/* Microseconds since the epoch (wall clock: events carry it). */
int64_t
usb_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* Name of a kind ("chip", "smartseal"). */
const char *
usb_kind_name(UsbKind kind)
{
	return kind == USB_KIND_SMARTSEAL ? "smartseal" : "chip";
}

/* Parse one hex id of 1..4 digits. */
static bool
parse_hex16(const char *s, size_t n, uint16_t *out)
{
	unsigned	v = 0;

	if (n == 0 || n > 4)
		return false;
	for (size_t i = 0; i < n; i++)
	{
		if (!isxdigit((unsigned char) s[i]))
			return false;
		v = v * 16 + (unsigned) (isdigit((unsigned char) s[i]) ? s[i] - '0' :
								 tolower((unsigned char) s[i]) - 'a' + 10);
	}
	*out = (uint16_t) v;
	return true;
}

/* Parse "VID:PID:KIND" (hex ids); false if malformed. */
bool
usb_parse_match(const char *s, UsbMatch *out)
{
	const char *c1 = strchr(s, ':');
	const char *c2 = c1 ? strchr(c1 + 1, ':') : NULL;

	if (c1 == NULL || c2 == NULL)
		return false;
	if (!parse_hex16(s, (size_t) (c1 - s), &out->vid) ||
		!parse_hex16(c1 + 1, (size_t) (c2 - c1 - 1), &out->pid))
		return false;
	if (strcmp(c2 + 1, "chip") == 0)
		out->kind = USB_KIND_CHIP;
	else if (strcmp(c2 + 1, "smartseal") == 0)
		out->kind = USB_KIND_SMARTSEAL;
	else
		return false;
	return true;
}

/* Replace a string setting. */
static void
set_str(char **dst, const char *value)
{
	free(*dst);
	*dst = strdup(value);
	if (*dst == NULL)
	{
		fprintf(stderr, "sealpg-agent: out of memory\n");
		exit(1);
	}
}

/* Apply one setting if it is a USB one: 1 applied, 0 not ours, -1 invalid. */
int
usb_apply_setting(UsbConfig *cfg, const char *name, const char *value, const char *where)
{
	char	   *end;
	long		v;

	if (strcmp(name, "usb-device") == 0)
	{
		UsbMatch	m;

		if (!usb_parse_match(value, &m))
		{
			fprintf(stderr, "sealpg-agent: %s: usb-device must be VID:PID:chip or VID:PID:smartseal "
					"(hex ids), not \"%s\"\n", where, value);
			return -1;
		}
		if (cfg->n_matches >= USB_MAX_MATCHES)
		{
			fprintf(stderr, "sealpg-agent: %s: more than %d usb-device entries\n", where,
					USB_MAX_MATCHES);
			return -1;
		}
		cfg->matches[cfg->n_matches++] = m;
		return 1;
	}
	if (strcmp(name, "db") == 0)
	{
		set_str(&cfg->db_conninfo, value);
		return 1;
	}
	if (strcmp(name, "host-name") == 0)
	{
		if (!ssp_valid_id((const uint8_t *) value, strlen(value), false) ||
			strlen(value) > USB_MAX_HOST)
		{
			fprintf(stderr, "sealpg-agent: %s: host-name must be 1..32 printable characters\n", where);
			return -1;
		}
		set_str(&cfg->host_name, value);
		return 1;
	}
	if (strcmp(name, "usb-spool") == 0)
	{
		set_str(&cfg->spool_path, value);
		return 1;
	}
	if (strcmp(name, "usb-spool-max") == 0 || strcmp(name, "smartseal-poll") == 0)
	{
		bool		spool = strcmp(name, "usb-spool-max") == 0;

		errno = 0;
		v = strtol(value, &end, 10);
		if (*value == '\0' || *end != '\0' || errno != 0 ||
			(spool ? (v < 4096 || v > 1073741824L) : (v < 0 || v > 86400)))
		{
			fprintf(stderr, "sealpg-agent: %s: %s\n", where,
					spool ? "usb-spool-max must be 4096..1073741824 bytes"
					: "smartseal-poll must be 0..86400 seconds");
			return -1;
		}
		if (spool)
			cfg->spool_max_bytes = v;
		else
			cfg->poll_seconds = (int) v;
		return 1;
	}
	return 0;
}

/* Fill in the defaults that depend on other settings. */
void
usb_config_finish(UsbConfig *cfg, const char *socket_path)
{
	if (cfg->host_name == NULL)
	{
		char		host[HOST_NAME_MAX + 1];

		if (gethostname(host, sizeof(host)) != 0)
			strcpy(host, "localhost");
		host[USB_MAX_HOST] = '\0';
		for (char *c = host; *c; c++)
			if (*c < 0x21 || *c > 0x7E || *c == '\\')
				*c = '_';
		set_str(&cfg->host_name, host);
	}
	if (cfg->spool_path == NULL)
	{
		char	   *copy = strdup(socket_path);
		char		path[PATH_MAX];

		if (copy == NULL)
		{
			fprintf(stderr, "sealpg-agent: out of memory\n");
			exit(1);
		}
		snprintf(path, sizeof(path), "%s/usb-events.spool", dirname(copy));
		free(copy);
		set_str(&cfg->spool_path, path);
	}
	if (cfg->spool_max_bytes == 0)
		cfg->spool_max_bytes = 64L * 1024 * 1024;
}

/* Free the strings of the USB settings. */
void
usb_config_free(UsbConfig *cfg)
{
	free(cfg->db_conninfo);
	free(cfg->host_name);
	free(cfg->spool_path);
	cfg->db_conninfo = cfg->host_name = cfg->spool_path = NULL;
}

/* The configured entry for this vid:pid, or NULL. */
static const UsbMatch *
find_match(uint16_t vid, uint16_t pid)
{
	for (int i = 0; i < config->n_matches; i++)
		if (config->matches[i].vid == vid && config->matches[i].pid == pid)
			return &config->matches[i];
	return NULL;
}

/* Queue a job for the worker (takes a reference on dev). */
static void
queue_job(libusb_device *dev, bool arrived, bool initial)
{
	UsbJob	   *job = calloc(1, sizeof(UsbJob));

	if (job == NULL)
	{
		log_error("usb: out of memory; a device %s was not recorded",
				  arrived ? "arrival" : "departure");
		return;
	}
	job->dev = dev ? libusb_ref_device(dev) : NULL;
	job->arrived = arrived;
	job->initial = initial;
	job->at_us = usb_now_us();
	pthread_mutex_lock(&job_lock);
	if (job_tail)
		job_tail->next = job;
	else
		job_head = job;
	job_tail = job;
	pthread_cond_signal(&job_cond);
	pthread_mutex_unlock(&job_lock);
}

/* libusb hotplug callback (event thread): queue, never block. */
static int	LIBUSB_CALL
hotplug_cb(libusb_context *ctx, libusb_device *dev, libusb_hotplug_event event, void *arg)
{
	struct libusb_device_descriptor d;

	(void) ctx;
	(void) arg;
	if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED)
	{
		if (libusb_get_device_descriptor(dev, &d) != 0 || find_match(d.idVendor, d.idProduct) == NULL)
			return 0;
		queue_job(dev, true, false);
	}
	else if (event == LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT)
		queue_job(dev, false, false);
	return 0;
}

/* Reduce a serial number read from a device to bounded printable ASCII. */
static void
clean_serial(char *s)
{
	for (char *c = s; *c; c++)
		if (*c < 0x21 || *c > 0x7E || *c == '\\')
			*c = '?';
}

/*
 * Read a device's serial number string descriptor into buf ("" if none).
 * A device that has just been plugged in may not answer yet (nor be open
 * to us): I/O, pipe and no-device errors are retried a few times, a
 * quarter of a second apart.
 */
static void
read_serial(libusb_device *dev, uint8_t index, char *buf, size_t buflen)
{
	unsigned char raw[256];
	int			n = LIBUSB_ERROR_IO;

	buf[0] = '\0';
	if (index == 0)
		return;
	for (int attempt = 0; attempt < SERIAL_ATTEMPTS && !atomic_load(&usb_stopping); attempt++)
	{
		libusb_device_handle *h = NULL;

		if (attempt > 0)
			usleep(SERIAL_RETRY_MS * 1000);
		n = libusb_open(dev, &h);
		if (n == 0)
		{
			n = libusb_get_string_descriptor_ascii(h, index, raw, sizeof(raw) - 1);
			libusb_close(h);
		}
		if (n >= 0 || (n != LIBUSB_ERROR_IO && n != LIBUSB_ERROR_PIPE && n != LIBUSB_ERROR_NO_DEVICE))
			break;
	}
	if (n < 0)
	{
		log_warning("usb: cannot read the serial number: %s", libusb_error_name(n));
		return;
	}
	if ((size_t) n >= buflen)
		n = (int) buflen - 1;
	memcpy(buf, raw, (size_t) n);
	buf[n] = '\0';
	clean_serial(buf);
}

/* Handle an arrival (or a device present at start-up). */
static void
handle_arrival(libusb_device *dev, bool initial, int64_t at_us)
{
	struct libusb_device_descriptor d;
	const UsbMatch *m;
	UsbPresent	p;
	bool		added = false;

	if (libusb_get_device_descriptor(dev, &d) != 0 || (m = find_match(d.idVendor, d.idProduct)) == NULL)
		return;
	memset(&p, 0, sizeof(p));
	p.vid = d.idVendor;
	p.pid = d.idProduct;
	p.bus = libusb_get_bus_number(dev);
	p.address = libusb_get_device_address(dev);
	p.kind = m->kind;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < n_table; i++)
		if (table[i].dev == dev)
		{
			pthread_mutex_unlock(&table_lock);
			return;				/* seen by both the listing and hotplug */
		}
	pthread_mutex_unlock(&table_lock);

	read_serial(dev, d.iSerialNumber, p.serial, sizeof(p.serial));

	pthread_mutex_lock(&table_lock);
	if (n_table < USB_MAX_DEVICES)
	{
		table[n_table].dev = libusb_ref_device(dev);
		table[n_table].p = p;
		n_table++;
		added = true;
	}
	pthread_mutex_unlock(&table_lock);
	if (!added)
		log_error("usb: more than %d devices present; %04x:%04x serial \"%s\" not tracked",
				  USB_MAX_DEVICES, p.vid, p.pid, p.serial);

	log_info("usb: %s %s %04x:%04x serial \"%s\" on bus %u address %u",
			 usb_kind_name(p.kind), initial ? "present" : "arrived", p.vid, p.pid, p.serial,
			 p.bus, p.address);
	dblink_event(p.kind, p.vid, p.pid, p.serial, initial ? "present" : "arrived", at_us);
	if (added && p.kind == USB_KIND_SMARTSEAL)
		dblink_read_smartseal(p.bus, p.address, p.serial);
}

/* Handle a departure: forget the device if it was one of ours. */
static void
handle_departure(libusb_device *dev, int64_t at_us)
{
	UsbPresent	p;
	bool		found = false;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < n_table; i++)
		if (table[i].dev == dev)
		{
			p = table[i].p;
			libusb_unref_device(table[i].dev);
			table[i] = table[--n_table];
			found = true;
			break;
		}
	pthread_mutex_unlock(&table_lock);
	if (!found)
		return;
	log_info("usb: %s left %04x:%04x serial \"%s\" (bus %u address %u)",
			 usb_kind_name(p.kind), p.vid, p.pid, p.serial, p.bus, p.address);
	dblink_event(p.kind, p.vid, p.pid, p.serial, "left", at_us);
}

/*
 * The devices found at start-up have all been handled: tell the database
 * which serials of each kind are here, so that what it believes plugged in
 * but is not (it left while no agent watched) is recorded as gone.
 */
static void
report_scan(int64_t at_us)
{
	static char serials[USB_MAX_DEVICES * (USB_MAX_SERIAL + 1) + 1];
	UsbPresent	devs[USB_MAX_DEVICES];
	size_t		n = usb_snapshot(devs, USB_MAX_DEVICES);

	if (n >= USB_MAX_DEVICES)
	{
		log_warning("usb: the device table is full; no start-up scan is reported");
		return;
	}
	for (int kind = USB_KIND_CHIP; kind <= USB_KIND_SMARTSEAL; kind++)
	{
		size_t		len = 0;
		bool		watched = false;

		/* a kind this agent does not watch is not "gone" from its host */
		for (int m = 0; m < config->n_matches; m++)
			watched |= config->matches[m].kind == (UsbKind) kind;
		if (!watched)
			continue;

		serials[0] = '\0';
		for (size_t i = 0; i < n; i++)
		{
			if (devs[i].kind != (UsbKind) kind || devs[i].serial[0] == '\0')
				continue;
			if (len + strlen(devs[i].serial) + 2 > sizeof(serials))
				break;			/* cannot happen: the buffer holds a full table */
			len += (size_t) snprintf(serials + len, sizeof(serials) - len, "%s%s",
									 len > 0 ? " " : "", devs[i].serial);
		}
		dblink_scan((UsbKind) kind, serials, at_us);
	}
}

/* Worker thread: arrivals and departures, in the order they happened. */
static void *
worker_main(void *arg)
{
	(void) arg;
	for (;;)
	{
		UsbJob	   *job;

		pthread_mutex_lock(&job_lock);
		while (job_head == NULL && !atomic_load(&usb_stopping))
			pthread_cond_wait(&job_cond, &job_lock);
		job = job_head;
		if (job != NULL)
		{
			job_head = job->next;
			if (job_head == NULL)
				job_tail = NULL;
		}
		pthread_mutex_unlock(&job_lock);
		if (job == NULL)
			break;				/* stopping and nothing left */
		if (job->dev == NULL)
			report_scan(job->at_us);
		else if (job->arrived)
			handle_arrival(job->dev, job->initial, job->at_us);
		else
			handle_departure(job->dev, job->at_us);
		if (job->dev != NULL)
			libusb_unref_device(job->dev);
		free(job);
	}
	return NULL;
}

/* Event thread: lets libusb deliver hotplug callbacks and transfers. */
static void *
event_main(void *arg)
{
	(void) arg;
	while (!atomic_load(&usb_stopping))
	{
		struct timeval tv = {0, EVENT_POLL_MS * 1000};
		int			rc = libusb_handle_events_timeout_completed(usb_ctx, &tv, NULL);

		if (rc != 0 && rc != LIBUSB_ERROR_INTERRUPTED && rc != LIBUSB_ERROR_TIMEOUT)
		{
			log_warning("usb: event handling: %s", libusb_error_name(rc));
			usleep(EVENT_POLL_MS * 1000);
		}
	}
	return NULL;
}

/* Start the USB threads (after daemonising); false if USB cannot start. */
bool
usb_start(const UsbConfig *cfg)
{
	libusb_device **list;
	ssize_t		n;
	int			rc;

	config = cfg;
	if (cfg->n_matches == 0)
	{
		log_info("usb: no --usb-device configured; USB presence is off");
		return true;
	}
	if (!dblink_start(cfg))
		return false;
	rc = libusb_init(&usb_ctx);
	if (rc != 0)
	{
		log_error("usb: libusb_init: %s", libusb_error_name(rc));
		dblink_stop();
		return false;
	}
	atomic_store(&usb_stopping, false);
	if (pthread_create(&worker_thread, NULL, worker_main, NULL) != 0)
	{
		log_error("usb: cannot start the worker thread");
		libusb_exit(usb_ctx);
		dblink_stop();
		return false;
	}
	if (libusb_has_capability(LIBUSB_CAP_HAS_HOTPLUG))
	{
		rc = libusb_hotplug_register_callback(usb_ctx,
											  LIBUSB_HOTPLUG_EVENT_DEVICE_ARRIVED |
											  LIBUSB_HOTPLUG_EVENT_DEVICE_LEFT,
											  0, LIBUSB_HOTPLUG_MATCH_ANY,
											  LIBUSB_HOTPLUG_MATCH_ANY,
											  LIBUSB_HOTPLUG_MATCH_ANY,
											  hotplug_cb, NULL, &hotplug_handle);
		if (rc == 0)
			hotplug_registered = true;
		else
			log_error("usb: hotplug registration failed: %s; only devices present at start are seen",
					  libusb_error_name(rc));
	}
	else
		log_error("usb: this libusb has no hotplug support; only devices present at start are seen");

	n = libusb_get_device_list(usb_ctx, &list);
	if (n < 0)
		log_warning("usb: cannot list devices: %s", libusb_error_name((int) n));
	else
	{
		for (ssize_t i = 0; i < n; i++)
		{
			struct libusb_device_descriptor d;

			if (libusb_get_device_descriptor(list[i], &d) == 0 &&
				find_match(d.idVendor, d.idProduct) != NULL)
				queue_job(list[i], true, true);
		}
		libusb_free_device_list(list, 1);
		queue_job(NULL, true, true);	/* then report the scan */
	}
	if (pthread_create(&event_thread, NULL, event_main, NULL) != 0)
	{
		log_error("usb: cannot start the event thread");
		atomic_store(&usb_stopping, true);
		pthread_mutex_lock(&job_lock);
		pthread_cond_broadcast(&job_cond);
		pthread_mutex_unlock(&job_lock);
		pthread_join(worker_thread, NULL);
		libusb_exit(usb_ctx);
		dblink_stop();
		return false;
	}
	usb_running = true;
	log_info("usb: watching %d vid:pid entr%s as host \"%s\"", cfg->n_matches,
			 cfg->n_matches == 1 ? "y" : "ies", cfg->host_name);
	return true;
}

/* Stop the threads, drop the table, close libusb. */
void
usb_stop(void)
{
	if (!usb_running)
		return;
	atomic_store(&usb_stopping, true);
	if (hotplug_registered)
		libusb_hotplug_deregister_callback(usb_ctx, hotplug_handle);
	pthread_join(event_thread, NULL);
	pthread_mutex_lock(&job_lock);
	pthread_cond_broadcast(&job_cond);
	pthread_mutex_unlock(&job_lock);
	pthread_join(worker_thread, NULL);
	dblink_stop();
	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < n_table; i++)
		libusb_unref_device(table[i].dev);
	n_table = 0;
	pthread_mutex_unlock(&table_lock);
	libusb_exit(usb_ctx);
	usb_ctx = NULL;
	usb_running = false;
}

/* The devices present now; returns how many were copied. */
size_t
usb_snapshot(UsbPresent *out, size_t max)
{
	size_t		n = 0;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < n_table && n < max; i++)
		out[n++] = table[i].p;
	pthread_mutex_unlock(&table_lock);
	return n;
}

/* USB_LIST: every recognised device present now. */
size_t
usb_handle_list(const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	UsbPresent	devs[USB_MAX_DEVICES];
	const char *why = "";
	FrameWriter w;
	size_t		n;
	int			rc;

	rc = frame_decode_empty(body, len, &why);
	if (rc != 0)
		return frame_encode_error(out, cap, (uint32_t) rc, why);
	n = usb_snapshot(devs, USB_MAX_DEVICES);
	fw_init(&w, out, cap);
	fw_begin(&w, SEALPG_RESP_USB_LIST);
	fw_u16(&w, (uint16_t) n);
	for (size_t i = 0; i < n; i++)
	{
		fw_u16(&w, devs[i].vid);
		fw_u16(&w, devs[i].pid);
		fw_u8(&w, devs[i].bus);
		fw_u8(&w, devs[i].address);
		fw_u8(&w, (uint8_t) devs[i].kind);
		fw_str16(&w, devs[i].serial);
	}
	n = fw_finish(&w);
	if (n == 0)
		return frame_encode_error(out, cap, SEALPG_ERR_INTERNAL, "device list does not fit a frame");
	return n;
}

/* USB_STATUS: whether USB is on, the database link and the spool. */
size_t
usb_handle_status(const uint8_t *body, size_t len, uint8_t *out, size_t cap)
{
	DbLinkStatus st;
	const char *why = "";
	FrameWriter w;
	int			rc;

	rc = frame_decode_empty(body, len, &why);
	if (rc != 0)
		return frame_encode_error(out, cap, (uint32_t) rc, why);
	memset(&st, 0, sizeof(st));
	if (usb_running)
		dblink_status(&st);
	fw_init(&w, out, cap);
	fw_begin(&w, SEALPG_RESP_USB_STATUS);
	fw_u8(&w, usb_running ? 1 : 0);
	fw_u8(&w, st.connected ? 1 : 0);
	fw_u32(&w, st.spooled);
	fw_u32(&w, st.dropped);
	fw_u32(&w, st.sent);
	fw_u32(&w, st.records);
	fw_u32(&w, st.refused);
	fw_str16(&w, st.last_error);
	return fw_finish(&w);
}

/* Open a present smart seal's protocol interface and claim it. */
UsbLink *
usb_link_open(uint8_t bus, uint8_t address, char *err, size_t errlen)
{
	libusb_device *dev = NULL;
	struct libusb_config_descriptor *cd = NULL;
	UsbLink    *link;
	int			rc;

	pthread_mutex_lock(&table_lock);
	for (int i = 0; i < n_table; i++)
		if (table[i].p.bus == bus && table[i].p.address == address &&
			table[i].p.kind == USB_KIND_SMARTSEAL)
			dev = libusb_ref_device(table[i].dev);
	pthread_mutex_unlock(&table_lock);
	if (dev == NULL)
	{
		snprintf(err, errlen, "device %u/%u is no longer present", bus, address);
		return NULL;
	}
	link = calloc(1, sizeof(UsbLink));
	if (link == NULL)
	{
		libusb_unref_device(dev);
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	link->iface = -1;
	rc = libusb_get_active_config_descriptor(dev, &cd);
	if (rc == 0)
	{
		for (int i = 0; i < cd->bNumInterfaces && link->iface < 0; i++)
		{
			const struct libusb_interface *itf = &cd->interface[i];

			for (int a = 0; a < itf->num_altsetting && link->iface < 0; a++)
			{
				const struct libusb_interface_descriptor *id = &itf->altsetting[a];

				if (id->bInterfaceClass != SSP_IFACE_CLASS ||
					id->bInterfaceSubClass != SSP_IFACE_SUBCLASS ||
					id->bInterfaceProtocol != SSP_IFACE_PROTOCOL)
					continue;
				link->ep_in = link->ep_out = 0;
				for (int e = 0; e < id->bNumEndpoints; e++)
				{
					const struct libusb_endpoint_descriptor *ed = &id->endpoint[e];

					if ((ed->bmAttributes & 0x03) != LIBUSB_TRANSFER_TYPE_BULK)
						continue;
					if (ed->bEndpointAddress & LIBUSB_ENDPOINT_IN)
						link->ep_in = ed->bEndpointAddress;
					else
						link->ep_out = ed->bEndpointAddress;
				}
				if (link->ep_in != 0 && link->ep_out != 0)
					link->iface = id->bInterfaceNumber;
			}
		}
		libusb_free_config_descriptor(cd);
	}
	if (link->iface < 0)
	{
		snprintf(err, errlen, "no smart-seal interface (class ff/53/01 with bulk in and out)");
		goto fail;
	}
	rc = libusb_open(dev, &link->handle);
	if (rc != 0)
	{
		snprintf(err, errlen, "cannot open the device: %s", libusb_error_name(rc));
		goto fail;
	}
	rc = libusb_claim_interface(link->handle, link->iface);
	if (rc != 0)
	{
		snprintf(err, errlen, "cannot claim interface %d: %s", link->iface, libusb_error_name(rc));
		libusb_close(link->handle);
		goto fail;
	}
	libusb_unref_device(dev);
	return link;
fail:
	libusb_unref_device(dev);
	free(link);
	return NULL;
}

/* One request out, one answer in (SspExchangeFn over bulk transfers). */
int
usb_link_exchange(void *arg, const uint8_t *req, size_t req_len, uint8_t *resp, size_t cap,
				  size_t *resp_len)
{
	UsbLink    *link = arg;
	int			done = 0;
	int			rc;

	if (req_len > SSP_MAX_MESSAGE || cap > INT_MAX)
		return -1;
	rc = libusb_bulk_transfer(link->handle, link->ep_out, (unsigned char *) req, (int) req_len,
							  &done, SSP_TIMEOUT_MS);
	if (rc != 0 || done != (int) req_len)
	{
		log_warning("usb: smart-seal request not sent: %s", libusb_error_name(rc));
		return -1;
	}
	rc = libusb_bulk_transfer(link->handle, link->ep_in, resp, (int) cap, &done, SSP_TIMEOUT_MS);
	if (rc != 0 || done < 0 || (size_t) done > cap)
	{
		log_warning("usb: smart-seal answer not received: %s", libusb_error_name(rc));
		return -1;
	}
	*resp_len = (size_t) done;
	return 0;
}

/* Release and close a link. */
void
usb_link_close(UsbLink *link)
{
	if (link == NULL)
		return;
	libusb_release_interface(link->handle, link->iface);
	libusb_close(link->handle);
	free(link);
}
