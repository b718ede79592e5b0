/*-------------------------------------------------------------------------
 *
 * smartseal.h
 *	  The open smart-seal protocol (agent/DEVICE-PROTOCOL.md): wire
 *	  constants, a pure codec of its messages and stamp records, the
 *	  record signature check, and the host side of one reading session.
 *
 * Nothing here knows libusb or libpq: a session talks to the device
 * through an exchange callback and hands records to a submit callback, so
 * that the unit tests drive it with an emulated device (and with garbage)
 * and the daemon drives it with libusb bulk transfers (usb.c).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_SMARTSEAL_H
#define SEALPG_SMARTSEAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- USB identity of the protocol's interface ---- */
#define SSP_IFACE_CLASS			0xFF	/* vendor specific */
#define SSP_IFACE_SUBCLASS		0x53	/* 'S' */
#define SSP_IFACE_PROTOCOL		0x01

/* ---- message framing ---- */
#define SSP_MAGIC0				0x53	/* 'S' */
#define SSP_MAGIC1				0x53	/* 'S' */
#define SSP_VERSION				1
#define SSP_HDR_SIZE			8		/* magic(2) version type tag(2) length(2) */
#define SSP_MAX_MESSAGE			4096	/* header included, both directions */
#define SSP_MAX_BATCH			8		/* records per READ_RECORDS answer */
#define SSP_TIMEOUT_MS			2000	/* per bulk transfer */

/* ---- message types ---- */
#define SSP_GET_INFO			0x01
#define SSP_READ_RECORDS		0x02
#define SSP_ACK					0x03
#define SSP_RESP_FLAG			0x80
#define SSP_INFO				(SSP_GET_INFO | SSP_RESP_FLAG)
#define SSP_RECORDS				(SSP_READ_RECORDS | SSP_RESP_FLAG)
#define SSP_ACKED				(SSP_ACK | SSP_RESP_FLAG)
#define SSP_ERROR				0xFF

/* ---- device error codes (ERROR message) ---- */
#define SSP_ERR_BAD_MESSAGE		1
#define SSP_ERR_UNKNOWN_TYPE	2
#define SSP_ERR_BAD_SEQ			3
#define SSP_ERR_STORAGE			4

/* ---- key algorithms (INFO) ---- */
#define SSP_KEY_ECDSA_P256		1

/* ---- stamp records ---- */
#define SSP_RECORD_MAGIC		"SSR1"
#define SSP_MAX_ID				32		/* serial, model, operator id */
#define SSP_MAX_FIRMWARE		16
#define SSP_PUBKEY_LEN			65		/* uncompressed P-256 point */
#define SSP_SIG_LEN				64		/* r || s */
#define SSP_NO_COORD			INT32_MIN
#define SSP_NO_U16				0xFFFF
#define SSP_MIN_RECORD			(4 + 1 + 1 + 8 + 8 + 4 + 4 + 2 + 2 + 1)
#define SSP_MAX_RECORD			(SSP_MIN_RECORD - 1 + SSP_MAX_ID + SSP_MAX_ID)

_Static_assert(SSP_HDR_SIZE + 1 + SSP_MAX_BATCH * (2 + SSP_MAX_RECORD + 2 + SSP_SIG_LEN)
			   <= SSP_MAX_MESSAGE, "a full batch fits one message");
_Static_assert(SSP_MAX_MESSAGE - SSP_HDR_SIZE <= UINT16_MAX,
			   "body length fits the u16 field");

/* What GET_INFO reports. */
typedef struct SspInfo
{
	char		model[SSP_MAX_ID + 1];
	char		serial[SSP_MAX_ID + 1];
	char		firmware[SSP_MAX_FIRMWARE + 1];
	uint8_t		key_alg;
	uint8_t		public_key[SSP_PUBKEY_LEN];
	uint64_t	first_seq;		/* oldest record not yet acknowledged */
	uint64_t	next_seq;		/* sequence number the next stamp gets */
} SspInfo;

/* One stamp record, decoded; signed and signature point into the message. */
typedef struct SspRecord
{
	char		serial[SSP_MAX_ID + 1];
	uint64_t	seq;
	int64_t		time_us;		/* microseconds since 1970-01-01 UTC */
	int32_t		lat_e7;			/* degrees x 1e7, SSP_NO_COORD if unknown */
	int32_t		lon_e7;
	uint16_t	accuracy_m;		/* SSP_NO_U16 if unknown */
	uint16_t	force_dn;		/* decinewtons, SSP_NO_U16 if unknown */
	char		operator_id[SSP_MAX_ID + 1];
	const uint8_t *signed_data;
	size_t		signed_len;
	const uint8_t *signature;
	size_t		signature_len;
} SspRecord;

/* Host-side requests: message size, or 0 when cap is too small. */
extern size_t ssp_encode_get_info(uint8_t *buf, size_t cap, uint16_t tag);
extern size_t ssp_encode_read_records(uint8_t *buf, size_t cap, uint16_t tag,
									  uint64_t from_seq, uint8_t max);
extern size_t ssp_encode_ack(uint8_t *buf, size_t cap, uint16_t tag, uint64_t seq);

/* Device-side answers (the emulator and the recording generator use them). */
extern size_t ssp_encode_info(uint8_t *buf, size_t cap, uint16_t tag, const SspInfo *info);
extern size_t ssp_encode_record(uint8_t *buf, size_t cap, const SspRecord *rec);
extern size_t ssp_encode_records(uint8_t *buf, size_t cap, uint16_t tag, int count,
								 const uint8_t *const *records, const size_t *record_lens,
								 const uint8_t *const *sigs);
extern size_t ssp_encode_acked(uint8_t *buf, size_t cap, uint16_t tag, uint64_t first_seq);
extern size_t ssp_encode_error(uint8_t *buf, size_t cap, uint16_t tag, uint8_t code,
							   const char *message);
extern bool ssp_decode_request(const uint8_t *msg, size_t len, uint8_t *type, uint16_t *tag,
							   uint64_t *seq, uint8_t *max);

/* Decoders: true when well formed; *why says what is wrong otherwise. */
extern bool ssp_decode_header(const uint8_t *msg, size_t len, uint8_t *type, uint16_t *tag,
							  const uint8_t **body, size_t *body_len, const char **why);
extern bool ssp_decode_info(const uint8_t *body, size_t len, SspInfo *out, const char **why);
extern bool ssp_decode_record(const uint8_t *rec, size_t len, SspRecord *out, const char **why);
extern bool ssp_decode_acked(const uint8_t *body, size_t len, uint64_t *first_seq,
							 const char **why);

/* ECDSA P-256 / SHA-256 check of a record's signature against a public key. */
extern bool ssp_verify_record(const uint8_t *public_key, size_t public_key_len,
							  const SspRecord *rec);

/* Is this string a printable-ASCII identifier (1..SSP_MAX_ID bytes)? */
extern bool ssp_valid_id(const uint8_t *s, size_t len, bool allow_empty);

/*
 * One reading session.  exchange sends one request message and receives
 * one answer (0, or -1 on a transport failure).  submit hands one record
 * to the database: verified says whether its signature checked out; it
 * returns false when the record could not be stored (the session then
 * stops without acknowledging it, so the device keeps it).
 */
typedef int (*SspExchangeFn) (void *ctx, const uint8_t *req, size_t req_len,
							  uint8_t *resp, size_t cap, size_t *resp_len);
typedef bool (*SspSubmitFn) (void *ctx, const SspRecord *rec, bool verified);

typedef struct SspSession
{
	SspExchangeFn exchange;
	void	   *exchange_ctx;
	SspSubmitFn submit;
	void	   *submit_ctx;
	const char *expected_serial;	/* from the USB string descriptor */
	const uint8_t *public_key;	/* registered in the database */
	size_t		public_key_len;
	/* results */
	SspInfo		info;
	int			stored;			/* records accepted and acknowledged */
	int			refused;		/* records with a bad signature (stored as evidence) */
	char		error[256];		/* why the session stopped early, or "" */
} SspSession;

/* GET_INFO alone (to show an unbound device's key); false on error. */
extern bool ssp_read_info(SspSession *s);
/* Read, check, submit and acknowledge every pending record; false on error. */
extern bool ssp_session_run(SspSession *s);

#endif							/* SEALPG_SMARTSEAL_H */
