/*-------------------------------------------------------------------------
 *
 * geo.c
 *	  Distances on the Earth for the anomaly rules.
 *
 * sealpg_haversine() is the great-circle distance on a sphere of the
 * mean Earth radius (IUGG, 6371008.8 m): within 0.5% of the ellipsoid,
 * plenty for geofences and travel speeds.  sealpg_flat_distance() is the
 * equirectangular approximation, about twenty times cheaper and good to
 * well under 1% over the few kilometres of a "usual place".
 *
 *-------------------------------------------------------------------------
 */
#include "postgres.h"

#include <math.h>

#include "fmgr.h"

#include "anomaly.h"

#define EARTH_RADIUS_M	6371008.8
#define DEG2RAD(d)		((d) * (M_PI / 180.0))

/* Great-circle distance in metres between two points in degrees. */
double
sealpg_haversine(double lat1, double lon1, double lat2, double lon2)
{
	double		phi1 = DEG2RAD(lat1);
	double		phi2 = DEG2RAD(lat2);
	double		dphi = DEG2RAD(lat2 - lat1);
	double		dlambda = DEG2RAD(lon2 - lon1);
	double		a;

	a = sin(dphi / 2) * sin(dphi / 2) +
		cos(phi1) * cos(phi2) * sin(dlambda / 2) * sin(dlambda / 2);
	if (a > 1.0)
		a = 1.0;
	return 2.0 * EARTH_RADIUS_M * asin(sqrt(a));
}

/* Equirectangular distance in metres: cheap, for nearby points. */
double
sealpg_flat_distance(double lat1, double lon1, double lat2, double lon2)
{
	double		dlon = lon2 - lon1;
	double		x,
				y;

	if (dlon > 180.0)
		dlon -= 360.0;
	else if (dlon < -180.0)
		dlon += 360.0;
	x = DEG2RAD(dlon) * cos(DEG2RAD((lat1 + lat2) / 2.0));
	y = DEG2RAD(lat2 - lat1);
	return EARTH_RADIUS_M * sqrt(x * x + y * y);
}

/* SQL: sealpg.haversine_m(lat1, lon1, lat2, lon2). */
PG_FUNCTION_INFO_V1(sealpg_haversine_m);
Datum
sealpg_haversine_m(PG_FUNCTION_ARGS)
{
	PG_RETURN_FLOAT8(sealpg_haversine(PG_GETARG_FLOAT8(0), PG_GETARG_FLOAT8(1),
									  PG_GETARG_FLOAT8(2), PG_GETARG_FLOAT8(3)));
}
