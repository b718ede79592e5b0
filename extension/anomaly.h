/*-------------------------------------------------------------------------
 *
 * anomaly.h
 *	  The anomaly engine's data: a seal's settings (SealConfig), its
 *	  working state (SealState, stored as bytea in sealpg.seal_profiles),
 *	  one use (UseEvent) and one rule hit (RuleHit).
 *
 * The rules (rules.c) are pure functions of these structures: they do no
 * I/O, so the triggers (anomaly.c), the replay (replay.c) and the
 * benchmarks all run the very same code.  SealState has a fixed size and
 * layout; ANOMALY_STATE_VERSION changes whenever the layout does, and a
 * stored state of another version is rebuilt from the stored uses.  It is
 * kept under 1.7 kB so that the profile row stays below PostgreSQL's
 * TOAST threshold: written on every statement, it is never compressed
 * (pglz was a tenth of the cost of a single-use transaction when it was).
 *
 *-------------------------------------------------------------------------
 */
#ifndef SEALPG_ANOMALY_H
#define SEALPG_ANOMALY_H

#include "postgres.h"

#include "datatype/timestamp.h"
#include "lib/stringinfo.h"
#include "pgtime.h"
#include "utils/uuid.h"

#define ANOMALY_STATE_VERSION	1
#define ANOMALY_BURST_RING		128	/* burst_max_uses is at most 127 */
#define ANOMALY_MAX_PLACES		32
#define ANOMALY_MAX_DEVICES		8
#define ANOMALY_MAX_OPERATORS	8
#define ANOMALY_DETAILS_MAX		512

/* A missing accuracy counts as this many metres (impossible travel, geofence). */
#define ANOMALY_DEFAULT_ACCURACY_M	100.0

typedef enum AnomalyRule
{
	RULE_OFF_HOURS = 0,
	RULE_GEOFENCE,
	RULE_NEW_PLACE,
	RULE_BURST,
	RULE_IMPOSSIBLE_TRAVEL,
	RULE_UNKNOWN_DEVICE,
	RULE_FORCE_OUTLIER,
	RULE_SEQUENCE_GAP,
	RULE_SEQUENCE_REWIND,
	RULE_GRANT_OVERRUN,
	RULE_SILENT_DEVICE,
	NUM_ANOMALY_RULES
} AnomalyRule;

typedef enum AnomalySeverity
{
	SEVERITY_INFO = 0,
	SEVERITY_WARNING,
	SEVERITY_CRITICAL
} AnomalySeverity;

/* Thresholds after inheritance (seal -> organisation -> default). */
typedef struct RuleSettings
{
	uint32		disabled;		/* bit (1 << rule) set: rule does not run */
	int			burst_max_uses;
	int64		burst_window_us;
	double		travel_max_kmh;
	double		force_max_z;
	int			force_min_samples;
	int			learning_uses;
	int64		learning_period_us;
	double		place_cell_m;
	int			sequence_max_gap;
	int64		suppression_us;
} RuleSettings;

/* One operator's grant on the seal (sealpg.seal_operators). */
typedef struct SealGrant
{
	char		operator[NAMEDATALEN];
	bool		has_from;
	bool		has_until;
	TimestampTz grant_from;
	TimestampTz grant_until;
	int			max_uses;		/* 0: no limit */
	TimestampTz granted_at;
} SealGrant;

/* What the rules need to know about a seal, read once per statement. */
typedef struct SealConfig
{
	pg_uuid_t	seal_id;
	pg_uuid_t	organisation_id;
	char		es_id[65];
	char		status[16];
	pg_tz	   *tz;
	bool		has_calendar;
	uint8		work_days;		/* bit (1 << ISO day) */
	int64		day_start_us;
	int64		day_end_us;
	int			nholidays;
	int32	   *holidays;		/* sorted DateADT values */
	bool		has_home;
	bool		has_radius;
	double		home_lat;
	double		home_lon;
	double		home_radius_m;
	int			ndevices;		/* bound device first, then seal_devices */
	uint64	   *devices;		/* hashes of device ids */
	int			ngrants;
	SealGrant  *grants;
	RuleSettings set;
} SealConfig;

typedef struct PlaceCount
{
	float4		lat;			/* about 1 m of precision: plenty for places */
	float4		lon;
	int32		count;
} PlaceCount;

typedef struct DeviceCounter
{
	uint64		device;			/* hash of the device id */
	int64		last_seq;
} DeviceCounter;

typedef struct OperatorCount
{
	uint64		operator;		/* hash of the operator */
	TimestampTz since;			/* the grant's granted_at when counting began */
	int32		uses;
	int32		pad;
} OperatorCount;

/* The engine's working state of one seal: fixed size, stored as bytea. */
typedef struct SealState
{
	uint32		version;
	int32		nplaces;
	int32		ndevices;
	int32		noperators;
	int64		events;
	TimestampTz first_at;
	TimestampTz last_at;
	int32		has_pos;
	int32		ring_next;
	int32		ring_count;
	int32		pad;
	double		last_lat;
	double		last_lon;
	double		last_acc;
	TimestampTz last_pos_at;
	int64		force_n;
	double		force_mean;
	double		force_m2;
	uint16		hours[168];		/* ISO hour of week, Monday 00h = 0, local;
								 * all halved when one would overflow */
	int32		ring[ANOMALY_BURST_RING];	/* seconds since 2000-01-01 */
	PlaceCount	places[ANOMALY_MAX_PLACES];
	DeviceCounter devices[ANOMALY_MAX_DEVICES];
	OperatorCount operators[ANOMALY_MAX_OPERATORS];
} SealState;

/* One use, as the rules see it. */
typedef struct UseEvent
{
	pg_uuid_t	event_id;
	TimestampTz occurred_at;
	bool		has_pos;
	double		lat;
	double		lon;
	double		acc;
	const char *operator;
	const char *device_id;
	bool		has_seq;
	int64		seq;
	bool		has_force;
	double		force;
	bool		electronic;
	/* filled by anomaly_prepare_event() */
	bool		has_local;
	int			iso_dow;		/* 1 = Monday */
	int			hour;
	int64		time_of_day_us;
	int32		local_date;		/* DateADT */
	uint64		device_hash;
	uint64		operator_hash;
} UseEvent;

/* One rule that fired on one use. */
typedef struct RuleHit
{
	AnomalyRule rule;
	AnomalySeverity severity;
	int			risk_score;
	char		details[ANOMALY_DETAILS_MAX];	/* a JSON object */
} RuleHit;

/* rules.c */
extern const char *anomaly_rule_name(AnomalyRule rule);
extern int	anomaly_rule_by_name(const char *name);
extern const char *anomaly_severity_name(AnomalySeverity severity);
extern void anomaly_default_settings(RuleSettings *set);
extern void anomaly_state_init(SealState *st);
extern uint64 anomaly_hash(const char *text);
extern void anomaly_prepare_event(const SealConfig *cfg, UseEvent *ev);
extern int	anomaly_evaluate(const SealConfig *cfg, const SealState *st,
							 const UseEvent *ev, RuleHit *hits);
extern void anomaly_learn(const SealConfig *cfg, SealState *st, const UseEvent *ev);

/* geo.c */
extern double sealpg_haversine(double lat1, double lon1, double lat2, double lon2);
extern double sealpg_flat_distance(double lat1, double lon1, double lat2, double lon2);

/* anomaly.c */
struct _SPI_plan;
extern struct _SPI_plan *anomaly_prepare(const char *sql, int nargs, Oid *types);
extern void anomaly_load_config(const pg_uuid_t *seal_id, SealConfig *cfg, MemoryContext mcxt);
extern bool anomaly_find_seal(const char *es_id, pg_uuid_t *seal_id);
extern void anomaly_state_from_bytea(bytea *b, SealState *st);
extern void anomaly_store_state(const SealConfig *cfg, const SealState *st, bool rebuilt);
extern void anomaly_check_member(const SealConfig *cfg, const char *es_id);

/* alerts.c */
extern void anomaly_raise(const SealConfig *cfg, const UseEvent *ev, const RuleHit *hit);

#endif							/* SEALPG_ANOMALY_H */
