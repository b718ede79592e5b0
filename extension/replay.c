/*-------------------------------------------------------------------------
 *
 * replay.c
 *	  The rules over stored history: sealpg.detect() for investigations
 *	  and back-testing, sealpg.rebuild_profiles(), and sealpg.profile().
 *
 * A replay reads a seal's uses in order of occurrence (a cursor, in
 * batches, so a long history needs little memory) and runs exactly the
 * functions the triggers run, from an empty state, with the seal's
 * settings of today.  detect() lists every hit without de-duplication
 * and raises nothing; rebuild_profiles() keeps only the learnt state.
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "catalog/pg_type.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "funcapi.h"
#include "miscadmin.h"
#include "utils/builtins.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/jsonb.h"
#include "utils/timestamp.h"

#include "anomaly.h"
#include "sealpg.h"

#define REPLAY_BATCH	5000

/* Called for each replayed use; returns nothing. */
typedef void (*replay_visit) (const SealConfig *cfg, SealState *st, UseEvent *ev, void *arg);

/* Read the seal's uses before "until", in order, and visit each. */
static void
replay(const SealConfig *cfg, SealState *st, TimestampTz until, replay_visit visit, void *arg)
{
	Oid			types[2] = {UUIDOID, TIMESTAMPTZOID};
	Datum		args[2];
	Portal		portal;
	uint64		i;

	args[0] = UUIDPGetDatum(&cfg->seal_id);
	args[1] = TimestampTzGetDatum(until);
	portal = SPI_cursor_open_with_args(NULL,
									   "SELECT u.event_id, u.occurred_at, u.latitude, u.longitude, u.accuracy_m,"
									   "  u.operator, u.device_id, u.device_seq, u.force_n, u.source = 'electronic'"
									   " FROM sealpg.use_events u"
									   " WHERE u.seal_id = $1 AND u.occurred_at < $2"
									   " ORDER BY u.occurred_at, u.received_at, u.event_id",
									   2, types, args, NULL, true, CURSOR_OPT_NO_SCROLL);
	for (;;)
	{
		SPI_cursor_fetch(portal, true, REPLAY_BATCH);
		if (SPI_processed == 0)
			break;
		for (i = 0; i < SPI_processed; i++)
		{
			HeapTuple	t = SPI_tuptable->vals[i];
			TupleDesc	d = SPI_tuptable->tupdesc;
			UseEvent	ev;
			bool		isnull;
			Datum		v;

			memset(&ev, 0, sizeof(ev));
			memcpy(&ev.event_id, DatumGetUUIDP(SPI_getbinval(t, d, 1, &isnull)), sizeof(pg_uuid_t));
			ev.occurred_at = DatumGetTimestampTz(SPI_getbinval(t, d, 2, &isnull));
			v = SPI_getbinval(t, d, 3, &isnull);
			ev.has_pos = !isnull;
			if (ev.has_pos)
			{
				ev.lat = DatumGetFloat8(v);
				ev.lon = DatumGetFloat8(SPI_getbinval(t, d, 4, &isnull));
				v = SPI_getbinval(t, d, 5, &isnull);
				ev.acc = isnull ? -1.0 : DatumGetFloat4(v);
			}
			ev.operator = SPI_getvalue(t, d, 6);
			ev.device_id = SPI_getvalue(t, d, 7);
			v = SPI_getbinval(t, d, 8, &isnull);
			ev.has_seq = !isnull;
			ev.seq = isnull ? 0 : DatumGetInt64(v);
			v = SPI_getbinval(t, d, 9, &isnull);
			ev.has_force = !isnull;
			ev.force = isnull ? 0 : DatumGetFloat4(v);
			ev.electronic = DatumGetBool(SPI_getbinval(t, d, 10, &isnull));
			anomaly_prepare_event(cfg, &ev);
			visit(cfg, st, &ev, arg);
			if (ev.operator)
				pfree((char *) ev.operator);
			if (ev.device_id)
				pfree((char *) ev.device_id);
		}
		SPI_freetuptable(SPI_tuptable);
	}
	SPI_cursor_close(portal);
}

/* Find a seal the caller may see, and its settings; SE007 otherwise. */
static void
open_seal(const char *es_id, SealConfig *cfg)
{
	pg_uuid_t	seal_id;

	if (!anomaly_find_seal(es_id, &seal_id))
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NOT_FOUND),
				 errmsg("seal \"%s\" does not exist", es_id),
				 errhint("Seals are named by their esID; SELECT es_id FROM sealpg.seals lists the ones you may see.")));
	anomaly_load_config(&seal_id, cfg, CurrentMemoryContext);
	anomaly_check_member(cfg, es_id);
}

typedef struct DetectState
{
	TimestampTz from;
	ReturnSetInfo *rsinfo;
} DetectState;

/* detect(): evaluate in the window, learn always. */
static void
detect_visit(const SealConfig *cfg, SealState *st, UseEvent *ev, void *arg)
{
	DetectState *ds = (DetectState *) arg;

	if (ev->occurred_at >= ds->from)
	{
		RuleHit		hits[NUM_ANOMALY_RULES];
		int			n = anomaly_evaluate(cfg, st, ev, hits);
		int			i;

		for (i = 0; i < n; i++)
		{
			Datum		values[6];
			bool		nulls[6] = {false, false, false, false, false, false};

			values[0] = UUIDPGetDatum(&ev->event_id);
			values[1] = TimestampTzGetDatum(ev->occurred_at);
			values[2] = CStringGetTextDatum(anomaly_rule_name(hits[i].rule));
			values[3] = DirectFunctionCall2(enum_in,
											CStringGetDatum(anomaly_severity_name(hits[i].severity)),
											ObjectIdGetDatum(TupleDescAttr(ds->rsinfo->setDesc, 3)->atttypid));
			values[4] = Int32GetDatum(hits[i].risk_score);
			values[5] = DirectFunctionCall1(jsonb_in,
											CStringGetDatum(hits[i].details[0] ? hits[i].details : "{}"));
			tuplestore_putvalues(ds->rsinfo->setResult, ds->rsinfo->setDesc, values, nulls);
		}
	}
	anomaly_learn(cfg, st, ev);
}

/* SQL: sealpg.detect(seal, from_time, to_time): the rules over history. */
PG_FUNCTION_INFO_V1(sealpg_detect);
Datum
sealpg_detect(PG_FUNCTION_ARGS)
{
	SealConfig	cfg;
	SealState  *st;
	DetectState ds;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1) || PG_ARGISNULL(2))
		ereport(ERROR,
				(errcode(ERRCODE_NULL_VALUE_NOT_ALLOWED),
				 errmsg("seal, from_time and to_time must not be null")));
	if (PG_GETARG_TIMESTAMPTZ(2) < PG_GETARG_TIMESTAMPTZ(1))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("the window ends before it starts"),
				 errdetail("to_time must not be earlier than from_time.")));
	InitMaterializedSRF(fcinfo, 0);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	open_seal(text_to_cstring(PG_GETARG_TEXT_PP(0)), &cfg);
	st = palloc(sizeof(SealState));
	anomaly_state_init(st);
	ds.from = PG_GETARG_TIMESTAMPTZ(1);
	ds.rsinfo = (ReturnSetInfo *) fcinfo->resultinfo;
	replay(&cfg, st, PG_GETARG_TIMESTAMPTZ(2), detect_visit, &ds);
	SPI_finish();
	return (Datum) 0;
}

/* rebuild: learn only. */
static void
learn_visit(const SealConfig *cfg, SealState *st, UseEvent *ev, void *arg)
{
	anomaly_learn(cfg, st, ev);
}

/* Rebuild one seal's profile (its profile row locked first). */
static void
rebuild_one(const pg_uuid_t *seal_id)
{
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	SealConfig	cfg;
	SealState  *st = palloc(sizeof(SealState));

	args[0] = UUIDPGetDatum(seal_id);
	if (SPI_execute_with_args("INSERT INTO sealpg.seal_profiles (seal_id) VALUES ($1)"
							  " ON CONFLICT (seal_id) DO NOTHING", 1, types, args, NULL, false, 0) != SPI_OK_INSERT ||
		SPI_execute_with_args("SELECT 1 FROM sealpg.seal_profiles p WHERE p.seal_id = $1 FOR UPDATE",
							  1, types, args, NULL, false, 0) != SPI_OK_SELECT)
		elog(ERROR, "could not lock seal profile");
	anomaly_load_config(seal_id, &cfg, CurrentMemoryContext);
	anomaly_state_init(st);
	replay(&cfg, st, DT_NOEND, learn_visit, NULL);
	anomaly_store_state(&cfg, st, true);
	pfree(st);
}

/* SQL: sealpg.rebuild_profiles(seal DEFAULT NULL). */
PG_FUNCTION_INFO_V1(sealpg_rebuild_profiles);
Datum
sealpg_rebuild_profiles(PG_FUNCTION_ARGS)
{
	int			count = 0;
	uint64		i,
				n;
	pg_uuid_t  *ids;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (!PG_ARGISNULL(0))
	{
		SealConfig	cfg;
		Oid			types[1] = {UUIDOID};
		Datum		args[1];

		open_seal(text_to_cstring(PG_GETARG_TEXT_PP(0)), &cfg);
		args[0] = UUIDPGetDatum(&cfg.organisation_id);
		if (SPI_execute_with_args("SELECT sealpg.require_admin($1)", 1, types, args, NULL, true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not check administrator");
		rebuild_one(&cfg.seal_id);
		count = 1;
	}
	else
	{
		MemoryContext outer = CurrentMemoryContext;

		if (SPI_execute("SELECT s.seal_id FROM sealpg.seals s"
						" WHERE sealpg.is_member(s.organisation_id, true)"
						" ORDER BY s.seal_id", true, 0) != SPI_OK_SELECT)
			elog(ERROR, "could not list seals");
		n = SPI_processed;
		ids = MemoryContextAlloc(outer, sizeof(pg_uuid_t) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			bool		isnull;

			memcpy(&ids[i], DatumGetUUIDP(SPI_getbinval(SPI_tuptable->vals[i], SPI_tuptable->tupdesc, 1, &isnull)),
				   sizeof(pg_uuid_t));
		}
		SPI_freetuptable(SPI_tuptable);
		for (i = 0; i < n; i++)
		{
			rebuild_one(&ids[i]);
			count++;
		}
	}
	SPI_finish();
	PG_RETURN_INT32(count);
}

/* Append a time as a JSON string, or null. */
static void
append_time(StringInfo s, bool present, TimestampTz t)
{
	char		buf[MAXDATELEN + 1];

	if (!present)
	{
		appendStringInfoString(s, "null");
		return;
	}
	JsonEncodeDateTime(buf, TimestampTzGetDatum(t), TIMESTAMPTZOID, NULL);
	appendStringInfo(s, "\"%s\"", buf);
}

/* Place indexes ordered by use count, most used first (insertion sort). */
static void
places_by_count(const SealState *st, int *order)
{
	int			i,
				j;

	for (i = 0; i < st->nplaces; i++)
	{
		for (j = i; j > 0 && st->places[order[j - 1]].count < st->places[i].count; j--)
			order[j] = order[j - 1];
		order[j] = i;
	}
}

/* SQL: sealpg.profile(seal): the seal's profile as JSON. */
PG_FUNCTION_INFO_V1(sealpg_profile);
Datum
sealpg_profile(PG_FUNCTION_ARGS)
{
	SealConfig	cfg;
	SealState  *st = palloc(sizeof(SealState));
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	StringInfoData s;
	int			order[ANOMALY_MAX_PLACES];
	int			i;
	bool		isnull;
	double		days,
				sd;
	Datum		result;

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	open_seal(text_to_cstring(PG_GETARG_TEXT_PP(0)), &cfg);
	args[0] = UUIDPGetDatum(&cfg.seal_id);
	if (SPI_execute_with_args("SELECT p.state FROM sealpg.seal_profiles p WHERE p.seal_id = $1",
							  1, types, args, NULL, true, 1) != SPI_OK_SELECT)
		elog(ERROR, "could not read seal profile");
	if (SPI_processed == 1)
	{
		Datum		d = SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull);

		anomaly_state_from_bytea(isnull ? NULL : DatumGetByteaPP(d), st);
	}
	else
		anomaly_state_init(st);

	initStringInfo(&s);
	appendStringInfoString(&s, "{\"es_id\": ");
	escape_json(&s, cfg.es_id);
	appendStringInfo(&s, ", \"uses\": " INT64_FORMAT ", \"first_use\": ", st->events);
	append_time(&s, st->events > 0, st->first_at);
	appendStringInfoString(&s, ", \"last_use\": ");
	append_time(&s, st->events > 0, st->last_at);
	days = (double) (st->last_at - st->first_at) / USECS_PER_DAY;
	appendStringInfo(&s, ", \"rate_per_day\": %.3f", st->events > 0 ? st->events / Max(days, 1.0) : 0.0);
	appendStringInfo(&s, ", \"learning_done\": %s",
					 st->events >= cfg.set.learning_uses &&
					 st->last_at - st->first_at >= cfg.set.learning_period_us ? "true" : "false");
	appendStringInfoString(&s, ", \"hour_of_week\": [");
	for (i = 0; i < 168; i++)
		appendStringInfo(&s, "%s%d", i ? ", " : "", st->hours[i]);
	appendStringInfoString(&s, "], \"places\": [");
	places_by_count(st, order);
	for (i = 0; i < st->nplaces; i++)
		appendStringInfo(&s, "%s{\"latitude\": %.5f, \"longitude\": %.5f, \"uses\": %d}", i ? ", " : "",
						 st->places[order[i]].lat, st->places[order[i]].lon, st->places[order[i]].count);
	sd = st->force_n > 1 ? sqrt(st->force_m2 / (st->force_n - 1)) : 0.0;
	appendStringInfo(&s, "], \"force\": {\"samples\": " INT64_FORMAT ", \"mean\": %.3f, \"stddev\": %.3f}",
					 st->force_n, st->force_mean, sd);
	appendStringInfo(&s, ", \"devices\": %d, \"counted_operators\": %d}", st->ndevices, st->noperators);
	SPI_finish();
	result = DirectFunctionCall1(jsonb_in, CStringGetDatum(s.data));
	PG_RETURN_DATUM(result);
}
