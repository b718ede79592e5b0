/*-------------------------------------------------------------------------
 *
 * registry.c
 *	  The seal registry's guard: validation of seal rows, the status state
 *	  machine, the status history and the sealpg_status notification.
 *
 * One C trigger function, sealpg.seal_guard(), is attached to sealpg.seals
 * twice.  BEFORE INSERT OR UPDATE it validates the row (time zone, home
 * location, validity window) and refuses illegal status transitions:
 *
 *		active  -> frozen | revoked | expired
 *		frozen  -> active | revoked | expired
 *		revoked, expired: terminal
 *
 * "expired" is only reachable once the validity window has ended.  AFTER
 * INSERT OR UPDATE it writes the transition to sealpg.seal_status_history
 * and queues a JSON notification on channel sealpg_status, which
 * PostgreSQL delivers when (and only if) the transaction commits.
 *
 * The same rules apply to the API functions and to plain INSERT/UPDATE,
 * since both go through the trigger.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <ctype.h>
#include <math.h>

#include "access/htup_details.h"
#include "catalog/pg_type.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "pgtime.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "sealpg.h"

/* Is the name an IANA zone PostgreSQL knows (not a POSIX TZ spec)? */
bool
sealpg_valid_time_zone(const char *name)
{
	const char *p;
	bool		has_digit = false;

	if (name == NULL || name[0] == '\0' || name[0] == ':' || strlen(name) > 64)
		return false;
	for (p = name; *p; p++)
	{
		if (!(isalnum((unsigned char) *p) || *p == '/' || *p == '_' ||
			  *p == '-' || *p == '+'))
			return false;
		if (isdigit((unsigned char) *p))
			has_digit = true;
	}
	/* "UTC+3", "EST5" and the like are POSIX specifications, not zones */
	if (has_digit && strchr(name, '/') == NULL)
		return false;
	return pg_tzset(name) != NULL;
}

/* Is the text a well-formed esID (1..64 of [A-Za-z0-9._:-], alnum first)? */
bool
sealpg_valid_es_id(const char *es_id)
{
	const char *p;

	if (!isalnum((unsigned char) es_id[0]) || strlen(es_id) > 64)
		return false;
	for (p = es_id; *p; p++)
		if (!(isalnum((unsigned char) *p) || *p == '.' || *p == '_' || *p == ':' || *p == '-'))
			return false;
	return true;
}

/* Get a column of the trigger's row by name; *isnull set. */
static Datum
row_attr(Relation rel, HeapTuple tuple, const char *column, bool *isnull)
{
	int			attno = SPI_fnumber(RelationGetDescr(rel), column);

	if (attno <= 0)
		elog(ERROR, "sealpg.seals has no column \"%s\"", column);
	return heap_getattr(tuple, attno, RelationGetDescr(rel), isnull);
}

/* Get a text-like column as a C string, or NULL. */
static char *
row_text(Relation rel, HeapTuple tuple, const char *column)
{
	int			attno = SPI_fnumber(RelationGetDescr(rel), column);

	if (attno <= 0)
		elog(ERROR, "sealpg.seals has no column \"%s\"", column);
	return SPI_getvalue(tuple, RelationGetDescr(rel), attno);
}

/* Refuse a seal row whose fields are out of range or inconsistent. */
static void
validate_seal_row(Relation rel, HeapTuple tuple)
{
	bool		isnull,
				lat_null,
				lon_null;
	char	   *tz = row_text(rel, tuple, "time_zone");
	char	   *es_id = row_text(rel, tuple, "es_id");
	Datum		d;
	TimestampTz valid_from,
				valid_until;
	bool		from_null,
				until_null;

	if (es_id == NULL || !sealpg_valid_es_id(es_id))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid esID \"%s\"", es_id ? es_id : ""),
				 errdetail("An esID is 1 to 64 letters, digits, '.', '_', ':' or '-', starting with a letter or digit.")));

	if (tz == NULL || !sealpg_valid_time_zone(tz))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown time zone \"%s\"", tz ? tz : ""),
				 errdetail("A seal's time zone must be an IANA zone name, not an abbreviation or a POSIX offset."),
				 errhint("Use a name such as Europe/Paris or Asia/Shanghai; SELECT name FROM pg_timezone_names lists them.")));

	d = row_attr(rel, tuple, "home_latitude", &lat_null);
	if (!lat_null)
	{
		double		lat = DatumGetFloat8(d);

		if (isnan(lat) || lat < -90.0 || lat > 90.0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("latitude %g is out of range", lat),
					 errdetail("A latitude lies between -90 and 90 degrees.")));
	}
	d = row_attr(rel, tuple, "home_longitude", &lon_null);
	if (!lon_null)
	{
		double		lon = DatumGetFloat8(d);

		if (isnan(lon) || lon < -180.0 || lon > 180.0)
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("longitude %g is out of range", lon),
					 errdetail("A longitude lies between -180 and 180 degrees.")));
	}
	if (lat_null != lon_null)
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("a home location needs both latitude and longitude")));
	d = row_attr(rel, tuple, "home_radius_m", &isnull);
	if (!isnull)
	{
		double		radius = DatumGetFloat8(d);

		if (isnan(radius) || radius < 0.0 || isinf(radius))
			ereport(ERROR,
					(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
					 errmsg("home radius %g is out of range", radius),
					 errdetail("The radius of a seal's home location is a finite, non-negative number of metres.")));
	}

	valid_from = DatumGetTimestampTz(row_attr(rel, tuple, "valid_from", &from_null));
	valid_until = DatumGetTimestampTz(row_attr(rel, tuple, "valid_until", &until_null));
	if (!from_null && !until_null && valid_until <= valid_from)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("validity ends before it starts"),
				 errdetail("valid_until (%s) must be later than valid_from (%s).",
						   pstrdup(timestamptz_to_str(valid_until)),
						   pstrdup(timestamptz_to_str(valid_from)))));
}

/* Is old -> new a legal status transition? */
static bool
legal_transition(const char *old_status, const char *new_status)
{
	if (strcmp(old_status, "active") == 0)
		return strcmp(new_status, "frozen") == 0 ||
			strcmp(new_status, "revoked") == 0 ||
			strcmp(new_status, "expired") == 0;
	if (strcmp(old_status, "frozen") == 0)
		return strcmp(new_status, "active") == 0 ||
			strcmp(new_status, "revoked") == 0 ||
			strcmp(new_status, "expired") == 0;
	return false;				/* revoked and expired are terminal */
}

/* Refuse an illegal transition (BEFORE UPDATE). */
static void
check_transition(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	char	   *old_status = row_text(rel, oldtup, "status");
	char	   *new_status = row_text(rel, newtup, "status");
	char	   *es_id = row_text(rel, newtup, "es_id");

	if (strcmp(old_status, new_status) == 0)
		return;
	if (!legal_transition(old_status, new_status))
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_ILLEGAL_TRANSITION),
				 errmsg("seal \"%s\" cannot go from %s to %s", es_id, old_status, new_status),
				 (strcmp(old_status, "revoked") == 0 || strcmp(old_status, "expired") == 0) ?
				 errdetail("%s is final; enrol a new seal instead.", old_status) :
				 errdetail("Allowed: active to frozen, revoked or expired; frozen to active, revoked or expired.")));
	if (strcmp(new_status, "expired") == 0)
	{
		bool		isnull;
		TimestampTz until = DatumGetTimestampTz(row_attr(rel, newtup, "valid_until", &isnull));

		if (!isnull && until > GetCurrentTransactionStartTimestamp())
			ereport(ERROR,
					(errcode(ERRCODE_SEAL_ILLEGAL_TRANSITION),
					 errmsg("seal \"%s\" cannot expire before %s", es_id, timestamptz_to_str(until)),
					 errdetail("A seal expires only when its validity window has ended.")));
	}
}

/* Refuse a new row that does not start life active or frozen. */
static void
check_initial_status(Relation rel, HeapTuple newtup)
{
	char	   *status = row_text(rel, newtup, "status");

	if (strcmp(status, "active") != 0 && strcmp(status, "frozen") != 0)
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_ILLEGAL_TRANSITION),
				 errmsg("a new seal cannot be %s", status),
				 errdetail("A seal starts active or frozen.")));
}

/* Write the transition to the history and queue the notification. */
static void
record_transition(Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	char	   *old_status = oldtup ? row_text(rel, oldtup, "status") : NULL;
	char	   *new_status = row_text(rel, newtup, "status");
	char	   *seal_id = row_text(rel, newtup, "seal_id");
	char	   *es_id = row_text(rel, newtup, "es_id");
	char	   *reason = row_text(rel, newtup, "status_reason");
	char	   *actor = GetUserNameFromId(GetOuterUserId(), false);
	TimestampTz at = GetCurrentTransactionStartTimestamp();
	Datum		values[5];
	Oid			types[5] = {UUIDOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	StringInfoData js;
	int			rc;

	if (old_status && strcmp(old_status, new_status) == 0)
		return;

	values[0] = DirectFunctionCall1(uuid_in, CStringGetDatum(seal_id));
	values[1] = old_status ? CStringGetTextDatum(old_status) : (Datum) 0;
	nulls[1] = old_status ? ' ' : 'n';
	values[2] = CStringGetTextDatum(new_status);
	values[3] = reason ? CStringGetTextDatum(reason) : (Datum) 0;
	nulls[3] = reason ? ' ' : 'n';
	values[4] = CStringGetTextDatum(actor);

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	rc = SPI_execute_with_args(
							   "INSERT INTO sealpg.seal_status_history"
							   " (seal_id, old_status, new_status, reason, actor)"
							   " VALUES ($1, $2::sealpg.seal_status, $3::sealpg.seal_status, $4, $5)",
							   5, types, values, nulls, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not record the status change: %s", SPI_result_code_string(rc));
	SPI_finish();

	initStringInfo(&js);
	appendStringInfo(&js, "{\"v\":%d,\"seal_id\":\"%s\",\"es_id\":", SEALPG_PAYLOAD_VERSION, seal_id);
	escape_json(&js, es_id);
	appendStringInfoString(&js, ",\"old\":");
	if (old_status)
		escape_json(&js, old_status);
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, ",\"new\":");
	escape_json(&js, new_status);
	appendStringInfoString(&js, ",\"reason\":");
	if (reason)
		escape_json(&js, reason);
	else
		appendStringInfoString(&js, "null");
	appendStringInfoString(&js, ",\"actor\":");
	escape_json(&js, actor);
	appendStringInfoString(&js, ",\"at\":");
	escape_json(&js, timestamptz_to_str(at));
	appendStringInfoChar(&js, '}');
	sealpg_notify("sealpg_status", js.data);
}

/* Queue a JSON payload on a channel, cut to fit NOTIFY's limit. */
void
sealpg_notify(const char *channel, const char *payload)
{
	if (strlen(payload) >= SEALPG_PAYLOAD_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("notification payload for %s is too long", channel)));
	Async_Notify(channel, payload);
}

/* Trigger on sealpg.seals: validation, transitions, history, NOTIFY. */
PG_FUNCTION_INFO_V1(seal_guard);
Datum
seal_guard(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	newtup;
	HeapTuple	oldtup = NULL;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "seal_guard: not called as a row trigger");
	rel = trigdata->tg_relation;

	if (TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		newtup = trigdata->tg_trigtuple;
	else if (TRIGGER_FIRED_BY_UPDATE(trigdata->tg_event))
	{
		oldtup = trigdata->tg_trigtuple;
		newtup = trigdata->tg_newtuple;
	}
	else
		elog(ERROR, "seal_guard: fired for neither INSERT nor UPDATE");

	if (TRIGGER_FIRED_BEFORE(trigdata->tg_event))
	{
		validate_seal_row(rel, newtup);
		if (oldtup)
			check_transition(rel, oldtup, newtup);
		else
			check_initial_status(rel, newtup);
		return PointerGetDatum(newtup);
	}

	record_transition(rel, oldtup, newtup);
	return PointerGetDatum(NULL);
}

/* The role that called into sealpg, even from a SECURITY DEFINER function. */
PG_FUNCTION_INFO_V1(sealpg_caller);
Datum
sealpg_caller(PG_FUNCTION_ARGS)
{
	/*
	 * SECURITY DEFINER changes the current user, not the outer one (the
	 * session user, or the role set by SET ROLE): the outer user is the
	 * person or application who asked.
	 */
	PG_RETURN_DATUM(DirectFunctionCall1(namein,
										CStringGetDatum(GetUserNameFromId(GetOuterUserId(), false))));
}

/* SQL wrapper of sealpg_valid_time_zone(). */
PG_FUNCTION_INFO_V1(sealpg_is_time_zone);
Datum
sealpg_is_time_zone(PG_FUNCTION_ARGS)
{
	PG_RETURN_BOOL(sealpg_valid_time_zone(text_to_cstring(PG_GETARG_TEXT_PP(0))));
}
