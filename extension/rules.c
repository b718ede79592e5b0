/*-------------------------------------------------------------------------
 *
 * rules.c
 *	  The anomaly rules: pure functions of a seal's settings, its working
 *	  state and one use.
 *
 * anomaly_evaluate() looks at one use and reports the rules it breaks;
 * anomaly_learn() then folds the use into the state.  Both run in O(1)
 * per use (bounded loops over fixed-size arrays: the burst ring, the
 * usual places, the device counters), never over the history, so the
 * cost of a use does not depend on how many came before it.
 *
 * Rules, their severity and base risk score (see the README):
 *	 off_hours          warning  40  outside the calendar, or a holiday,
 *	                                 in the seal's own time zone
 *	 geofence           warning  55  farther from home than the radius
 *	                                 (less the reported accuracy)
 *	 new_place          info     25  no usual place within place_cell_m,
 *	                                 once the learning period is over
 *	 burst              critical 85  more than burst_max_uses uses within
 *	                                 burst_window
 *	 impossible_travel  critical 90  faster than travel_max_kmh since the
 *	                                 last located use (accuracies deducted)
 *	 unknown_device     critical 80  a device the seal is not bound to
 *	 force_outlier      warning  45  |z| of the force above force_max_z
 *	                                 (Welford mean and variance)
 *	 sequence_gap       warning  50  device counter skipped numbers
 *	 sequence_rewind    critical 85  device counter went backwards
 *	 grant_overrun      critical 75  operator not granted, outside the
 *	                                 grant's time range, or over max_uses
 *	 silent_device      warning  35  (SQL job, sealpg.check_silent_devices)
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "common/hashfn.h"
#include "utils/date.h"
#include "utils/datetime.h"
#include "utils/json.h"
#include "utils/timestamp.h"

#include "anomaly.h"

static const char *const rule_names[NUM_ANOMALY_RULES] = {
	"off_hours", "geofence", "new_place", "burst", "impossible_travel",
	"unknown_device", "force_outlier", "sequence_gap", "sequence_rewind",
	"grant_overrun", "silent_device"
};

/* The name of a rule, as stored in sealpg.alerts.rule. */
const char *
anomaly_rule_name(AnomalyRule rule)
{
	Assert(rule >= 0 && rule < NUM_ANOMALY_RULES);
	return rule_names[rule];
}

/* The rule of a name, or -1. */
int
anomaly_rule_by_name(const char *name)
{
	int			i;

	for (i = 0; i < NUM_ANOMALY_RULES; i++)
		if (strcmp(rule_names[i], name) == 0)
			return i;
	return -1;
}

/* The name of a severity, as in the enum sealpg.alert_severity. */
const char *
anomaly_severity_name(AnomalySeverity severity)
{
	switch (severity)
	{
		case SEVERITY_INFO:
			return "info";
		case SEVERITY_WARNING:
			return "warning";
		case SEVERITY_CRITICAL:
			return "critical";
	}
	return "critical";
}

/* The built-in defaults (the README's table of rule settings). */
void
anomaly_default_settings(RuleSettings *set)
{
	memset(set, 0, sizeof(*set));
	set->burst_max_uses = 20;
	set->burst_window_us = 60 * USECS_PER_SEC;
	set->travel_max_kmh = 900.0;
	set->force_max_z = 4.0;
	set->force_min_samples = 30;
	set->learning_uses = 50;
	set->learning_period_us = 7 * USECS_PER_DAY;
	set->place_cell_m = 2000.0;
	set->sequence_max_gap = 0;
	set->suppression_us = USECS_PER_HOUR;
}

/* An empty state: no use seen yet. */
void
anomaly_state_init(SealState *st)
{
	memset(st, 0, sizeof(*st));
	st->version = ANOMALY_STATE_VERSION;
}

/* A 64-bit hash of a device id or operator name. */
uint64
anomaly_hash(const char *text)
{
	return hash_bytes_extended((const unsigned char *) text, strlen(text), 0x5ea1);
}

/* Work out the use's local time in the seal's zone and its hashes. */
void
anomaly_prepare_event(const SealConfig *cfg, UseEvent *ev)
{
	struct pg_tm tm;
	fsec_t		fsec;
	int			tzoff;
	int			julian;

	ev->has_local = false;
	if (cfg->tz != NULL && !TIMESTAMP_NOT_FINITE(ev->occurred_at) &&
		timestamp2tm(ev->occurred_at, &tzoff, &tm, &fsec, NULL, cfg->tz) == 0)
	{
		julian = date2j(tm.tm_year, tm.tm_mon, tm.tm_mday);
		ev->iso_dow = j2day(julian);
		if (ev->iso_dow == 0)
			ev->iso_dow = 7;
		ev->hour = tm.tm_hour;
		ev->time_of_day_us = ((((int64) tm.tm_hour * MINS_PER_HOUR) + tm.tm_min) * SECS_PER_MINUTE +
							  tm.tm_sec) * USECS_PER_SEC + fsec;
		ev->local_date = julian - POSTGRES_EPOCH_JDATE;
		ev->has_local = true;
	}
	ev->device_hash = ev->device_id ? anomaly_hash(ev->device_id) : 0;
	ev->operator_hash = ev->operator ? anomaly_hash(ev->operator) : 0;
}

/* Append a hit to the list. */
static RuleHit *
add_hit(RuleHit *hits, int *n, const SealConfig *cfg, AnomalyRule rule,
		AnomalySeverity severity, int risk)
{
	RuleHit    *h;

	if (cfg->set.disabled & (1U << rule))
		return NULL;
	h = &hits[(*n)++];
	h->rule = rule;
	h->severity = severity;
	h->risk_score = Min(100, Max(0, risk));
	h->details[0] = '\0';
	return h;
}

/* A time as whole seconds since 2000-01-01, clamped to int32. */
static int32
ring_seconds(TimestampTz t)
{
	int64		s = t / USECS_PER_SEC;

	if (t < 0 && t % USECS_PER_SEC != 0)
		s--;					/* floor */
	return (int32) Max(Min(s, PG_INT32_MAX), PG_INT32_MIN + 1);
}

/* Is the date one of the organisation's holidays (binary search)? */
static bool
is_holiday(const SealConfig *cfg, int32 date)
{
	int			lo = 0,
				hi = cfg->nholidays - 1;

	while (lo <= hi)
	{
		int			mid = (lo + hi) / 2;

		if (cfg->holidays[mid] == date)
			return true;
		if (cfg->holidays[mid] < date)
			lo = mid + 1;
		else
			hi = mid - 1;
	}
	return false;
}

/* Is a device hash one of the seal's devices? */
static bool
known_device(const SealConfig *cfg, uint64 device)
{
	int			i;

	for (i = 0; i < cfg->ndevices; i++)
		if (cfg->devices[i] == device)
			return true;
	return false;
}

/* The state's counter of a device, or NULL. */
static const DeviceCounter *
find_device(const SealState *st, uint64 device)
{
	int			i;

	for (i = 0; i < st->ndevices; i++)
		if (st->devices[i].device == device)
			return &st->devices[i];
	return NULL;
}

/* The state's use count of an operator, or NULL. */
static const OperatorCount *
find_operator(const SealState *st, uint64 operator)
{
	int			i;

	for (i = 0; i < st->noperators; i++)
		if (st->operators[i].operator == operator)
			return &st->operators[i];
	return NULL;
}

/* The seal's grant of an operator, or NULL. */
static const SealGrant *
find_grant(const SealConfig *cfg, const char *operator)
{
	int			i;

	for (i = 0; i < cfg->ngrants; i++)
		if (strcmp(cfg->grants[i].operator, operator) == 0)
			return &cfg->grants[i];
	return NULL;
}

/* Index of the usual place nearest the point within radius, or -1. */
static int
nearest_place(const SealState *st, double lat, double lon, double radius)
{
	int			i,
				best = -1;
	double		best_d = radius;

	for (i = 0; i < st->nplaces; i++)
	{
		double		d = sealpg_flat_distance(st->places[i].lat, st->places[i].lon, lat, lon);

		if (d <= best_d)
		{
			best_d = d;
			best = i;
		}
	}
	return best;
}

/* Has the seal's profile learnt enough for the new_place rule? */
static bool
learning_done(const SealConfig *cfg, const SealState *st, TimestampTz at)
{
	return st->events >= cfg->set.learning_uses &&
		at - st->first_at >= cfg->set.learning_period_us;
}

/* Run every rule on one use; returns the number of hits written. */
int
anomaly_evaluate(const SealConfig *cfg, const SealState *st, const UseEvent *ev, RuleHit *hits)
{
	int			n = 0;
	RuleHit    *h;
	double		acc = ev->has_pos ? (ev->acc >= 0 ? ev->acc : ANOMALY_DEFAULT_ACCURACY_M) : 0;

	/* off_hours: calendar and holidays, in the seal's zone */
	if (cfg->has_calendar && ev->has_local)
	{
		bool		work_day = (cfg->work_days & (1 << ev->iso_dow)) != 0;
		bool		in_hours = ev->time_of_day_us >= cfg->day_start_us &&
			ev->time_of_day_us < cfg->day_end_us;
		bool		holiday = is_holiday(cfg, ev->local_date);

		if (!work_day || !in_hours || holiday)
		{
			h = add_hit(hits, &n, cfg, RULE_OFF_HOURS, SEVERITY_WARNING, holiday || !work_day ? 45 : 40);
			if (h)
				snprintf(h->details, ANOMALY_DETAILS_MAX,
						 "{\"local_time\": \"%02d:%02d\", \"iso_day\": %d, \"holiday\": %s, \"work_day\": %s}",
						 ev->hour, (int) ((ev->time_of_day_us / USECS_PER_MINUTE) % 60), ev->iso_dow,
						 holiday ? "true" : "false", work_day ? "true" : "false");
		}
	}

	/* geofence: outside the home radius */
	if (cfg->has_home && cfg->has_radius && ev->has_pos)
	{
		double		d = sealpg_haversine(cfg->home_lat, cfg->home_lon, ev->lat, ev->lon);

		if (d - acc > cfg->home_radius_m)
		{
			h = add_hit(hits, &n, cfg, RULE_GEOFENCE, SEVERITY_WARNING,
						d > 10 * cfg->home_radius_m + 1000 ? 65 : 55);
			if (h)
				snprintf(h->details, ANOMALY_DETAILS_MAX,
						 "{\"distance_m\": %.0f, \"radius_m\": %.0f, \"accuracy_m\": %.0f}",
						 d, cfg->home_radius_m, acc);
		}
	}

	/* new_place: no usual place near, after the learning period */
	if (ev->has_pos && learning_done(cfg, st, ev->occurred_at) &&
		nearest_place(st, ev->lat, ev->lon, cfg->set.place_cell_m + acc) < 0)
	{
		h = add_hit(hits, &n, cfg, RULE_NEW_PLACE, SEVERITY_INFO, 25);
		if (h)
			snprintf(h->details, ANOMALY_DETAILS_MAX,
					 "{\"latitude\": %.5f, \"longitude\": %.5f, \"usual_places\": %d, \"cell_m\": %.0f}",
					 ev->lat, ev->lon, st->nplaces, cfg->set.place_cell_m);
	}

	/* burst: more than N uses within the sliding window, this one included */
	{
		int			count = 1;
		int			i;
		int32		now_s = ring_seconds(ev->occurred_at);
		int64		since_s = (int64) now_s - cfg->set.burst_window_us / USECS_PER_SEC;

		/* to the second: a use counts if it lies in (now - window, now] */
		for (i = 0; i < st->ring_count; i++)
		{
			int32		t = st->ring[i];

			if (t > since_s && t <= now_s)
				count++;
		}
		if (count > cfg->set.burst_max_uses)
		{
			h = add_hit(hits, &n, cfg, RULE_BURST, SEVERITY_CRITICAL,
						count >= 2 * cfg->set.burst_max_uses ? 95 : 85);
			if (h)
				snprintf(h->details, ANOMALY_DETAILS_MAX,
						 "{\"uses\": %d, \"max_uses\": %d, \"window_s\": %.0f}",
						 count, cfg->set.burst_max_uses,
						 (double) cfg->set.burst_window_us / USECS_PER_SEC);
		}
	}

	/* impossible_travel: speed since the last located use */
	if (ev->has_pos && st->has_pos)
	{
		double		d = sealpg_haversine(st->last_lat, st->last_lon, ev->lat, ev->lon);
		double		eff = d - acc - st->last_acc;
		double		hours = fabs((double) (ev->occurred_at - st->last_pos_at)) / USECS_PER_HOUR;

		if (eff > 0)
		{
			double		kmh = hours > 0 ? (eff / 1000.0) / hours : INFINITY;

			if (kmh > cfg->set.travel_max_kmh)
			{
				h = add_hit(hits, &n, cfg, RULE_IMPOSSIBLE_TRAVEL, SEVERITY_CRITICAL,
							kmh > 5 * cfg->set.travel_max_kmh ? 100 : 90);
				if (h)
				{
					if (isinf(kmh))
						snprintf(h->details, ANOMALY_DETAILS_MAX,
								 "{\"distance_m\": %.0f, \"seconds\": 0, \"speed_kmh\": null, \"max_kmh\": %.0f}",
								 d, cfg->set.travel_max_kmh);
					else
						snprintf(h->details, ANOMALY_DETAILS_MAX,
								 "{\"distance_m\": %.0f, \"seconds\": %.0f, \"speed_kmh\": %.0f, \"max_kmh\": %.0f}",
								 d, hours * 3600.0, kmh, cfg->set.travel_max_kmh);
				}
			}
		}
	}

	/* unknown_device: a device the seal is not bound to */
	if (ev->device_id != NULL && cfg->ndevices > 0 && !known_device(cfg, ev->device_hash))
	{
		h = add_hit(hits, &n, cfg, RULE_UNKNOWN_DEVICE, SEVERITY_CRITICAL, 80);
		if (h)
		{
			StringInfoData s;

			initStringInfo(&s);
			appendStringInfoString(&s, "{\"device_id\": ");
			escape_json(&s, ev->device_id);
			appendStringInfoString(&s, "}");
			strlcpy(h->details, s.len < ANOMALY_DETAILS_MAX ? s.data : "{}", ANOMALY_DETAILS_MAX);
			pfree(s.data);
		}
	}

	/* force_outlier: z-score against the running mean and variance */
	if (ev->has_force && st->force_n >= cfg->set.force_min_samples)
	{
		double		sd = sqrt(st->force_m2 / (double) (st->force_n - 1));
		double		floor_sd = 0.01 * fabs(st->force_mean);
		double		z;

		/* a spread below 1% of the mean counts as 1%: a steady hand is not a risk */
		if (sd < floor_sd)
			sd = floor_sd;
		if (sd > 0)
		{
			z = (ev->force - st->force_mean) / sd;
			if (fabs(z) > cfg->set.force_max_z)
			{
				h = add_hit(hits, &n, cfg, RULE_FORCE_OUTLIER, SEVERITY_WARNING,
							fabs(z) > 2 * cfg->set.force_max_z ? 60 : 45);
				if (h)
					snprintf(h->details, ANOMALY_DETAILS_MAX,
							 "{\"force_n\": %.2f, \"mean\": %.2f, \"stddev\": %.2f, \"z\": %.2f}",
							 ev->force, st->force_mean, sd, z);
			}
		}
	}

	/* sequence_gap / sequence_rewind: the device's own counter */
	if (ev->device_id != NULL && ev->has_seq)
	{
		const DeviceCounter *dc = find_device(st, ev->device_hash);

		if (dc != NULL && ev->seq <= dc->last_seq)
		{
			h = add_hit(hits, &n, cfg, RULE_SEQUENCE_REWIND, SEVERITY_CRITICAL, 85);
			if (h)
				snprintf(h->details, ANOMALY_DETAILS_MAX,
						 "{\"device_seq\": " INT64_FORMAT ", \"last_seq\": " INT64_FORMAT "}",
						 ev->seq, dc->last_seq);
		}
		else if (dc != NULL && ev->seq - dc->last_seq - 1 > cfg->set.sequence_max_gap)
		{
			h = add_hit(hits, &n, cfg, RULE_SEQUENCE_GAP, SEVERITY_WARNING, 50);
			if (h)
				snprintf(h->details, ANOMALY_DETAILS_MAX,
						 "{\"device_seq\": " INT64_FORMAT ", \"last_seq\": " INT64_FORMAT ", \"missing\": " INT64_FORMAT "}",
						 ev->seq, dc->last_seq, ev->seq - dc->last_seq - 1);
		}
	}

	/* grant_overrun: who may use the seal, when, how often */
	if (ev->operator != NULL && cfg->ngrants > 0)
	{
		const SealGrant *g = find_grant(cfg, ev->operator);
		const char *why = NULL;
		int			uses = 0;

		if (g == NULL)
			why = "not granted";
		else if (g->has_from && ev->occurred_at < g->grant_from)
			why = "before the grant";
		else if (g->has_until && ev->occurred_at >= g->grant_until)
			why = "after the grant";
		else if (g->max_uses > 0 && !ev->electronic)
		{
			const OperatorCount *oc = find_operator(st, ev->operator_hash);

			/* signings count their own uses and refuse beyond max_uses (SE005) */
			uses = (oc != NULL && oc->since == g->granted_at) ? oc->uses + 1 : 1;
			if (uses > g->max_uses)
				why = "over max_uses";
		}
		if (why != NULL)
		{
			h = add_hit(hits, &n, cfg, RULE_GRANT_OVERRUN, SEVERITY_CRITICAL, 75);
			if (h)
			{
				StringInfoData s;

				initStringInfo(&s);
				appendStringInfoString(&s, "{\"operator\": ");
				escape_json(&s, ev->operator);
				appendStringInfo(&s, ", \"reason\": \"%s\"", why);
				if (uses > 0)
					appendStringInfo(&s, ", \"uses\": %d, \"max_uses\": %d", uses, g->max_uses);
				appendStringInfoChar(&s, '}');
				strlcpy(h->details, s.len < ANOMALY_DETAILS_MAX ? s.data : "{}", ANOMALY_DETAILS_MAX);
				pfree(s.data);
			}
		}
	}
	return n;
}

/* Fold one use into the seal's state (after evaluation). */
void
anomaly_learn(const SealConfig *cfg, SealState *st, const UseEvent *ev)
{
	int			i;

	if (st->events == 0 || ev->occurred_at < st->first_at)
		st->first_at = ev->occurred_at;
	if (st->events == 0 || ev->occurred_at > st->last_at)
		st->last_at = ev->occurred_at;
	st->events++;

	/* burst ring: the last ANOMALY_BURST_RING use times */
	st->ring[st->ring_next] = ring_seconds(ev->occurred_at);
	st->ring_next = (st->ring_next + 1) % ANOMALY_BURST_RING;
	if (st->ring_count < ANOMALY_BURST_RING)
		st->ring_count++;

	if (ev->has_local)
	{
		int			h = (ev->iso_dow - 1) * 24 + ev->hour;

		if (st->hours[h] == PG_UINT16_MAX)
			for (i = 0; i < 168; i++)
				st->hours[i] /= 2;	/* keeps the shape of the histogram */
		st->hours[h]++;
	}

	if (ev->has_pos)
	{
		int			p = nearest_place(st, ev->lat, ev->lon, cfg->set.place_cell_m);

		if (!st->has_pos || ev->occurred_at >= st->last_pos_at)
		{
			st->has_pos = 1;
			st->last_lat = ev->lat;
			st->last_lon = ev->lon;
			st->last_acc = ev->acc >= 0 ? ev->acc : ANOMALY_DEFAULT_ACCURACY_M;
			st->last_pos_at = ev->occurred_at;
		}
		if (p >= 0)
			st->places[p].count++;
		else
		{
			/* a new place; when full, it replaces the least used one */
			if (st->nplaces < ANOMALY_MAX_PLACES)
				p = st->nplaces++;
			else
			{
				p = 0;
				for (i = 1; i < st->nplaces; i++)
					if (st->places[i].count < st->places[p].count)
						p = i;
			}
			st->places[p].lat = (float4) ev->lat;
			st->places[p].lon = (float4) ev->lon;
			st->places[p].count = 1;
		}
	}

	if (ev->has_force)
	{
		double		delta = ev->force - st->force_mean;

		st->force_n++;
		st->force_mean += delta / (double) st->force_n;
		st->force_m2 += delta * (ev->force - st->force_mean);
	}

	if (ev->device_id != NULL && ev->has_seq)
	{
		DeviceCounter *dc = (DeviceCounter *) find_device(st, ev->device_hash);

		if (dc == NULL)
		{
			/* when full, the slot of the smallest counter is reused */
			if (st->ndevices < ANOMALY_MAX_DEVICES)
				dc = &st->devices[st->ndevices++];
			else
			{
				dc = &st->devices[0];
				for (i = 1; i < st->ndevices; i++)
					if (st->devices[i].last_seq < dc->last_seq)
						dc = &st->devices[i];
			}
			dc->device = ev->device_hash;
			dc->last_seq = ev->seq;
		}
		else if (ev->seq > dc->last_seq)
			dc->last_seq = ev->seq;
	}

	if (ev->operator != NULL && !ev->electronic)
	{
		const SealGrant *g = find_grant(cfg, ev->operator);
		OperatorCount *oc;

		if (g != NULL && g->max_uses > 0)
		{
			oc = (OperatorCount *) find_operator(st, ev->operator_hash);
			if (oc == NULL)
			{
				if (st->noperators < ANOMALY_MAX_OPERATORS)
					oc = &st->operators[st->noperators++];
				else
				{
					oc = &st->operators[0];
					for (i = 1; i < st->noperators; i++)
						if (st->operators[i].since < oc->since)
							oc = &st->operators[i];
				}
				oc->operator = ev->operator_hash;
				oc->since = g->granted_at;
				oc->uses = 0;
			}
			if (oc->since != g->granted_at)
			{
				/* granted again: counting starts over */
				oc->since = g->granted_at;
				oc->uses = 0;
			}
			oc->uses++;
		}
	}
}
