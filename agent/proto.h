/*-------------------------------------------------------------------------
 *
 * proto.h
 *	  Wire constants of the sealpg-agent protocol, shared by the agent
 *	  (agent/) and the backend-side client (extension/agent_client.c).
 *
 * A frame is "u32 length (big-endian) | u8 type | body"; length counts the
 * type byte and the body.  Every multi-byte integer is big-endian.  Strings
 * and blobs inside bodies carry a u16 (or, for SIGN input, u32) length.
 * agent/PROTOCOL.md describes every body; keep the two in step.
 *
 * This header must stay free of any dependency beyond <stdint.h>, so that
 * it can be included both by the daemon and by a PostgreSQL backend.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_AGENT_PROTO_H
#define SEALPG_AGENT_PROTO_H

#include <stdint.h>

/* The protocol version spoken by this build (HELLO carries it). */
#define SEALPG_PROTO_VERSION		1

/* Largest frame length (type + body) either side accepts. */
#define SEALPG_MAX_FRAME			65536

/* Size of the length prefix and of the fixed frame header. */
#define SEALPG_LEN_SIZE				4
#define SEALPG_HDR_SIZE				5

/* ---- request types (client -> agent) ---- */
#define SEALPG_REQ_HELLO			0x01
#define SEALPG_REQ_LIST_TOKENS		0x02
#define SEALPG_REQ_KEYGEN			0x03
#define SEALPG_REQ_SIGN				0x04
#define SEALPG_REQ_PUBKEY			0x05
#define SEALPG_REQ_KEYATTRS			0x06

/*
 * 0x10..0x1F are reserved for USB presence requests.  USB_LIST and
 * USB_STATUS are defined (usb.c); the rest of the range is answered with
 * SEALPG_ERR_UNKNOWN_TYPE.
 */
#define SEALPG_REQ_RESERVED_USB_FIRST	0x10
#define SEALPG_REQ_RESERVED_USB_LAST	0x1F
#define SEALPG_REQ_USB_LIST			0x10
#define SEALPG_REQ_USB_STATUS		0x11

/* ---- response types (agent -> client): request type | 0x80 ---- */
#define SEALPG_RESP_FLAG			0x80
#define SEALPG_RESP_HELLO			(SEALPG_REQ_HELLO | SEALPG_RESP_FLAG)
#define SEALPG_RESP_TOKENS			(SEALPG_REQ_LIST_TOKENS | SEALPG_RESP_FLAG)
#define SEALPG_RESP_KEYGEN			(SEALPG_REQ_KEYGEN | SEALPG_RESP_FLAG)
#define SEALPG_RESP_SIGN			(SEALPG_REQ_SIGN | SEALPG_RESP_FLAG)
#define SEALPG_RESP_PUBKEY			(SEALPG_REQ_PUBKEY | SEALPG_RESP_FLAG)
#define SEALPG_RESP_KEYATTRS		(SEALPG_REQ_KEYATTRS | SEALPG_RESP_FLAG)
#define SEALPG_RESP_USB_LIST		(SEALPG_REQ_USB_LIST | SEALPG_RESP_FLAG)
#define SEALPG_RESP_USB_STATUS		(SEALPG_REQ_USB_STATUS | SEALPG_RESP_FLAG)
#define SEALPG_RESP_ERROR			0xFF

/* ---- device kinds (USB_LIST response) ---- */
#define SEALPG_USB_KIND_CHIP		1
#define SEALPG_USB_KIND_SMARTSEAL	2

/* ---- error codes carried by an ERROR frame ---- */
#define SEALPG_ERR_BAD_FRAME		1	/* malformed body or header */
#define SEALPG_ERR_UNKNOWN_TYPE		2	/* request type not known */
#define SEALPG_ERR_VERSION			3	/* protocol version unsupported */
#define SEALPG_ERR_BAD_ARGS			4	/* well-formed but invalid values */
#define SEALPG_ERR_NO_TOKEN			5	/* no token with that label present */
#define SEALPG_ERR_NO_KEY			6	/* no key with that id on the token */
#define SEALPG_ERR_PKCS11			7	/* module failure; message has CKR */
#define SEALPG_ERR_NOT_LOGGED_IN	8	/* no PIN for the token, or refused */
#define SEALPG_ERR_TOO_LARGE		9	/* frame length over the maximum */
#define SEALPG_ERR_HELLO_REQUIRED	10	/* request before the handshake */
#define SEALPG_ERR_NOT_ALLOWED		11	/* peer uid not allowed */
#define SEALPG_ERR_INTERNAL			12	/* agent-side failure (memory...) */
#define SEALPG_ERR_BUSY				13	/* too many connections */

/* ---- algorithms (KEYGEN) ---- */
#define SEALPG_ALG_EC_P256			1
#define SEALPG_ALG_ED25519			2

/* ---- signing mechanisms (SIGN) ---- */
#define SEALPG_MECH_ECDSA			1	/* input is a digest; raw r||s out */
#define SEALPG_MECH_EDDSA			2	/* input is the message (PureEdDSA) */

/* ---- key attribute bits (KEYGEN, PUBKEY, KEYATTRS responses) ---- */
#define SEALPG_ATTR_SENSITIVE			0x01
#define SEALPG_ATTR_EXTRACTABLE			0x02
#define SEALPG_ATTR_NEVER_EXTRACTABLE	0x04
#define SEALPG_ATTR_ALWAYS_SENSITIVE	0x08
#define SEALPG_ATTR_LOCAL				0x10

/* ---- token flag bits (LIST_TOKENS response) ---- */
#define SEALPG_TOKEN_PRESENT		0x01
#define SEALPG_TOKEN_INITIALIZED	0x02
#define SEALPG_TOKEN_LOGIN_REQUIRED	0x04

/* ---- field limits ---- */
#define SEALPG_KEY_ID_LEN			16	/* CKA_ID of generated keys */
#define SEALPG_MAX_KEY_ID			64	/* longest CKA_ID accepted */
#define SEALPG_MAX_LABEL			32	/* PKCS#11 token label field */
#define SEALPG_MAX_KEY_LABEL		128
#define SEALPG_MAX_DIGEST			64	/* ECDSA input: SHA-512 at most */
#define SEALPG_MAX_SIGNATURE		512

/* The wire layout relies on these; a change is a protocol change. */
_Static_assert(SEALPG_HDR_SIZE == SEALPG_LEN_SIZE + 1,
			   "header is length plus one type byte");
_Static_assert(SEALPG_MAX_FRAME <= UINT32_MAX - SEALPG_LEN_SIZE,
			   "frame length fits the u32 prefix");
_Static_assert(SEALPG_MAX_FRAME >= 4096,
			   "frames must hold a certificate-sized SPKI and signature");
_Static_assert((SEALPG_REQ_KEYATTRS & SEALPG_RESP_FLAG) == 0,
			   "request types stay below the response flag");
_Static_assert(SEALPG_REQ_RESERVED_USB_LAST < SEALPG_RESP_FLAG,
			   "reserved USB requests stay below the response flag");
_Static_assert(SEALPG_MAX_LABEL <= UINT16_MAX &&
			   SEALPG_MAX_KEY_LABEL <= UINT16_MAX &&
			   SEALPG_MAX_SIGNATURE <= UINT16_MAX,
			   "u16-length fields fit their prefix");
_Static_assert(sizeof(uint32_t) == SEALPG_LEN_SIZE,
			   "length prefix is a u32");

#endif							/* SEALPG_AGENT_PROTO_H */
