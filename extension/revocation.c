/*-------------------------------------------------------------------------
 *
 * revocation.c
 *	  The sealpg_revocation notification, sent from the status trigger of
 *	  40_revocation.sql through the registry's sealpg_notify().
 *
 * Payload (JSON, version 1, under 8000 bytes): v, seal (uuid), es_id,
 * serial (NULL for a seal never enrolled), reason, reason_code, time,
 * invalidity_date, actor, approver, request, outbox_id (set when an
 * external authority must be told).  PostgreSQL delivers it when, and
 * only if, the revoking transaction commits.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "fmgr.h"
#include "utils/builtins.h"

#include "sealpg.h"

/* sealpg.notify_revocation(payload): queue it on sealpg_revocation. */
PG_FUNCTION_INFO_V1(sealpg_notify_revocation);
Datum
sealpg_notify_revocation(PG_FUNCTION_ARGS)
{
	sealpg_notify("sealpg_revocation", text_to_cstring(PG_GETARG_TEXT_PP(0)));
	PG_RETURN_VOID();
}
