/*-------------------------------------------------------------------------
 *
 * anomaly.c
 *	  The anomaly engine's triggers on sealpg.use_events: validation, the
 *	  per-statement cache of seal settings and state, and write-back.
 *
 * Three C triggers share one cache, so that INSERT, INSERT ... SELECT,
 * COPY and sealpg.record_use() all behave the same:
 *
 *	use_event_check   BEFORE INSERT, each row: refuses malformed uses with
 *	                  their own SQLSTATEs and loads the seal (SE007 when it
 *	                  does not exist) into the cache.
 *	use_event_rules   AFTER INSERT, each row (so a duplicate refused by the
 *	                  unique index, or skipped by ON CONFLICT DO NOTHING,
 *	                  never reaches the rules): evaluates the rules, raises
 *	                  alerts, learns the use into the cached state.
 *	use_event_flush   AFTER INSERT, each statement: writes every state the
 *	                  statement changed back to sealpg.seal_profiles.
 *
 * The statement cache is a hash table keyed by seal_id, in a memory
 * context of its own.  An entry holds the seal's settings and its state,
 * read with one index lookup (locked FOR UPDATE, so that concurrent
 * writers of one seal serialise) and written back with one UPDATE, per
 * seal per statement: a batch of 100,000 uses of a few seals does a
 * handful of queries, a single use two.  It is emptied by the statement
 * trigger and by any (sub)transaction abort.
 *
 * Settings (seals, calendars, holidays, devices, grants, rule_settings)
 * change rarely, so each backend also keeps them across transactions.  A
 * statement trigger on each of those tables, sealpg.anomaly_settings_changed(),
 * queues a relcache invalidation of use_events; every backend's callback
 * then marks its settings cache stale, and the next use reads them again.
 * Invalidations are transactional: other backends see the change when it
 * commits, the changing transaction itself at its next command.
 *
 * The triggers run as the inserting role (an operator may INSERT uses it
 * is granted); their own queries run as the owner of use_events, the way
 * PostgreSQL's foreign-key triggers do, with plans prepared under the
 * search path "pg_catalog, pg_temp".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/namespace.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "fmgr.h"
#include "miscadmin.h"
#include "utils/array.h"
#include "utils/builtins.h"
#include "utils/date.h"
#include "utils/guc.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/rel.h"
#include "utils/timestamp.h"

#include "anomaly.h"
#include "sealpg.h"

/* One seal in the statement cache. */
typedef struct CacheEntry
{
	pg_uuid_t	seal_id;		/* hash key */
	SealConfig	cfg;
	SealState	st;
	bool		dirty;
} CacheEntry;

static MemoryContext cache_context = NULL;
static HTAB *cache = NULL;
static bool callbacks_registered = false;

/* Settings of seals, kept across transactions. */
typedef struct ConfigEntry
{
	pg_uuid_t	seal_id;		/* hash key */
	SealConfig	cfg;
} ConfigEntry;

#define CONFIG_CACHE_MAX	10000

static MemoryContext config_context = NULL;
static HTAB *config_cache = NULL;
static bool config_stale = false;
static Oid	use_events_relid = InvalidOid;

static SPIPlanPtr config_plan = NULL;
static SPIPlanPtr state_plan = NULL;
static SPIPlanPtr state_insert_plan = NULL;
static SPIPlanPtr store_plan = NULL;
static SPIPlanPtr find_plan = NULL;

/* Columns of use_events, looked up once per relation. */
enum
{
	COL_EVENT_ID, COL_SEAL_ID, COL_OCCURRED_AT, COL_LATITUDE, COL_LONGITUDE,
	COL_ACCURACY, COL_OPERATOR, COL_DEVICE_ID, COL_DEVICE_SEQ, COL_FORCE,
	COL_SOURCE, NUM_COLS
};
static const char *const col_names[NUM_COLS] = {
	"event_id", "seal_id", "occurred_at", "latitude", "longitude",
	"accuracy_m", "operator", "device_id", "device_seq", "force_n", "source"
};
static Oid	cols_relid = InvalidOid;
static int	cols_natts = 0;
static int	cols[NUM_COLS];

/* ---- cache lifetime ------------------------------------------------ */

/* Forget every cached seal. */
static void
cache_reset(void)
{
	if (cache_context != NULL)
		MemoryContextReset(cache_context);
	cache = NULL;
}

/* Transaction end: nothing cached survives it. */
static void
anomaly_xact_callback(XactEvent event, void *arg)
{
	if (event == XACT_EVENT_ABORT || event == XACT_EVENT_PARALLEL_ABORT ||
		event == XACT_EVENT_COMMIT || event == XACT_EVENT_PREPARE)
		cache_reset();
}

/* Subtransaction abort: the failed statement's cache is stale. */
static void
anomaly_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						 SubTransactionId parentSubid, void *arg)
{
	if (event == SUBXACT_EVENT_ABORT_SUB)
		cache_reset();
}

/* Relcache invalidation of use_events (or of everything): settings changed. */
static void
anomaly_relcache_callback(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == use_events_relid)
		config_stale = true;
}

/* Copy a seal's settings, arrays included, into mcxt. */
static void
copy_config(const SealConfig *src, SealConfig *dst, MemoryContext mcxt)
{
	*dst = *src;
	dst->holidays = MemoryContextAlloc(mcxt, sizeof(int32) * Max(src->nholidays, 1));
	memcpy(dst->holidays, src->holidays, sizeof(int32) * src->nholidays);
	dst->devices = MemoryContextAlloc(mcxt, sizeof(uint64) * Max(src->ndevices, 1));
	memcpy(dst->devices, src->devices, sizeof(uint64) * src->ndevices);
	dst->grants = MemoryContextAlloc(mcxt, sizeof(SealGrant) * Max(src->ngrants, 1));
	memcpy(dst->grants, src->grants, sizeof(SealGrant) * src->ngrants);
}

/* A seal's settings, from the backend's cache or read (SE007); SPI connected. */
static void
cached_config(const pg_uuid_t *seal_id, SealConfig *cfg, MemoryContext mcxt)
{
	ConfigEntry *ce;
	bool		found;

	if (config_context == NULL)
	{
		config_context = AllocSetContextCreate(TopMemoryContext, "sealpg anomaly settings",
											   ALLOCSET_DEFAULT_SIZES);
		CacheRegisterRelcacheCallback(anomaly_relcache_callback, (Datum) 0);
	}
	if (config_stale || (config_cache != NULL && hash_get_num_entries(config_cache) >= CONFIG_CACHE_MAX))
	{
		MemoryContextReset(config_context);
		config_cache = NULL;
		config_stale = false;
	}
	if (config_cache == NULL)
	{
		HASHCTL		ctl;

		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(ConfigEntry);
		ctl.hcxt = config_context;
		config_cache = hash_create("sealpg anomaly settings", 256, &ctl,
								   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	ce = hash_search(config_cache, seal_id, HASH_FIND, NULL);
	if (ce == NULL)
	{
		SealConfig	fresh;

		anomaly_load_config(seal_id, &fresh, CurrentMemoryContext);
		if (config_cache == NULL)
		{
			/* an invalidation arrived while reading: use it uncached */
			copy_config(&fresh, cfg, mcxt);
			return;
		}
		ce = hash_search(config_cache, seal_id, HASH_ENTER, &found);
		copy_config(&fresh, &ce->cfg, config_context);
	}
	copy_config(&ce->cfg, cfg, mcxt);
}

/* Statement trigger on the settings tables: every backend rereads them. */
PG_FUNCTION_INFO_V1(anomaly_settings_changed);
Datum
anomaly_settings_changed(PG_FUNCTION_ARGS)
{
	Oid			relid;

	if (!CALLED_AS_TRIGGER(fcinfo))
		elog(ERROR, "anomaly_settings_changed: not called as a trigger");
	relid = get_relname_relid("use_events", get_namespace_oid("sealpg", false));
	if (OidIsValid(relid))
		CacheInvalidateRelcacheByRelid(relid);
	return PointerGetDatum(NULL);
}

/* The cache, created on first use. */
static HTAB *
cache_get(void)
{
	HASHCTL		ctl;

	if (!callbacks_registered)
	{
		RegisterXactCallback(anomaly_xact_callback, NULL);
		RegisterSubXactCallback(anomaly_subxact_callback, NULL);
		callbacks_registered = true;
	}
	if (cache_context == NULL)
		cache_context = AllocSetContextCreate(TopMemoryContext, "sealpg anomaly cache",
											  ALLOCSET_DEFAULT_SIZES);
	if (cache == NULL)
	{
		memset(&ctl, 0, sizeof(ctl));
		ctl.keysize = sizeof(pg_uuid_t);
		ctl.entrysize = sizeof(CacheEntry);
		ctl.hcxt = cache_context;
		cache = hash_create("sealpg anomaly seals", 64, &ctl,
							HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
	}
	return cache;
}

/* ---- queries ------------------------------------------------------- */

/* Prepare and keep a plan under the search path "pg_catalog, pg_temp". */
SPIPlanPtr
anomaly_prepare(const char *sql, int nargs, Oid *types)
{
	int			nest = NewGUCNestLevel();
	SPIPlanPtr	plan;

	(void) set_config_option("search_path", "pg_catalog, pg_temp", PGC_USERSET, PGC_S_SESSION,
							 GUC_ACTION_SAVE, true, 0, false);
	plan = SPI_prepare(sql, nargs, types);
	if (plan == NULL)
		elog(ERROR, "could not prepare anomaly query: %s", SPI_result_code_string(SPI_result));
	AtEOXact_GUC(true, nest);
	if (SPI_keepplan(plan) != 0)
		elog(ERROR, "could not keep anomaly query plan");
	return plan;
}

/* Column of an SPI result row as a datum; *isnull set. */
static Datum
spi_col(int col, bool *isnull)
{
	return SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, col, isnull);
}

/* Column of an SPI result row as a C string in mcxt, or NULL. */
static char *
spi_text(int col, MemoryContext mcxt)
{
	bool		isnull;
	Datum		d = spi_col(col, &isnull);

	if (isnull)
		return NULL;
	return MemoryContextStrdup(mcxt, TextDatumGetCString(d));
}

/* An array column as datums (elements may be NULL), in the current context. */
static int
spi_array(int col, Oid elemtype, Datum **elems, bool **nulls)
{
	bool		isnull;
	Datum		d = spi_col(col, &isnull);
	int16		typlen;
	bool		typbyval;
	char		typalign;
	int			n;

	if (isnull)
		return 0;
	get_typlenbyvalalign(elemtype, &typlen, &typbyval, &typalign);
	deconstruct_array(DatumGetArrayTypeP(d), elemtype, typlen, typbyval, typalign, elems, nulls, &n);
	return n;
}

/* Seconds (float8 column) as microseconds, if not NULL. */
static void
spi_interval_us(int col, int64 *target)
{
	bool		isnull;
	Datum		d = spi_col(col, &isnull);

	if (!isnull)
		*target = (int64) (DatumGetFloat8(d) * USECS_PER_SEC);
}

/* Integer column, if not NULL. */
static void
spi_int(int col, int *target)
{
	bool		isnull;
	Datum		d = spi_col(col, &isnull);

	if (!isnull)
		*target = DatumGetInt32(d);
}

/* Double column, if not NULL. */
static void
spi_double(int col, double *target)
{
	bool		isnull;
	Datum		d = spi_col(col, &isnull);

	if (!isnull)
		*target = DatumGetFloat8(d);
}

#define CONFIG_SQL \
	"SELECT s.es_id, s.organisation_id, s.time_zone, s.home_latitude, s.home_longitude," \
	"       s.home_radius_m, s.device_id, s.status::text," \
	"       c.work_days, c.day_start, c.day_end," \
	"       ARRAY(SELECT h.day - DATE '2000-01-01' FROM sealpg.holidays h" \
	"              WHERE h.organisation_id = s.organisation_id ORDER BY h.day)," \
	"       ARRAY(SELECT d.device_id FROM sealpg.seal_devices d WHERE d.seal_id = s.seal_id)," \
	"       ARRAY(SELECT o.operator::text FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id ORDER BY o.operator)," \
	"       ARRAY(SELECT o.grant_from FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id ORDER BY o.operator)," \
	"       ARRAY(SELECT o.grant_until FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id ORDER BY o.operator)," \
	"       ARRAY(SELECT coalesce(o.max_uses, 0) FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id ORDER BY o.operator)," \
	"       ARRAY(SELECT o.granted_at FROM sealpg.seal_operators o WHERE o.seal_id = s.seal_id ORDER BY o.operator)," \
	"       coalesce(rs.disabled_rules, ro.disabled_rules)," \
	"       coalesce(rs.burst_max_uses, ro.burst_max_uses)," \
	"       extract(epoch FROM coalesce(rs.burst_window, ro.burst_window))::float8," \
	"       coalesce(rs.travel_max_kmh, ro.travel_max_kmh)," \
	"       coalesce(rs.force_max_z, ro.force_max_z)," \
	"       coalesce(rs.force_min_samples, ro.force_min_samples)," \
	"       coalesce(rs.learning_uses, ro.learning_uses)," \
	"       extract(epoch FROM coalesce(rs.learning_period, ro.learning_period))::float8," \
	"       coalesce(rs.place_cell_m, ro.place_cell_m)," \
	"       coalesce(rs.sequence_max_gap, ro.sequence_max_gap)," \
	"       extract(epoch FROM coalesce(rs.suppression_window, ro.suppression_window))::float8" \
	"  FROM sealpg.seals s" \
	"  LEFT JOIN sealpg.calendars c ON c.calendar_id = s.calendar_id" \
	"  LEFT JOIN sealpg.rule_settings rs ON rs.organisation_id = s.organisation_id AND rs.seal_id = s.seal_id" \
	"  LEFT JOIN sealpg.rule_settings ro ON ro.organisation_id = s.organisation_id AND ro.seal_id IS NULL" \
	" WHERE s.seal_id = $1"

/*
 * Read a seal's settings into cfg (arrays allocated in mcxt).  Raises
 * SE007 when the seal does not exist.  The caller is connected to SPI.
 */
void
anomaly_load_config(const pg_uuid_t *seal_id, SealConfig *cfg, MemoryContext mcxt)
{
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	int			rc;
	bool		isnull;
	Datum		d;
	Datum	   *elems;
	bool	   *nulls;
	int			n,
				i;
	char	   *tz;

	if (config_plan == NULL)
		config_plan = anomaly_prepare(CONFIG_SQL, 1, types);
	args[0] = UUIDPGetDatum(seal_id);
	rc = SPI_execute_plan(config_plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read seal settings: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		char	   *text = DatumGetCString(DirectFunctionCall1(uuid_out, UUIDPGetDatum(seal_id)));

		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NOT_FOUND),
				 errmsg("seal %s does not exist", text),
				 errhint("A use names its seal by seal_id; sealpg.record_use() takes the esID.")));
	}

	memset(cfg, 0, sizeof(*cfg));
	memcpy(&cfg->seal_id, seal_id, sizeof(pg_uuid_t));
	strlcpy(cfg->es_id, spi_text(1, mcxt), sizeof(cfg->es_id));
	memcpy(&cfg->organisation_id, DatumGetUUIDP(spi_col(2, &isnull)), sizeof(pg_uuid_t));
	tz = spi_text(3, mcxt);
	cfg->tz = tz ? pg_tzset(tz) : NULL;
	d = spi_col(4, &isnull);
	cfg->has_home = !isnull;
	if (!isnull)
	{
		cfg->home_lat = DatumGetFloat8(d);
		cfg->home_lon = DatumGetFloat8(spi_col(5, &isnull));
	}
	d = spi_col(6, &isnull);
	cfg->has_radius = !isnull;
	if (!isnull)
		cfg->home_radius_m = DatumGetFloat8(d);
	strlcpy(cfg->status, spi_text(8, mcxt), sizeof(cfg->status));

	/* calendar */
	n = spi_array(9, INT4OID, &elems, &nulls);
	cfg->has_calendar = n > 0;
	for (i = 0; i < n; i++)
		if (!nulls[i] && DatumGetInt32(elems[i]) >= 1 && DatumGetInt32(elems[i]) <= 7)
			cfg->work_days |= 1 << DatumGetInt32(elems[i]);
	if (cfg->has_calendar)
	{
		cfg->day_start_us = DatumGetTimeADT(spi_col(10, &isnull));
		cfg->day_end_us = DatumGetTimeADT(spi_col(11, &isnull));
	}

	/* holidays, sorted by the query */
	n = spi_array(12, INT4OID, &elems, &nulls);
	cfg->holidays = MemoryContextAlloc(mcxt, sizeof(int32) * Max(n, 1));
	for (i = 0; i < n; i++)
		cfg->holidays[cfg->nholidays++] = DatumGetInt32(elems[i]);

	/* devices: the bound one, then seal_devices */
	n = spi_array(13, TEXTOID, &elems, &nulls);
	cfg->devices = MemoryContextAlloc(mcxt, sizeof(uint64) * (n + 1));
	{
		char	   *bound = spi_text(7, mcxt);

		if (bound != NULL)
			cfg->devices[cfg->ndevices++] = anomaly_hash(bound);
	}
	for (i = 0; i < n; i++)
		if (!nulls[i])
			cfg->devices[cfg->ndevices++] = anomaly_hash(TextDatumGetCString(elems[i]));

	/* grants: five arrays in the same order */
	{
		Datum	   *ops,
				   *from,
				   *until,
				   *maxu,
				   *at;
		bool	   *ops_n,
				   *from_n,
				   *until_n,
				   *maxu_n,
				   *at_n;

		n = spi_array(14, TEXTOID, &ops, &ops_n);
		(void) spi_array(15, TIMESTAMPTZOID, &from, &from_n);
		(void) spi_array(16, TIMESTAMPTZOID, &until, &until_n);
		(void) spi_array(17, INT4OID, &maxu, &maxu_n);
		(void) spi_array(18, TIMESTAMPTZOID, &at, &at_n);
		cfg->grants = MemoryContextAllocZero(mcxt, sizeof(SealGrant) * Max(n, 1));
		for (i = 0; i < n; i++)
		{
			SealGrant  *g = &cfg->grants[cfg->ngrants++];

			strlcpy(g->operator, TextDatumGetCString(ops[i]), NAMEDATALEN);
			g->has_from = !from_n[i];
			g->grant_from = from_n[i] ? 0 : DatumGetTimestampTz(from[i]);
			g->has_until = !until_n[i];
			g->grant_until = until_n[i] ? 0 : DatumGetTimestampTz(until[i]);
			g->max_uses = maxu_n[i] ? 0 : DatumGetInt32(maxu[i]);
			g->granted_at = at_n[i] ? 0 : DatumGetTimestampTz(at[i]);
		}
	}

	/* settings: NULL inherits the built-in default */
	anomaly_default_settings(&cfg->set);
	n = spi_array(19, TEXTOID, &elems, &nulls);
	for (i = 0; i < n; i++)
	{
		int			rule;

		if (nulls[i])
			continue;
		rule = anomaly_rule_by_name(TextDatumGetCString(elems[i]));
		if (rule >= 0)
			cfg->set.disabled |= 1U << rule;
	}
	spi_int(20, &cfg->set.burst_max_uses);
	spi_interval_us(21, &cfg->set.burst_window_us);
	spi_double(22, &cfg->set.travel_max_kmh);
	spi_double(23, &cfg->set.force_max_z);
	spi_int(24, &cfg->set.force_min_samples);
	spi_int(25, &cfg->set.learning_uses);
	spi_interval_us(26, &cfg->set.learning_period_us);
	spi_double(27, &cfg->set.place_cell_m);
	spi_int(28, &cfg->set.sequence_max_gap);
	spi_interval_us(29, &cfg->set.suppression_us);
}

StaticAssertDecl(sizeof(SealState) <= 1700,
				 "SealState must stay below the TOAST threshold with the other profile columns");

/* Turn a stored state into st; an absent or outdated one starts empty. */
void
anomaly_state_from_bytea(bytea *b, SealState *st)
{
	if (b != NULL && VARSIZE_ANY_EXHDR(b) == sizeof(SealState))
	{
		memcpy(st, VARDATA_ANY(b), sizeof(SealState));
		if (st->version == ANOMALY_STATE_VERSION)
			return;
	}
	anomaly_state_init(st);
}

/* Read (and lock) the seal's state; create its profile row if needed. */
static void
load_state(const pg_uuid_t *seal_id, SealState *st)
{
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	int			rc;
	bool		isnull;
	Datum		d;

	if (state_plan == NULL)
	{
		state_plan = anomaly_prepare("SELECT p.state FROM sealpg.seal_profiles p"
								  " WHERE p.seal_id = $1 FOR UPDATE", 1, types);
		state_insert_plan = anomaly_prepare("INSERT INTO sealpg.seal_profiles (seal_id) VALUES ($1)"
										 " ON CONFLICT (seal_id) DO NOTHING", 1, types);
	}
	args[0] = UUIDPGetDatum(seal_id);
	rc = SPI_execute_plan(state_plan, args, NULL, false, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not read seal state: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
	{
		rc = SPI_execute_plan(state_insert_plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "could not create seal profile: %s", SPI_result_code_string(rc));
		rc = SPI_execute_plan(state_plan, args, NULL, false, 1);
		if (rc != SPI_OK_SELECT || SPI_processed != 1)
			elog(ERROR, "could not lock seal profile");
	}
	d = spi_col(1, &isnull);
	anomaly_state_from_bytea(isnull ? NULL : DatumGetByteaPP(d), st);
}

/* Write a seal's state and the profile columns derived from it (row exists, locked). */
void
anomaly_store_state(const SealConfig *cfg, const SealState *st, bool rebuilt)
{
	Oid			types[10] = {UUIDOID, INT8OID, TIMESTAMPTZOID, TIMESTAMPTZOID, FLOAT8OID,
	INT8OID, FLOAT8OID, FLOAT8OID, BYTEAOID, BOOLOID};
	Datum		args[10];
	char		nulls[10] = {' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' ', ' '};
	bytea	   *b;
	int			rc;
	double		days;

	if (store_plan == NULL)
		store_plan = anomaly_prepare(
								  "UPDATE sealpg.seal_profiles p SET events = $2, first_event_at = $3,"
								  "  last_event_at = $4, rate_per_day = $5, force_samples = $6, force_mean = $7,"
								  "  force_stddev = $8, state = $9, updated_at = now(),"
								  "  rebuilt_at = CASE WHEN $10 THEN now() ELSE p.rebuilt_at END"
								  " WHERE p.seal_id = $1",
								  10, types);

	b = palloc(VARHDRSZ + sizeof(SealState));
	SET_VARSIZE(b, VARHDRSZ + sizeof(SealState));
	memcpy(VARDATA(b), st, sizeof(SealState));

	args[0] = UUIDPGetDatum(&cfg->seal_id);
	args[1] = Int64GetDatum(st->events);
	args[2] = TimestampTzGetDatum(st->first_at);
	args[3] = TimestampTzGetDatum(st->last_at);
	nulls[2] = nulls[3] = nulls[4] = st->events > 0 ? ' ' : 'n';
	days = (double) (st->last_at - st->first_at) / USECS_PER_DAY;
	args[4] = Float8GetDatum(st->events / Max(days, 1.0));
	args[5] = Int64GetDatum(st->force_n);
	args[6] = Float8GetDatum(st->force_mean);
	nulls[6] = st->force_n > 0 ? ' ' : 'n';
	args[7] = Float8GetDatum(st->force_n > 1 ? sqrt(st->force_m2 / (st->force_n - 1)) : 0.0);
	nulls[7] = st->force_n > 1 ? ' ' : 'n';
	args[8] = PointerGetDatum(b);
	args[9] = BoolGetDatum(rebuilt);
	rc = SPI_execute_plan(store_plan, args, nulls, false, 0);
	if (rc != SPI_OK_UPDATE || SPI_processed != 1)
		elog(ERROR, "could not store seal profile: %s", SPI_result_code_string(rc));
	pfree(b);
}

/* Look up a seal by esID; false when there is none. */
bool
anomaly_find_seal(const char *es_id, pg_uuid_t *seal_id)
{
	Oid			types[1] = {TEXTOID};
	Datum		args[1];
	bool		isnull;
	int			rc;

	if (find_plan == NULL)
		find_plan = anomaly_prepare("SELECT s.seal_id FROM sealpg.seals s WHERE s.es_id = $1", 1, types);
	args[0] = CStringGetTextDatum(es_id);
	rc = SPI_execute_plan(find_plan, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "could not look up seal: %s", SPI_result_code_string(rc));
	if (SPI_processed == 0)
		return false;
	memcpy(seal_id, DatumGetUUIDP(spi_col(1, &isnull)), sizeof(pg_uuid_t));
	return true;
}

/* Raise SE007 unless the caller belongs to the seal's organisation. */
void
anomaly_check_member(const SealConfig *cfg, const char *es_id)
{
	Oid			types[1] = {UUIDOID};
	Datum		args[1];
	bool		isnull;
	int			rc;

	args[0] = UUIDPGetDatum(&cfg->organisation_id);
	rc = SPI_execute_with_args("SELECT sealpg.is_member($1)", 1, types, args, NULL, true, 1);
	if (rc != SPI_OK_SELECT || SPI_processed != 1)
		elog(ERROR, "could not check membership");
	if (!DatumGetBool(spi_col(1, &isnull)))
		ereport(ERROR,
				(errcode(ERRCODE_SEAL_NOT_FOUND),
				 errmsg("seal \"%s\" does not exist", es_id),
				 errhint("Seals are named by their esID; SELECT es_id FROM sealpg.seals lists the ones you may see.")));
}

/* ---- the triggers -------------------------------------------------- */

/* Find the columns of use_events in this relation's descriptor. */
static void
lookup_columns(Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			i;

	if (cols_relid == RelationGetRelid(rel) && cols_natts == desc->natts)
		return;
	for (i = 0; i < NUM_COLS; i++)
	{
		cols[i] = SPI_fnumber(desc, col_names[i]);
		if (cols[i] <= 0)
			elog(ERROR, "sealpg.use_events has no column \"%s\"", col_names[i]);
	}
	cols_relid = RelationGetRelid(rel);
	cols_natts = desc->natts;
}

/* A column of the trigger's row; *isnull set. */
static inline Datum
getcol(Relation rel, HeapTuple tuple, int col, bool *isnull)
{
	return heap_getattr(tuple, cols[col], RelationGetDescr(rel), isnull);
}

/* Refuse a non-finite number with SE604. */
static void
check_finite(double v, const char *column)
{
	if (isnan(v) || isinf(v))
		ereport(ERROR,
				(errcode(ERRCODE_USE_NOT_A_NUMBER),
				 errmsg("%s of a use must be a finite number", column),
				 errdetail("NaN and infinity are refused.")));
}

/* Check the fields of one use; errors carry SE601..SE605. */
static void
validate_use(Relation rel, HeapTuple tuple)
{
	bool		lat_null,
				lon_null,
				isnull,
				dev_null;
	double		lat = 0,
				lon = 0;
	Datum		d;

	d = getcol(rel, tuple, COL_OCCURRED_AT, &isnull);
	if (!isnull)
	{
		TimestampTz at = DatumGetTimestampTz(d);
		TimestampTz limit;

		if (TIMESTAMP_NOT_FINITE(at))
			ereport(ERROR,
					(errcode(ERRCODE_USE_NOT_A_NUMBER),
					 errmsg("occurred_at of a use must be a finite time"),
					 errdetail("infinity and -infinity are refused.")));
		limit = GetCurrentTimestamp() + (int64) sealpg_max_clock_skew_s * USECS_PER_SEC;
		if (at > limit)
			ereport(ERROR,
					(errcode(ERRCODE_USE_IN_FUTURE),
					 errmsg("use occurred at %s, in the future", timestamptz_to_str(at)),
					 errdetail("Uses may be dated at most sealpg.max_clock_skew (%d s) ahead of the server's clock.",
							   sealpg_max_clock_skew_s),
					 errhint("Check the clock of the reporting device.")));
	}

	d = getcol(rel, tuple, COL_LATITUDE, &lat_null);
	if (!lat_null)
	{
		lat = DatumGetFloat8(d);
		check_finite(lat, "latitude");
		if (lat < -90.0 || lat > 90.0)
			ereport(ERROR,
					(errcode(ERRCODE_USE_BAD_LOCATION),
					 errmsg("latitude %g is out of range", lat),
					 errdetail("A latitude lies between -90 and 90 degrees.")));
	}
	d = getcol(rel, tuple, COL_LONGITUDE, &lon_null);
	if (!lon_null)
	{
		lon = DatumGetFloat8(d);
		check_finite(lon, "longitude");
		if (lon < -180.0 || lon > 180.0)
			ereport(ERROR,
					(errcode(ERRCODE_USE_BAD_LOCATION),
					 errmsg("longitude %g is out of range", lon),
					 errdetail("A longitude lies between -180 and 180 degrees.")));
	}
	if (lat_null != lon_null)
		ereport(ERROR,
				(errcode(ERRCODE_USE_BAD_LOCATION),
				 errmsg("a use's location needs both latitude and longitude")));
	d = getcol(rel, tuple, COL_ACCURACY, &isnull);
	if (!isnull)
	{
		double		acc = DatumGetFloat4(d);

		check_finite(acc, "accuracy_m");
		if (acc < 0)
			ereport(ERROR,
					(errcode(ERRCODE_USE_BAD_LOCATION),
					 errmsg("accuracy %g m is negative", acc),
					 errdetail("The accuracy of a location is a radius in metres, zero or more.")));
	}
	d = getcol(rel, tuple, COL_FORCE, &isnull);
	if (!isnull)
	{
		double		force = DatumGetFloat4(d);

		check_finite(force, "force_n");
		if (force < 0)
			ereport(ERROR,
					(errcode(ERRCODE_USE_BAD_FORCE),
					 errmsg("force %g N is negative", force),
					 errdetail("The stamping force is measured in newtons, zero or more.")));
	}
	(void) getcol(rel, tuple, COL_DEVICE_ID, &dev_null);
	d = getcol(rel, tuple, COL_DEVICE_SEQ, &isnull);
	if (!isnull && (dev_null || DatumGetInt64(d) < 0))
		ereport(ERROR,
				(errcode(ERRCODE_USE_BAD_SEQUENCE),
				 errmsg("invalid device sequence number " INT64_FORMAT, DatumGetInt64(d)),
				 errdetail(dev_null ? "A sequence number belongs to a device: device_id is missing."
						   : "Device sequence numbers are zero or more.")));
}

/* The statement's cached entry of a seal, or NULL. */
static CacheEntry *
cache_lookup(const pg_uuid_t *seal_id)
{
	return (CacheEntry *) hash_search(cache_get(), seal_id, HASH_FIND, NULL);
}

/* The cached entry of a seal, loading it (settings and locked state); SPI connected. */
static CacheEntry *
cache_entry(const pg_uuid_t *seal_id)
{
	HTAB	   *h = cache_get();
	CacheEntry *e;
	bool		found;

	e = hash_search(h, seal_id, HASH_FIND, NULL);
	if (e != NULL)
		return e;
	{
		SealConfig	cfg;
		SealState  *st = palloc(sizeof(SealState));

		/* load before entering: an error leaves no half-made entry */
		cached_config(seal_id, &cfg, cache_context);
		load_state(seal_id, st);
		e = hash_search(h, seal_id, HASH_ENTER, &found);
		e->cfg = cfg;
		memcpy(&e->st, st, sizeof(SealState));
		e->dirty = false;
		pfree(st);
	}
	return e;
}

/* Switch to the owner of use_events for the engine's own queries. */
#define AS_OWNER_BEGIN(rel) \
	do { \
		Oid			save_userid_; \
		int			save_sec_; \
		GetUserIdAndSecContext(&save_userid_, &save_sec_); \
		SetUserIdAndSecContext((rel)->rd_rel->relowner, \
							   save_sec_ | SECURITY_LOCAL_USERID_CHANGE | SECURITY_NOFORCE_RLS)
#define AS_OWNER_END() \
		SetUserIdAndSecContext(save_userid_, save_sec_); \
	} while (0)

/* BEFORE INSERT trigger on use_events: validation and seal lookup. */
PG_FUNCTION_INFO_V1(use_event_check);
Datum
use_event_check(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	bool		isnull;
	Datum		d;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event) || !TRIGGER_FIRED_BY_INSERT(trigdata->tg_event))
		elog(ERROR, "use_event_check: not called as a BEFORE INSERT row trigger");
	rel = trigdata->tg_relation;
	tuple = trigdata->tg_trigtuple;
	lookup_columns(rel);
	validate_use(rel, tuple);

	use_events_relid = RelationGetRelid(rel);
	d = getcol(rel, tuple, COL_SEAL_ID, &isnull);
	if (!isnull && cache_lookup(DatumGetUUIDP(d)) == NULL)
	{
		AS_OWNER_BEGIN(rel);
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		(void) cache_entry(DatumGetUUIDP(d));
		SPI_finish();
		AS_OWNER_END();
	}
	return PointerGetDatum(tuple);
}

/* Fill a UseEvent from a stored row (strings point into the row's copies). */
static void
event_from_row(Relation rel, HeapTuple tuple, UseEvent *ev)
{
	bool		isnull;
	Datum		d;

	memset(ev, 0, sizeof(*ev));
	memcpy(&ev->event_id, DatumGetUUIDP(getcol(rel, tuple, COL_EVENT_ID, &isnull)), sizeof(pg_uuid_t));
	ev->occurred_at = DatumGetTimestampTz(getcol(rel, tuple, COL_OCCURRED_AT, &isnull));
	d = getcol(rel, tuple, COL_LATITUDE, &isnull);
	ev->has_pos = !isnull;
	if (ev->has_pos)
	{
		ev->lat = DatumGetFloat8(d);
		ev->lon = DatumGetFloat8(getcol(rel, tuple, COL_LONGITUDE, &isnull));
		d = getcol(rel, tuple, COL_ACCURACY, &isnull);
		ev->acc = isnull ? -1.0 : DatumGetFloat4(d);
	}
	d = getcol(rel, tuple, COL_OPERATOR, &isnull);
	ev->operator = isnull ? NULL : TextDatumGetCString(d);
	d = getcol(rel, tuple, COL_DEVICE_ID, &isnull);
	ev->device_id = isnull ? NULL : TextDatumGetCString(d);
	d = getcol(rel, tuple, COL_DEVICE_SEQ, &isnull);
	ev->has_seq = !isnull;
	ev->seq = isnull ? 0 : DatumGetInt64(d);
	d = getcol(rel, tuple, COL_FORCE, &isnull);
	ev->has_force = !isnull;
	ev->force = isnull ? 0 : DatumGetFloat4(d);
	d = getcol(rel, tuple, COL_SOURCE, &isnull);
	ev->electronic = !isnull && strcmp(TextDatumGetCString(d), "electronic") == 0;
}

/* AFTER INSERT row trigger on use_events: the rules, alerts, learning. */
PG_FUNCTION_INFO_V1(use_event_rules);
Datum
use_event_rules(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	Relation	rel;
	HeapTuple	tuple;
	UseEvent	ev;
	RuleHit		hits[NUM_ANOMALY_RULES];
	int			nhits,
				i;
	bool		isnull;
	pg_uuid_t	seal_id;
	CacheEntry *e;
	bool		connected = false;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(trigdata->tg_event))
		elog(ERROR, "use_event_rules: not called as an AFTER row trigger");
	rel = trigdata->tg_relation;
	tuple = trigdata->tg_trigtuple;
	lookup_columns(rel);
	memcpy(&seal_id, DatumGetUUIDP(getcol(rel, tuple, COL_SEAL_ID, &isnull)), sizeof(pg_uuid_t));
	event_from_row(rel, tuple, &ev);

	use_events_relid = RelationGetRelid(rel);
	e = cache_lookup(&seal_id);
	AS_OWNER_BEGIN(rel);
	if (e == NULL)
	{
		/* the statement cache was emptied (a nested statement flushed it) */
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		connected = true;
		e = cache_entry(&seal_id);
	}
	anomaly_prepare_event(&e->cfg, &ev);
	nhits = anomaly_evaluate(&e->cfg, &e->st, &ev, hits);
	if (nhits > 0 && !connected)
	{
		if (SPI_connect() != SPI_OK_CONNECT)
			elog(ERROR, "SPI_connect failed");
		connected = true;
	}
	for (i = 0; i < nhits; i++)
		anomaly_raise(&e->cfg, &ev, &hits[i]);
	/* raising ran queries, which may have flushed the statement cache */
	if (nhits > 0)
		e = cache_entry(&seal_id);
	anomaly_learn(&e->cfg, &e->st, &ev);
	e->dirty = true;
	if (connected)
		SPI_finish();
	AS_OWNER_END();
	return PointerGetDatum(NULL);
}

/* AFTER INSERT statement trigger on use_events: write back the states. */
PG_FUNCTION_INFO_V1(use_event_flush);
Datum
use_event_flush(PG_FUNCTION_ARGS)
{
	TriggerData *trigdata = (TriggerData *) fcinfo->context;
	HASH_SEQ_STATUS scan;
	CacheEntry *e;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(trigdata->tg_event) ||
		!TRIGGER_FIRED_FOR_STATEMENT(trigdata->tg_event))
		elog(ERROR, "use_event_flush: not called as an AFTER statement trigger");
	if (cache == NULL)
		return PointerGetDatum(NULL);

	AS_OWNER_BEGIN(trigdata->tg_relation);
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	hash_seq_init(&scan, cache);
	while ((e = hash_seq_search(&scan)) != NULL)
		if (e->dirty)
			anomaly_store_state(&e->cfg, &e->st, false);
	SPI_finish();
	AS_OWNER_END();
	cache_reset();
	return PointerGetDatum(NULL);
}
