/*-------------------------------------------------------------------------
 *
 * mkdevices.c
 *	  Writes the emulated devices of test/devices/: for each model a
 *	  umockdev description ("device") and usbmon captures (pcap, link type
 *	  220, DLT_USB_LINUX_MMAPPED) that umockdev replays to libusb.
 *
 *	  mkdevices OUTDIR
 *
 * Models (test ids of the pid.codes vendor 0x1209, not allocated devices):
 *   sealchip-a1   1209:0005, a security chip (CCID class); serial.pcap
 *                 answers the string descriptor reads of its serial.
 *   smartseal-s1  1209:0006, a smart seal (DEVICE-PROTOCOL.md, interface
 *                 ff/53/01, bulk 0x01 out / 0x82 in); session.pcap holds
 *                 the serial reads and a whole reading session of three
 *                 signed stamp records; tampered.pcap the same with the
 *                 second record altered after signing; device-key.hex its
 *                 public key (65-byte uncompressed P-256 point, hex).
 *
 * A capture is what usbmon would have recorded had the agent talked to a
 * real device: for every URB a submit ('S') and a completion ('C')
 * packet with the 64-byte mmapped usbmon header, control setup in the
 * header, OUT data on the submit, IN data on the completion.  umockdev
 * replays it in order and checks that what the program submits matches
 * (type, endpoint, length, setup and OUT bytes), so the capture also
 * pins down the exact requests the agent must send.  The device key is
 * made afresh on each run; the files are committed, and regenerating
 * them (make -C test/devices recordings) changes only keys and
 * signatures.
 *
 *-------------------------------------------------------------------------
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>

#include "smartseal.h"

#define BUS					1
#define CHIP_ADDR			2
#define SEAL_ADDR			3
#define CHIP_SERIAL			"SC-A1-000042"
#define SEAL_SERIAL			"SS-S1-000777"
#define LANGID_REQ_LEN		4		/* libusb_get_string_descriptor_ascii asks for */
#define STRING_REQ_LEN		255		/* the language ids, then the string */

/* One open capture. */
typedef struct Pcap
{
	FILE	   *f;
	uint64_t	next_id;
	uint32_t	ts_usec;
	uint8_t		devnum;
} Pcap;

/* Put little-endian integers (usbmon headers are in host order: x86). */
static void
le16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t) v;
	p[1] = (uint8_t) (v >> 8);
}

static void
le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

static void
le64(uint8_t *p, uint64_t v)
{
	for (int i = 0; i < 8; i++)
		p[i] = (uint8_t) (v >> (8 * i));
}

/* Give up with a message. */
static void
die(const char *what)
{
	fprintf(stderr, "mkdevices: %s\n", what);
	exit(1);
}

/* Open a capture: the pcap global header with link type 220. */
static void
pcap_open(Pcap *pc, const char *path, uint8_t devnum)
{
	uint8_t		h[24];

	pc->f = fopen(path, "wb");
	if (pc->f == NULL)
		die(path);
	le32(h, 0xa1b2c3d4);		/* magic, microsecond timestamps */
	le16(h + 4, 2);
	le16(h + 6, 4);
	le32(h + 8, 0);				/* thiszone */
	le32(h + 12, 0);			/* sigfigs */
	le32(h + 16, 65535);		/* snaplen */
	le32(h + 20, 220);			/* LINKTYPE_USB_LINUX_MMAPPED */
	fwrite(h, 1, sizeof(h), pc->f);
	pc->next_id = 0xffff8880c0de0000ULL;
	pc->ts_usec = 0;
	pc->devnum = devnum;
}

/*
 * Write one usbmon packet: event 'S' or 'C', transfer type, endpoint,
 * setup (control submits only), status, urb length and captured data.
 */
static void
pcap_packet(Pcap *pc, uint64_t id, char event, uint8_t xfer, uint8_t ep,
			const uint8_t *setup, int32_t status, uint32_t urb_len,
			const uint8_t *data, uint32_t data_len, char data_flag)
{
	uint8_t		rec[16];
	uint8_t		hdr[64];

	memset(hdr, 0, sizeof(hdr));
	le64(hdr, id);
	hdr[8] = (uint8_t) event;
	hdr[9] = xfer;
	hdr[10] = ep;
	hdr[11] = pc->devnum;
	le16(hdr + 12, BUS);
	hdr[14] = setup ? 0 : '-';
	hdr[15] = data_len > 0 ? 0 : (uint8_t) data_flag;
	le64(hdr + 16, 1764580000 + pc->ts_usec / 1000000);
	le32(hdr + 24, pc->ts_usec % 1000000);
	le32(hdr + 28, (uint32_t) status);
	le32(hdr + 32, urb_len);
	le32(hdr + 36, data_len);
	if (setup)
		memcpy(hdr + 40, setup, 8);
	pc->ts_usec += 1000;

	le32(rec, 1764580000 + pc->ts_usec / 1000000);
	le32(rec + 4, pc->ts_usec % 1000000);
	le32(rec + 8, 64 + data_len);
	le32(rec + 12, 64 + data_len);
	fwrite(rec, 1, sizeof(rec), pc->f);
	fwrite(hdr, 1, sizeof(hdr), pc->f);
	if (data_len > 0)
		fwrite(data, 1, data_len, pc->f);
}

/* A control IN transfer (GET_DESCRIPTOR and the like) answered with data. */
static void
pcap_control_in(Pcap *pc, const uint8_t setup[8], const uint8_t *answer, uint32_t len)
{
	uint64_t	id = pc->next_id++;
	uint32_t	wlength = (uint32_t) setup[6] | ((uint32_t) setup[7] << 8);

	pcap_packet(pc, id, 'S', 2, 0x80, setup, -115, wlength, NULL, 0, '<');
	pcap_packet(pc, id, 'C', 2, 0x80, NULL, 0, len, answer, len, 0);
}

/* A bulk OUT transfer the program must send exactly. */
static void
pcap_bulk_out(Pcap *pc, uint8_t ep, const uint8_t *data, uint32_t len)
{
	uint64_t	id = pc->next_id++;

	pcap_packet(pc, id, 'S', 3, ep, NULL, -115, len, data, len, 0);
	pcap_packet(pc, id, 'C', 3, ep, NULL, 0, len, NULL, 0, '>');
}

/* A bulk IN transfer of cap bytes, answered with data. */
static void
pcap_bulk_in(Pcap *pc, uint8_t ep, uint32_t cap, const uint8_t *data, uint32_t len)
{
	uint64_t	id = pc->next_id++;

	pcap_packet(pc, id, 'S', 3, ep, NULL, -115, cap, NULL, 0, '<');
	pcap_packet(pc, id, 'C', 3, ep, NULL, 0, len, data, len, 0);
}

/* The two control transfers of libusb_get_string_descriptor_ascii(index 3). */
static void
pcap_serial(Pcap *pc, const char *serial)
{
	static const uint8_t langs_setup[8] = {0x80, 0x06, 0x00, 0x03, 0x00, 0x00, LANGID_REQ_LEN, 0x00};
	static const uint8_t langs[4] = {0x04, 0x03, 0x09, 0x04};
	static const uint8_t serial_setup[8] = {0x80, 0x06, 0x03, 0x03, 0x09, 0x04, STRING_REQ_LEN, 0x00};
	uint8_t		desc[2 + 2 * 64];
	size_t		n = strlen(serial);

	desc[0] = (uint8_t) (2 + 2 * n);
	desc[1] = 0x03;
	for (size_t i = 0; i < n; i++)
	{
		desc[2 + 2 * i] = (uint8_t) serial[i];
		desc[3 + 2 * i] = 0;
	}
	pcap_control_in(pc, langs_setup, langs, sizeof(langs));
	pcap_control_in(pc, serial_setup, desc, desc[0]);
}

/* Device + configuration descriptors of a model; returns their length. */
static size_t
descriptors(uint8_t *d, uint16_t pid, uint8_t cls, uint8_t sub, uint8_t proto)
{
	static const uint8_t dev[18] = {18, 1, 0x00, 0x02, 0, 0, 0, 64, 0x09, 0x12, 0, 0,
	0x00, 0x01, 1, 2, 3, 1};
	static const uint8_t cfg[9] = {9, 2, 32, 0, 1, 1, 0, 0x80, 50};
	uint8_t		itf[9] = {9, 4, 0, 0, 2, 0, 0, 0, 0};
	static const uint8_t ep_out[7] = {7, 5, 0x01, 0x02, 64, 0, 0};
	static const uint8_t ep_in[7] = {7, 5, 0x82, 0x02, 64, 0, 0};

	memcpy(d, dev, 18);
	le16(d + 10, pid);
	memcpy(d + 18, cfg, 9);
	itf[5] = cls;
	itf[6] = sub;
	itf[7] = proto;
	memcpy(d + 27, itf, 9);
	memcpy(d + 36, ep_out, 7);
	memcpy(d + 43, ep_in, 7);
	return 50;
}

/* Write a umockdev device description. */
static void
write_description(const char *path, const char *port, uint8_t devnum, uint16_t pid,
				  const char *product, const char *serial, const uint8_t *desc, size_t desc_len)
{
	FILE	   *f = fopen(path, "w");
	char		hex[2 * 64 + 1];

	if (f == NULL)
		die(path);
	for (size_t i = 0; i < desc_len; i++)
		sprintf(hex + 2 * i, "%02X", desc[i]);	/* umockdev wants upper case */
	fprintf(f, "P: /devices/pci0000:00/0000:00:14.0/usb1/%s\n", port);
	fprintf(f, "N: bus/usb/%03d/%03d=%s\n", BUS, devnum, hex);
	fprintf(f, "E: BUSNUM=%03d\nE: DEVNUM=%03d\n", BUS, devnum);
	fprintf(f, "E: DEVNAME=/dev/bus/usb/%03d/%03d\n", BUS, devnum);
	fprintf(f, "E: DEVTYPE=usb_device\nE: DRIVER=usb\n");
	fprintf(f, "E: ID_VENDOR_ID=1209\nE: ID_MODEL_ID=%04x\n", pid);
	fprintf(f, "E: ID_SERIAL_SHORT=%s\n", serial);
	fprintf(f, "E: PRODUCT=1209/%x/100\nE: SUBSYSTEM=usb\n", pid);
	fprintf(f, "A: busnum=%d\\n\nA: devnum=%d\\n\n", BUS, devnum);
	fprintf(f, "A: idVendor=1209\\n\nA: idProduct=%04x\\n\n", pid);
	fprintf(f, "A: manufacturer=sealpg test devices\\n\nA: product=%s\\n\n", product);
	fprintf(f, "A: serial=%s\\n\nA: speed=12\\n\nA: bConfigurationValue=1\\n\n", serial);
	fprintf(f, "H: descriptors=%s\n", hex);
	fclose(f);
}

/* Sign a record's bytes: ECDSA P-256 over SHA-256, raw r || s. */
static void
sign_record(EVP_PKEY *key, const uint8_t *data, size_t len, uint8_t sig[SSP_SIG_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	uint8_t		der[80];
	size_t		der_len = sizeof(der);
	const uint8_t *p = der;
	ECDSA_SIG  *es;
	const BIGNUM *r,
			   *s;

	if (md == NULL || EVP_DigestSignInit(md, NULL, EVP_sha256(), NULL, key) != 1 ||
		EVP_DigestSign(md, der, &der_len, data, len) != 1)
		die("signing failed");
	EVP_MD_CTX_free(md);
	es = d2i_ECDSA_SIG(NULL, &p, (long) der_len);
	if (es == NULL)
		die("bad signature encoding");
	ECDSA_SIG_get0(es, &r, &s);
	if (BN_bn2binpad(r, sig, 32) != 32 || BN_bn2binpad(s, sig + 32, 32) != 32)
		die("signature does not fit");
	ECDSA_SIG_free(es);
}

/* Write a whole smart-seal reading session; tamper alters record 2 after signing. */
static void
write_session(const char *path, EVP_PKEY *key, const uint8_t pub[SSP_PUBKEY_LEN], bool tamper)
{
	Pcap		pc;
	uint8_t		req[64];
	uint8_t		resp[SSP_MAX_MESSAGE];
	uint8_t		recs[3][SSP_MAX_RECORD];
	size_t		rec_lens[3];
	uint8_t		sigs[3][SSP_SIG_LEN];
	const uint8_t *rec_ptrs[3];
	const uint8_t *sig_ptrs[3];
	SspInfo		info;
	size_t		n;

	pcap_open(&pc, path, SEAL_ADDR);
	pcap_serial(&pc, SEAL_SERIAL);

	memset(&info, 0, sizeof(info));
	strcpy(info.model, "smartseal-s1");
	strcpy(info.serial, SEAL_SERIAL);
	strcpy(info.firmware, "1.0.3");
	info.key_alg = SSP_KEY_ECDSA_P256;
	memcpy(info.public_key, pub, SSP_PUBKEY_LEN);
	info.first_seq = 1;
	info.next_seq = 4;
	n = ssp_encode_get_info(req, sizeof(req), 1);
	pcap_bulk_out(&pc, 0x01, req, (uint32_t) n);
	n = ssp_encode_info(resp, sizeof(resp), 1, &info);
	pcap_bulk_in(&pc, 0x82, SSP_MAX_MESSAGE, resp, (uint32_t) n);

	for (int i = 0; i < 3; i++)
	{
		SspRecord	r;

		memset(&r, 0, sizeof(r));
		strcpy(r.serial, SEAL_SERIAL);
		r.seq = (uint64_t) i + 1;
		/* 2025-12-01 09:15 UTC plus ten minutes per stamp */
		r.time_us = (INT64_C(1764580500) + 600 * i) * 1000000;
		r.lat_e7 = 525200000 + 150 * i;
		r.lon_e7 = 134050000 - 120 * i;
		r.accuracy_m = 8;
		r.force_dn = (uint16_t) (412 + 9 * i);
		strcpy(r.operator_id, "OP-4711");
		rec_lens[i] = ssp_encode_record(recs[i], sizeof(recs[i]), &r);
		if (rec_lens[i] == 0)
			die("record does not encode");
		sign_record(key, recs[i], rec_lens[i], sigs[i]);
		rec_ptrs[i] = recs[i];
		sig_ptrs[i] = sigs[i];
	}
	if (tamper)
		recs[1][rec_lens[1] - 1 - 7 - 1 - 1] ^= 0x01;	/* the force, after signing */

	n = ssp_encode_read_records(req, sizeof(req), 2, 1, SSP_MAX_BATCH);
	pcap_bulk_out(&pc, 0x01, req, (uint32_t) n);
	n = ssp_encode_records(resp, sizeof(resp), 2, 3, rec_ptrs, rec_lens, sig_ptrs);
	pcap_bulk_in(&pc, 0x82, SSP_MAX_MESSAGE, resp, (uint32_t) n);

	n = ssp_encode_ack(req, sizeof(req), 3, 3);
	pcap_bulk_out(&pc, 0x01, req, (uint32_t) n);
	n = ssp_encode_acked(resp, sizeof(resp), 3, 4);
	pcap_bulk_in(&pc, 0x82, SSP_MAX_MESSAGE, resp, (uint32_t) n);
	fclose(pc.f);
}

/* Write every model's files under outdir. */
int
main(int argc, char **argv)
{
	char		path[4096];
	uint8_t		desc[64];
	size_t		len;
	Pcap		pc;
	EVP_PKEY   *key;
	uint8_t		pub[SSP_PUBKEY_LEN];
	size_t		pub_len = 0;
	FILE	   *f;

	if (argc != 2)
	{
		fprintf(stderr, "usage: mkdevices OUTDIR\n");
		return 2;
	}

	/* sealchip-a1 */
	snprintf(path, sizeof(path), "%s/sealchip-a1", argv[1]);
	mkdir(path, 0755);
	len = descriptors(desc, 0x0005, 0x0B, 0x00, 0x00);
	snprintf(path, sizeof(path), "%s/sealchip-a1/device", argv[1]);
	write_description(path, "1-1", CHIP_ADDR, 0x0005, "sealchip A1", CHIP_SERIAL, desc, len);
	snprintf(path, sizeof(path), "%s/sealchip-a1/serial.pcap", argv[1]);
	pcap_open(&pc, path, CHIP_ADDR);
	pcap_serial(&pc, CHIP_SERIAL);
	fclose(pc.f);

	/* smartseal-s1 */
	snprintf(path, sizeof(path), "%s/smartseal-s1", argv[1]);
	mkdir(path, 0755);
	len = descriptors(desc, 0x0006, SSP_IFACE_CLASS, SSP_IFACE_SUBCLASS, SSP_IFACE_PROTOCOL);
	snprintf(path, sizeof(path), "%s/smartseal-s1/device", argv[1]);
	write_description(path, "1-2", SEAL_ADDR, 0x0006, "smartseal S1", SEAL_SERIAL, desc, len);

	key = EVP_EC_gen("P-256");
	if (key == NULL ||
		EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, pub, sizeof(pub), &pub_len) != 1 ||
		pub_len != SSP_PUBKEY_LEN)
		die("cannot make the device key");
	snprintf(path, sizeof(path), "%s/smartseal-s1/device-key.hex", argv[1]);
	f = fopen(path, "w");
	if (f == NULL)
		die(path);
	for (size_t i = 0; i < pub_len; i++)
		fprintf(f, "%02x", pub[i]);
	fprintf(f, "\n");
	fclose(f);
	snprintf(path, sizeof(path), "%s/smartseal-s1/session.pcap", argv[1]);
	write_session(path, key, pub, false);
	snprintf(path, sizeof(path), "%s/smartseal-s1/tampered.pcap", argv[1]);
	write_session(path, key, pub, true);
	EVP_PKEY_free(key);
	return 0;
}
