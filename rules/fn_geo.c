/*
 * fn_geo.c - distance_km(lat1, lon1, lat2, lon2): great-circle distance
 * on a sphere of the mean Earth radius (IUGG, 6371.0088 km) by the
 * haversine formula; error against the ellipsoid is below 0.5 %.
 * Contracts in fn.h. Neighbours: fn_time.c, fn_str.c; eval.c calls us.
 */
#include "fn.h"

#include <math.h>

#define EARTH_RADIUS_KM 6371.0088
#define DEG_TO_RAD (3.14159265358979323846 / 180.0)

static bool valid_lat(double v)
{
	return isfinite(v) && v >= -90.0 && v <= 90.0;
}

static bool valid_lon(double v)
{
	return isfinite(v) && v >= -180.0 && v <= 180.0;
}

bool fn_distance_km(double lat1, double lon1, double lat2, double lon2,
		    double *km)
{
	if (!valid_lat(lat1) || !valid_lat(lat2) || !valid_lon(lon1) ||
	    !valid_lon(lon2))
		return false;

	double p1 = lat1 * DEG_TO_RAD, p2 = lat2 * DEG_TO_RAD;
	double sdp = sin((p2 - p1) / 2);
	double sdl = sin((lon2 - lon1) * DEG_TO_RAD / 2);
	double h = sdp * sdp + cos(p1) * cos(p2) * sdl * sdl;

	/* Rounding can push h a hair outside [0, 1] near antipodes. */
	if (h > 1.0)
		h = 1.0;
	else if (h < 0.0)
		h = 0.0;
	*km = 2.0 * EARTH_RADIUS_KM * asin(sqrt(h));
	return true;
}
