/*-------------------------------------------------------------------------
 *
 * hotplug_test.c
 *	  The agent's own USB code (agent/usb.c) against emulated devices in a
 *	  umockdev testbed: a chip present at start is listed with the serial
 *	  number read through libusb (pcap replay of its string descriptors),
 *	  its departure arrives through libusb hotplug, a smart seal plugged
 *	  in later arrives with its serial, a device missing from the vid:pid
 *	  list is ignored.  Run under umockdev-wrapper:
 *
 *	  umockdev-wrapper hotplug_test DEVDIR
 *
 * Prints one line per check and "N passed, N failed"; exits 77 (skip)
 * when not under umockdev-wrapper, 1 on a failure.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <umockdev.h>

#include "log.h"
#include "usb.h"

#define CHIP_SYS	"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-1"
#define SEAL_SYS	"/sys/devices/pci0000:00/0000:00:14.0/usb1/1-2"

static int	passed = 0;
static int	failed = 0;

/* Record one check. */
static void
check(int ok, const char *what)
{
	if (ok)
		passed++;
	else
		failed++;
	printf("%s - %s\n", ok ? "ok" : "not ok", what);
}

/* Plug a model in, with a recording; false if umockdev refuses. */
static bool
plug(UMockdevTestbed *tb, const char *dir, const char *model, const char *sys, const char *pcap)
{
	char		path[4096];
	gchar	   *text = NULL;
	GError	   *err = NULL;
	bool		ok;

	snprintf(path, sizeof(path), "%s/%s/device", dir, model);
	if (!g_file_get_contents(path, &text, NULL, NULL))
		return false;
	ok = umockdev_testbed_add_from_string(tb, text, &err);
	g_free(text);
	if (ok && pcap != NULL)
	{
		snprintf(path, sizeof(path), "%s/%s/%s", dir, model, pcap);
		ok = umockdev_testbed_load_pcap(tb, sys, path, &err);
	}
	if (err != NULL)
	{
		fprintf(stderr, "umockdev: %s\n", err->message);
		g_error_free(err);
	}
	return ok;
}

/* Wait up to 5 s until the table holds count devices; the first one in *out. */
static bool
wait_for(size_t count, UsbPresent *out, const char *serial)
{
	UsbPresent	devs[USB_MAX_DEVICES];

	for (int i = 0; i < 100; i++)
	{
		size_t		n = usb_snapshot(devs, USB_MAX_DEVICES);

		if (n == count && (count == 0 || serial == NULL || strcmp(devs[0].serial, serial) == 0))
		{
			if (count > 0 && out != NULL)
				*out = devs[0];
			return true;
		}
		usleep(50000);
	}
	return false;
}

/* Run the checks. */
int
main(int argc, char **argv)
{
	UMockdevTestbed *tb;
	UsbConfig	cfg;
	UsbPresent	p;
	const char *preload = getenv("LD_PRELOAD");

	if (argc != 2)
	{
		fprintf(stderr, "usage: umockdev-wrapper hotplug_test DEVDIR\n");
		return 2;
	}
	if (preload == NULL || strstr(preload, "libumockdev-preload") == NULL)
	{
		printf("SKIP: not under umockdev-wrapper (libumockdev-preload is not loaded)\n");
		return 77;
	}
	log_setup(LOG_LEVEL_WARNING, false);
	tb = umockdev_testbed_new();

	check(plug(tb, argv[1], "sealchip-a1", CHIP_SYS, "serial.pcap"), "the emulated chip is plugged in");

	memset(&cfg, 0, sizeof(cfg));
	cfg.n_matches = 2;
	check(usb_parse_match("1209:0005:chip", &cfg.matches[0]) &&
		  usb_parse_match("1209:6:smartseal", &cfg.matches[1]), "the vid:pid list parses");
	check(!usb_parse_match("1209:0005", &cfg.matches[2]) &&
		  !usb_parse_match("12345:1:chip", &cfg.matches[2]) &&
		  !usb_parse_match("1209:1:dongle", &cfg.matches[2]), "malformed entries are refused");
	usb_config_finish(&cfg, "/nonexistent/agent.sock");
	check(usb_start(&cfg), "the agent's USB code starts (libusb, hotplug)");

	check(wait_for(1, &p, "SC-A1-000042"), "the chip present at start is listed with the serial read through libusb");
	check(p.vid == 0x1209 && p.pid == 0x0005 && p.bus == 1 && p.address == 2 && p.kind == USB_KIND_CHIP,
		  "with its ids, bus, address and kind");

	umockdev_testbed_uevent(tb, CHIP_SYS, "remove");
	umockdev_testbed_remove_device(tb, CHIP_SYS);
	check(wait_for(0, NULL, NULL), "its removal arrives through libusb hotplug (LEFT)");

	check(plug(tb, argv[1], "smartseal-s1", SEAL_SYS, "session.pcap"), "a smart seal is plugged in");
	check(wait_for(1, &p, "SS-S1-000777"), "its arrival arrives through hotplug (ARRIVED) with its serial");
	check(p.kind == USB_KIND_SMARTSEAL && p.address == 3, "as a smart seal at address 3");
	umockdev_testbed_uevent(tb, SEAL_SYS, "remove");
	umockdev_testbed_remove_device(tb, SEAL_SYS);
	check(wait_for(0, NULL, NULL), "and it leaves");

	usb_stop();
	cfg.n_matches = 1;			/* chips only */
	check(plug(tb, argv[1], "smartseal-s1", SEAL_SYS, NULL), "a smart seal is plugged in again");
	check(usb_start(&cfg), "the USB code restarts watching chips only");
	usleep(500000);
	check(wait_for(0, NULL, NULL), "a device missing from the vid:pid list is ignored");
	usb_stop();
	usb_config_free(&cfg);
	g_object_unref(tb);

	printf("%d passed, %d failed\n", passed, failed);
	return failed == 0 ? 0 : 1;
}
