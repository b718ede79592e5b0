/*-------------------------------------------------------------------------
 *
 * sealpg.h
 *	  Declarations shared by every file of the sealpg extension: the SE
 *	  SQLSTATE class, the settings (GUCs) and small helpers.
 *
 * The SQLSTATE class "SE" is sealpg's own.  Every refusal that concerns a
 * seal uses one of these codes so that applications can tell them apart
 * without parsing messages.  The README lists them in one table; keep the
 * two in step.
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_H
#define SEALPG_H

#include "postgres.h"

/* ---- seal conditions (SE0xx) ---- */
#define ERRCODE_SEAL_REVOKED				MAKE_SQLSTATE('S','E','0','0','1')
#define ERRCODE_SEAL_FROZEN					MAKE_SQLSTATE('S','E','0','0','2')
#define ERRCODE_SEAL_EXPIRED				MAKE_SQLSTATE('S','E','0','0','3')
#define ERRCODE_SEAL_NOT_GRANTED			MAKE_SQLSTATE('S','E','0','0','4')
#define ERRCODE_SEAL_GRANT_EXHAUSTED		MAKE_SQLSTATE('S','E','0','0','5')
#define ERRCODE_SEAL_ILLEGAL_TRANSITION		MAKE_SQLSTATE('S','E','0','0','6')
#define ERRCODE_SEAL_NOT_FOUND				MAKE_SQLSTATE('S','E','0','0','7')
#define ERRCODE_SEAL_NOT_YET_VALID			MAKE_SQLSTATE('S','E','0','0','8')
#define ERRCODE_SEAL_NOT_ENROLLED			MAKE_SQLSTATE('S','E','0','0','9')

/* ---- the agent and the token (SE1xx) ---- */
#define ERRCODE_SEAL_AGENT_UNAVAILABLE		MAKE_SQLSTATE('S','E','1','0','1')
#define ERRCODE_SEAL_AGENT_TIMEOUT			MAKE_SQLSTATE('S','E','1','0','2')
#define ERRCODE_SEAL_TOKEN_ABSENT			MAKE_SQLSTATE('S','E','1','0','3')
#define ERRCODE_SEAL_AGENT_FAILURE			MAKE_SQLSTATE('S','E','1','0','4')
#define ERRCODE_SEAL_AGENT_PROTOCOL			MAKE_SQLSTATE('S','E','1','0','5')
#define ERRCODE_SEAL_KEY_NOT_IN_CHIP		MAKE_SQLSTATE('S','E','1','0','6')
#define ERRCODE_SEAL_KEY_NOT_FOUND			MAKE_SQLSTATE('S','E','1','0','7')

/* ---- the authority (SE2xx) ---- */
#define ERRCODE_SEAL_NO_AUTHORITY			MAKE_SQLSTATE('S','E','2','0','1')
#define ERRCODE_SEAL_AUTHORITY_EXISTS		MAKE_SQLSTATE('S','E','2','0','2')
#define ERRCODE_SEAL_CRYPTO_FAILURE			MAKE_SQLSTATE('S','E','2','0','3')

/* ---- identity checks and approvals (SE3xx) ---- */
#define ERRCODE_SEAL_NOT_ADMIN				MAKE_SQLSTATE('S','E','3','0','1')
#define ERRCODE_SEAL_SAME_APPROVER			MAKE_SQLSTATE('S','E','3','0','2')
#define ERRCODE_SEAL_APPROVAL_REQUIRED		MAKE_SQLSTATE('S','E','3','0','3')
#define ERRCODE_SEAL_REQUEST_NOT_PENDING	MAKE_SQLSTATE('S','E','3','0','4')

/* ---- the journal (SE4xx) ---- */
#define ERRCODE_SEAL_JOURNAL_APPEND_ONLY	MAKE_SQLSTATE('S','E','4','0','1')
#define ERRCODE_SEAL_JOURNAL_NO_ENTRY		MAKE_SQLSTATE('S','E','4','0','2')
#define ERRCODE_SEAL_JOURNAL_NOT_SEQUENCED	MAKE_SQLSTATE('S','E','4','0','3')
#define ERRCODE_SEAL_TREE_SIZE				MAKE_SQLSTATE('S','E','4','0','4')

/* ---- devices (SE5xx; raised from extension/sql/70_devices.sql) ---- */
#define ERRCODE_SEAL_DEVICE_NOT_BOUND		MAKE_SQLSTATE('S','E','5','0','1')

/* ---- use events and alerts (SE6xx, anomaly.c, alerts.c) ---- */
#define ERRCODE_USE_BAD_LOCATION			MAKE_SQLSTATE('S','E','6','0','1')
#define ERRCODE_USE_IN_FUTURE				MAKE_SQLSTATE('S','E','6','0','2')
#define ERRCODE_USE_BAD_FORCE				MAKE_SQLSTATE('S','E','6','0','3')
#define ERRCODE_USE_NOT_A_NUMBER			MAKE_SQLSTATE('S','E','6','0','4')
#define ERRCODE_USE_BAD_SEQUENCE			MAKE_SQLSTATE('S','E','6','0','5')
#define ERRCODE_ALERT_NOT_FOUND				MAKE_SQLSTATE('S','E','6','0','6')
#define ERRCODE_ALERT_RESOLVED				MAKE_SQLSTATE('S','E','6','0','7')

/* ---- notifications (registry.c) ---- */
/* Version of every JSON payload sealpg sends; listeners check it. */
#define SEALPG_PAYLOAD_VERSION	1
/* NOTIFY refuses payloads of 8000 bytes or more. */
#define SEALPG_PAYLOAD_MAX		8000
extern void sealpg_notify(const char *channel, const char *payload);
extern bool sealpg_valid_time_zone(const char *name);
extern bool sealpg_valid_es_id(const char *es_id);

/* ---- settings (defined in sealpg.c) ---- */
extern char *sealpg_agent_socket;
extern int	sealpg_agent_timeout_ms;
extern char *sealpg_crl_url;
extern char *sealpg_ocsp_url;
extern int	sealpg_crl_validity_s;
extern int	sealpg_ocsp_validity_s;
extern char *sealpg_tsa_policy;
extern int	sealpg_max_clock_skew_s;

#endif							/* SEALPG_H */
