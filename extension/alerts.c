/*-------------------------------------------------------------------------
 *
 * alerts.c
 *	  Alerts: de-duplication, the freeze, NOTIFY sealpg_alert, and the
 *	  deferred copy that outlives the raising transaction's rollback.
 *
 * A rule hit first looks for an open alert of the same seal and rule
 * whose last absorbed use lies within the suppression window (event
 * time); if there is one it absorbs the hit (event id appended, up to
 * 100, hits counted) and nothing is sent.  Otherwise a new alert is
 * stored with an id made here; a critical one freezes the seal at once
 * (the registry's guard records the change and notifies sealpg_status);
 * sealpg_alert is notified with a JSON payload (version 1, under 8000
 * bytes), which PostgreSQL delivers at commit.
 *
 * If the raising (sub)transaction rolls back instead, the alert must
 * still exist.  Each new alert's payload is kept in a backend-local list
 * tagged with the subtransaction that raised it; a subtransaction commit
 * hands its entries to the parent, a (sub)transaction abort queues its
 * entries with sealpg_defer() for sealpg.alert_deferred(), and a top-level
 * commit simply forgets the list.  So the deferred writer does nothing in
 * the common case, and a long batch never waits on its queue.  The writer
 * inserts with ON CONFLICT (alert_id) DO NOTHING, applies the freeze and
 * sends the notification itself.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include "access/xact.h"
#include "catalog/pg_type.h"
#include "common/pg_prng.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/datetime.h"
#include "utils/builtins.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#include "anomaly.h"
#include "deferred.h"
#include "sealpg.h"

/* Event ids kept in one alert (later hits are only counted). */
#define ALERT_MAX_EVENT_IDS		100
/* Event ids carried in a notification or deferred payload. */
#define PAYLOAD_MAX_EVENT_IDS	20

/* A new alert, ready to be stored. */
typedef struct AlertRecord
{
	pg_uuid_t	alert_id;
	const SealConfig *cfg;
	const char *rule;
	AnomalySeverity severity;
	int			risk_score;
	int			nevents;
	pg_uuid_t  *events;
	const char *details;		/* a JSON object */
	TimestampTz seen_at;		/* event time of the first use */
	TimestampTz raised_at;
} AlertRecord;

/* An alert raised in the current transaction, kept until it ends. */
typedef struct PendingAlert
{
	SubTransactionId subid;
	char	   *payload;
	struct PendingAlert *next;
} PendingAlert;

static MemoryContext pending_context = NULL;
static PendingAlert *pending = NULL;
static bool pending_callbacks = false;

static SPIPlanPtr absorb_plan = NULL;
static SPIPlanPtr insert_plan = NULL;
static SPIPlanPtr freeze_plan = NULL;

/* A random (version 4) UUID. */
static void
random_uuid(pg_uuid_t *u)
{
	if (!pg_strong_random(u->data, UUID_LEN))
		ereport(ERROR,
				(errcode(ERRCODE_INTERNAL_ERROR),
				 errmsg("could not generate a random alert id")));
	u->data[6] = (u->data[6] & 0x0f) | 0x40;
	u->data[8] = (u->data[8] & 0x3f) | 0x80;
}

/* Append a uuid as a JSON string. */
static void
append_uuid(StringInfo s, const pg_uuid_t *u)
{
	appendStringInfo(s, "\"%s\"",
					 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *) u))));
}

/* Append a time as a JSON string (ISO 8601). */
static void
append_time(StringInfo s, TimestampTz t)
{
	char		buf[MAXDATELEN + 1];

	JsonEncodeDateTime(buf, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
	appendStringInfo(s, "\"%s\"", buf);
}

/* The alert as a JSON payload (NOTIFY and deferred call). */
static char *
alert_payload(const AlertRecord *a, bool frozen, bool deferred)
{
	StringInfoData s;
	int			i;

	initStringInfo(&s);
	appendStringInfo(&s, "{\"v\":%d,\"alert_id\":", SEALPG_PAYLOAD_VERSION);
	append_uuid(&s, &a->alert_id);
	appendStringInfoString(&s, ",\"seal_id\":");
	append_uuid(&s, &a->cfg->seal_id);
	appendStringInfoString(&s, ",\"es_id\":");
	escape_json(&s, a->cfg->es_id);
	appendStringInfo(&s, ",\"rule\":\"%s\",\"severity\":\"%s\",\"risk_score\":%d,\"event_ids\":[",
					 a->rule, anomaly_severity_name(a->severity), a->risk_score);
	for (i = 0; i < a->nevents && i < PAYLOAD_MAX_EVENT_IDS; i++)
	{
		if (i > 0)
			appendStringInfoChar(&s, ',');
		append_uuid(&s, &a->events[i]);
	}
	appendStringInfoString(&s, "],\"occurred_at\":");
	append_time(&s, a->seen_at);
	appendStringInfoString(&s, ",\"raised_at\":");
	append_time(&s, a->raised_at);
	appendStringInfo(&s, ",\"frozen\":%s", frozen ? "true" : "false");
	if (deferred)
		appendStringInfoString(&s, ",\"deferred\":true");
	appendStringInfo(&s, ",\"details\":%s}", a->details && a->details[0] ? a->details : "{}");
	return s.data;
}

/* Absorb a hit into an open alert of the same seal and rule; true if done. */
static bool
absorb(const SealConfig *cfg, const char *rule, const pg_uuid_t *event, TimestampTz at)
{
	Oid			types[5] = {UUIDOID, TEXTOID, UUIDOID, TIMESTAMPTZOID, FLOAT8OID};
	Datum		args[5];
	char		nulls[5] = {' ', ' ', ' ', ' ', ' '};
	int			rc;

	if (cfg->set.suppression_us <= 0)
		return false;
	if (absorb_plan == NULL)
		absorb_plan = anomaly_prepare(
						   "UPDATE sealpg.alerts a SET"
						   "  event_ids = CASE WHEN $3 IS NULL OR pg_catalog.cardinality(a.event_ids) >= "
						   CppAsString2(ALERT_MAX_EVENT_IDS) " THEN a.event_ids ELSE a.event_ids || $3 END,"
						   "  hits = a.hits + 1, last_seen_at = GREATEST(a.last_seen_at, $4)"
						   " WHERE a.alert_id = (SELECT x.alert_id FROM sealpg.alerts x"
						   "   WHERE x.seal_id = $1 AND x.rule = $2 AND x.state = 'open'"
						   "     AND $4 > x.last_seen_at - pg_catalog.make_interval(secs => $5)"
						   "     AND $4 < x.last_seen_at + pg_catalog.make_interval(secs => $5)"
						   "   ORDER BY x.last_seen_at DESC LIMIT 1)"
						   " RETURNING a.alert_id", 5, types);
	args[0] = UUIDPGetDatum(&cfg->seal_id);
	args[1] = CStringGetTextDatum(rule);
	args[2] = event ? UUIDPGetDatum(event) : (Datum) 0;
	nulls[2] = event ? ' ' : 'n';
	args[3] = TimestampTzGetDatum(at);
	args[4] = Float8GetDatum((double) cfg->set.suppression_us / USECS_PER_SEC);
	rc = SPI_execute_plan(absorb_plan, args, nulls, false, 0);
	if (rc != SPI_OK_UPDATE_RETURNING)
		elog(ERROR, "could not update alert: %s", SPI_result_code_string(rc));
	return SPI_processed > 0;
}

/*
 * Store a new alert; with on_conflict, a row of the same id already there
 * wins.  Freezes the seal when critical.  Returns false if nothing was
 * stored; *frozen tells whether this call froze the seal.
 */
static bool
store_alert(const AlertRecord *a, bool *frozen)
{
	Oid			types[9] = {UUIDOID, UUIDOID, TEXTOID, TEXTOID, INT4OID, UUIDARRAYOID,
	TEXTOID, TIMESTAMPTZOID, TIMESTAMPTZOID};
	Datum		args[9];
	Datum	   *elems;
	int			rc,
				i;

	*frozen = false;
	if (insert_plan == NULL)
	{
		Oid			ftypes[2] = {UUIDOID, TEXTOID};

		insert_plan = anomaly_prepare(
						   "INSERT INTO sealpg.alerts (alert_id, seal_id, rule, severity, risk_score, event_ids,"
						   "  details, raised_at, first_seen_at, last_seen_at)"
						   " VALUES ($1, $2, $3, $4::sealpg.alert_severity, $5, $6, $7::jsonb, $8, $9, $9)"
						   " ON CONFLICT (alert_id) DO NOTHING", 9, types);
		freeze_plan = anomaly_prepare(
						   "UPDATE sealpg.seals s SET status = 'frozen', status_reason = $2,"
						   "  status_changed_at = pg_catalog.now()"
						   " WHERE s.seal_id = $1 AND s.status = 'active'", 2, ftypes);
	}
	elems = palloc(sizeof(Datum) * Max(a->nevents, 1));
	for (i = 0; i < a->nevents && i < ALERT_MAX_EVENT_IDS; i++)
		elems[i] = UUIDPGetDatum(&a->events[i]);
	args[0] = UUIDPGetDatum(&a->alert_id);
	args[1] = UUIDPGetDatum(&a->cfg->seal_id);
	args[2] = CStringGetTextDatum(a->rule);
	args[3] = CStringGetTextDatum(anomaly_severity_name(a->severity));
	args[4] = Int32GetDatum(a->risk_score);
	args[5] = PointerGetDatum(construct_array(elems, i, UUIDOID, UUID_LEN, false, TYPALIGN_CHAR));
	args[6] = CStringGetTextDatum(a->details && a->details[0] ? a->details : "{}");
	args[7] = TimestampTzGetDatum(a->raised_at);
	args[8] = TimestampTzGetDatum(a->seen_at);
	rc = SPI_execute_plan(insert_plan, args, NULL, false, 0);
	if (rc != SPI_OK_INSERT)
		elog(ERROR, "could not store alert: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;

	if (a->severity == SEVERITY_CRITICAL)
	{
		char		reason[128];
		Datum		fargs[2];

		snprintf(reason, sizeof(reason), "anomaly: %s (alert %s)", a->rule,
				 DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum((pg_uuid_t *) &a->alert_id))));
		fargs[0] = UUIDPGetDatum(&a->cfg->seal_id);
		fargs[1] = CStringGetTextDatum(reason);
		rc = SPI_execute_plan(freeze_plan, fargs, NULL, false, 0);
		if (rc != SPI_OK_UPDATE)
			elog(ERROR, "could not freeze seal: %s", SPI_result_code_string(rc));
		*frozen = SPI_processed > 0;
	}
	return true;
}

/* Queue the pending alerts of aborted subtransactions (subid >= from). */
static void
defer_pending(SubTransactionId from)
{
	PendingAlert **link = &pending;

	while (*link != NULL)
	{
		PendingAlert *p = *link;

		if (p->subid >= from)
		{
			sealpg_defer("sealpg.alert_deferred", p->payload);
			*link = p->next;
		}
		else
			link = &p->next;
	}
}

/* Transaction end: commit forgets the list, abort defers it. */
static void
alerts_xact_callback(XactEvent event, void *arg)
{
	if (pending == NULL)
		return;
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT)
		defer_pending(InvalidSubTransactionId);
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PARALLEL_COMMIT ||
		event == XACT_EVENT_PREPARE)
	{
		pending = NULL;
		MemoryContextReset(pending_context);
	}
}

/* Subtransaction end: commit hands entries to the parent, abort defers them. */
static void
alerts_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						SubTransactionId parentSubid, void *arg)
{
	PendingAlert *p;

	if (pending == NULL)
		return;
	if (event == SUBXACT_EVENT_ABORT_SUB)
		defer_pending(mySubid);
	else if (event == SUBXACT_EVENT_COMMIT_SUB)
		for (p = pending; p != NULL; p = p->next)
			if (p->subid >= mySubid)
				p->subid = parentSubid;
}

/* Remember a new alert until its transaction ends. */
static void
keep_pending(const char *payload)
{
	PendingAlert *p;

	if (!pending_callbacks)
	{
		pending_context = AllocSetContextCreate(TopMemoryContext, "sealpg pending alerts",
												ALLOCSET_SMALL_SIZES);
		RegisterXactCallback(alerts_xact_callback, NULL);
		RegisterSubXactCallback(alerts_subxact_callback, NULL);
		pending_callbacks = true;
	}
	p = MemoryContextAlloc(pending_context, sizeof(PendingAlert));
	p->subid = GetCurrentSubTransactionId();
	p->payload = MemoryContextStrdup(pending_context, payload);
	p->next = pending;
	pending = p;
}

/* Raise a new alert or absorb the hit; notify, and keep it for an abort. */
static void
raise_one(AlertRecord *a)
{
	bool		frozen;
	char	   *payload;

	if (absorb(a->cfg, a->rule, a->nevents > 0 ? &a->events[0] : NULL, a->seen_at))
		return;
	random_uuid(&a->alert_id);
	a->raised_at = GetCurrentTimestamp();
	if (!store_alert(a, &frozen))
		return;
	payload = alert_payload(a, frozen, false);
	sealpg_notify("sealpg_alert", payload);
	/* the same alert again, by the deferred writer, if this transaction rolls back */
	keep_pending(payload);
	pfree(payload);
}

/* Raise (or absorb) the alert of one rule hit on one use.  SPI connected. */
void
anomaly_raise(const SealConfig *cfg, const UseEvent *ev, const RuleHit *hit)
{
	AlertRecord a;

	memset(&a, 0, sizeof(a));
	a.cfg = cfg;
	a.rule = anomaly_rule_name(hit->rule);
	a.severity = hit->severity;
	a.risk_score = hit->risk_score;
	a.nevents = 1;
	a.events = (pg_uuid_t *) &ev->event_id;
	a.details = hit->details;
	a.seen_at = ev->occurred_at;
	raise_one(&a);
}

/* A severity from its name. */
static AnomalySeverity
severity_by_name(const char *name)
{
	if (strcmp(name, "info") == 0)
		return SEVERITY_INFO;
	if (strcmp(name, "warning") == 0)
		return SEVERITY_WARNING;
	return SEVERITY_CRITICAL;
}

/* uuid[] datum as a palloc'd array of pg_uuid_t. */
static int
uuid_array(Datum d, pg_uuid_t **out)
{
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i,
				k = 0;

	deconstruct_array(DatumGetArrayTypeP(d), UUIDOID, UUID_LEN, false, TYPALIGN_CHAR,
					  &elems, &nulls, &n);
	*out = palloc(sizeof(pg_uuid_t) * Max(n, 1));
	for (i = 0; i < n; i++)
		if (!nulls[i])
			memcpy(&(*out)[k++], DatumGetUUIDP(elems[i]), sizeof(pg_uuid_t));
	return k;
}

/* SQL: sealpg.raise_alert(seal_id, rule, severity, risk, event_ids, details). */
PG_FUNCTION_INFO_V1(sealpg_raise_alert);
Datum
sealpg_raise_alert(PG_FUNCTION_ARGS)
{
	SealConfig	cfg;
	AlertRecord a;
	char	   *rule;
	pg_uuid_t  *result;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2) || PG_ARGISNULL(3))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seal, rule, severity and risk score of an alert must not be null")));
	rule = text_to_cstring(PG_GETARG_TEXT_PP(1));
	if (anomaly_rule_by_name(rule) < 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("unknown anomaly rule \"%s\"", rule),
				 errhint("The rules are listed in the README's anomaly section.")));
	if (PG_GETARG_INT32(3) < 0 || PG_GETARG_INT32(3) > 100)
		ereport(ERROR,
				(errcode(ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE),
				 errmsg("risk score %d is out of range", PG_GETARG_INT32(3)),
				 errdetail("A risk score lies between 0 and 100.")));

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	anomaly_load_config(PG_GETARG_UUID_P(0), &cfg, CurrentMemoryContext);
	memset(&a, 0, sizeof(a));
	a.cfg = &cfg;
	a.rule = rule;
	a.severity = severity_by_name(DatumGetCString(DirectFunctionCall1(enum_out, PG_GETARG_DATUM(2))));
	a.risk_score = PG_GETARG_INT32(3);
	a.nevents = PG_ARGISNULL(4) ? 0 : uuid_array(PG_GETARG_DATUM(4), &a.events);
	a.details = PG_ARGISNULL(5) ? "{}" :
		DatumGetCString(DirectFunctionCall1(jsonb_out, PG_GETARG_DATUM(5)));
	if (strlen(a.details) >= ANOMALY_DETAILS_MAX * 4)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("alert details are too long"),
				 errdetail("Alert details are at most %d bytes of JSON.", ANOMALY_DETAILS_MAX * 4)));
	a.seen_at = GetCurrentTimestamp();
	raise_one(&a);
	SPI_finish();
	result = palloc(sizeof(pg_uuid_t));
	memcpy(result, &a.alert_id, sizeof(pg_uuid_t));
	PG_RETURN_UUID_P(result);
}

/* SQL: sealpg.alert_deferred(payload), run by the deferred writer. */
PG_FUNCTION_INFO_V1(sealpg_alert_deferred);
Datum
sealpg_alert_deferred(PG_FUNCTION_ARGS)
{
	Oid			types[1] = {JSONBOID};
	Datum		args[1];
	SealConfig	cfg;
	AlertRecord a;
	bool		isnull,
				frozen;
	int			rc;
	pg_uuid_t	seal_id;
	char	   *payload;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	args[0] = PG_GETARG_DATUM(0);
	rc = SPI_execute_with_args(
							   "SELECT (p->>'alert_id')::uuid, (p->>'seal_id')::uuid, p->>'rule', p->>'severity',"
							   "  (p->>'risk_score')::integer,"
							   "  ARRAY(SELECT e::uuid FROM pg_catalog.jsonb_array_elements_text(p->'event_ids') e),"
							   "  coalesce(p->'details', '{}')::text, (p->>'occurred_at')::timestamptz,"
							   "  (p->>'raised_at')::timestamptz"
							   " FROM (SELECT $1 AS p) x", 1, types, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not read deferred alert");
	memset(&a, 0, sizeof(a));
	memcpy(&a.alert_id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull)),
		   sizeof(pg_uuid_t));
	memcpy(&seal_id, DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 2, &isnull)),
		   sizeof(pg_uuid_t));
	a.rule = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 3);
	a.severity = severity_by_name(SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 4));
	a.risk_score = DatumGetInt32(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 5, &isnull));
	a.nevents = uuid_array(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 6, &isnull), &a.events);
	a.details = SPI_getvalue(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 7);
	a.seen_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 8, &isnull));
	a.raised_at = DatumGetTimestampTz(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 9, &isnull));

	/* a seal created by the rolled-back transaction itself is gone: nothing to record */
	{
		Oid			t[1] = {UUIDOID};
		Datum		v[1];

		v[0] = UUIDPGetDatum(&seal_id);
		if (SPI_execute_with_args("SELECT 1 FROM sealpg.seals s WHERE s.seal_id = $1",
								  1, t, v, NULL, true, 1) != SPI_OK_SELECT)
			elog(ERROR, "could not look up seal");
		if (SPI_processed == 0)
		{
			SPI_finish();
			PG_RETURN_VOID();
		}
	}
	anomaly_load_config(&seal_id, &cfg, CurrentMemoryContext);
	a.cfg = &cfg;
	/* waits for the raising transaction; stores only if it rolled back */
	if (store_alert(&a, &frozen))
	{
		payload = alert_payload(&a, frozen, true);
		sealpg_notify("sealpg_alert", payload);
	}
	SPI_finish();
	PG_RETURN_VOID();
}
