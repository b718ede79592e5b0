/*-------------------------------------------------------------------------
 *
 * usb.h
 *	  USB presence in sealpg-agent: security chips and smart seals found
 *	  through libusb (a configured vid:pid list), their serial numbers,
 *	  hotplug arrivals and departures, the event spool, the database link
 *	  (libpq, role sealpg_agent) and smart-seal reading sessions.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_USB_H
#define SEALPG_USB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define USB_MAX_MATCHES		64
#define USB_MAX_DEVICES		128
#define USB_MAX_SERIAL		126		/* a string descriptor holds 126 UTF-16 units */
#define USB_MAX_HOST		64

/* What a recognised device is. */
typedef enum UsbKind
{
	USB_KIND_CHIP = 1,			/* security chip (PKCS#11 token) */
	USB_KIND_SMARTSEAL = 2		/* smart seal speaking DEVICE-PROTOCOL.md */
} UsbKind;

/* One --usb-device VID:PID:KIND entry. */
typedef struct UsbMatch
{
	uint16_t	vid;
	uint16_t	pid;
	UsbKind		kind;
} UsbMatch;

/* The USB and database settings (flags and config lines). */
typedef struct UsbConfig
{
	UsbMatch	matches[USB_MAX_MATCHES];
	int			n_matches;
	char	   *db_conninfo;	/* --db: libpq connection string */
	char	   *host_name;		/* --host-name: defaults to gethostname() */
	char	   *spool_path;		/* --usb-spool: defaults beside the socket */
	long		spool_max_bytes;	/* --usb-spool-max */
	int			poll_seconds;	/* --smartseal-poll: 0 = read at arrival only */
} UsbConfig;

/* One device present now, as USB_LIST reports it. */
typedef struct UsbPresent
{
	uint16_t	vid;
	uint16_t	pid;
	uint8_t		bus;
	uint8_t		address;
	UsbKind		kind;
	char		serial[USB_MAX_SERIAL + 1];
} UsbPresent;

/*
 * Apply one setting if it is a USB one: 1 applied, 0 not a USB setting,
 * -1 invalid (a message was printed).
 */
extern int	usb_apply_setting(UsbConfig *cfg, const char *name, const char *value,
							  const char *where);
extern void usb_config_finish(UsbConfig *cfg, const char *socket_path);
extern void usb_config_free(UsbConfig *cfg);

/* Start the USB threads (after daemonising); false if USB cannot start. */
extern bool usb_start(const UsbConfig *cfg);
extern void usb_stop(void);

/* The devices present now; returns how many were copied. */
extern size_t usb_snapshot(UsbPresent *out, size_t max);

/* Name of a kind ("chip", "smartseal"). */
extern const char *usb_kind_name(UsbKind kind);
/* Parse "VID:PID:KIND" (hex ids); false if malformed. */
extern bool usb_parse_match(const char *s, UsbMatch *out);

/* Request handlers (called from handlers.c): frame size written to out. */
extern size_t usb_handle_list(const uint8_t *body, size_t len, uint8_t *out, size_t cap);
extern size_t usb_handle_status(const uint8_t *body, size_t len, uint8_t *out, size_t cap);

/* ---- shared by usb.c and dblink.c ---- */

/* An open smart seal's bulk endpoints (usb.c). */
typedef struct UsbLink UsbLink;

extern UsbLink *usb_link_open(uint8_t bus, uint8_t address, char *err, size_t errlen);
extern int	usb_link_exchange(void *link, const uint8_t *req, size_t req_len,
							  uint8_t *resp, size_t cap, size_t *resp_len);
extern void usb_link_close(UsbLink *link);

/* The database link and the event spool (dblink.c). */
typedef struct DbLinkStatus
{
	bool		connected;
	uint32_t	spooled;		/* events waiting in the spool */
	uint32_t	dropped;		/* events refused because the spool was full */
	uint32_t	sent;			/* events the database accepted */
	uint32_t	records;		/* smart-seal records stored */
	uint32_t	refused;		/* smart-seal records with a bad signature */
	char		last_error[200];
} DbLinkStatus;

extern bool dblink_start(const UsbConfig *cfg);
extern void dblink_stop(void);
extern void dblink_event(UsbKind kind, uint16_t vid, uint16_t pid, const char *serial,
						 const char *event, int64_t at_us);
extern void dblink_scan(UsbKind kind, const char *serials, int64_t at_us);
extern void dblink_read_smartseal(uint8_t bus, uint8_t address, const char *serial);
extern void dblink_status(DbLinkStatus *out);
extern int64_t usb_now_us(void);

#endif							/* SEALPG_USB_H */
