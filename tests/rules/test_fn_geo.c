/*
 * test_fn_geo.c - unit tests of rules/fn_geo.c: known city distances,
 * zero distance, antipodes and poles (rounding near h = 1), symmetry, the
 * antimeridian, and rejection of out-of-range or non-finite arguments.
 * Neighbours: test_fn_time.c, test_fn_str.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>

#include "common/rk.h"
#include "rules/fn.h"

#define PI 3.14159265358979323846
#define R 6371.0088

static double dist(double a, double b, double c, double d)
{
	double km = -1;

	if (!fn_distance_km(a, b, c, d, &km))
		fail_msg("rejected (%g, %g) (%g, %g)", a, b, c, d);
	return km;
}

static void near(double got, double want, double tol)
{
	if (!(fabs(got - want) <= tol))
		fail_msg("got %.6f km, want %.6f +- %g", got, want, tol);
}

static void test_cities(void **state)
{
	(void)state;
	/* London - Paris ~ 343.5 km. */
	near(dist(51.5074, -0.1278, 48.8566, 2.3522), 343.5, 1.0);
	/* New York - Los Angeles ~ 3936 km on this sphere. */
	near(dist(40.7128, -74.0060, 34.0522, -118.2437), 3936.0, 5.0);
	/* Sydney - Tokyo ~ 7826 km. */
	near(dist(-33.8688, 151.2093, 35.6762, 139.6503), 7826.0, 10.0);
}

static void test_exact_geometry(void **state)
{
	(void)state;
	near(dist(0, 0, 0, 0), 0, 0);
	near(dist(51.5, -0.12, 51.5, -0.12), 0, 1e-9);
	/* One degree of a great circle. */
	near(dist(0, 0, 0, 1), R * PI / 180, 1e-9);
	near(dist(0, 0, 1, 0), R * PI / 180, 1e-9);
	/* Quarter and half circles; antipodes and pole to pole (h rounds
	 * to 1 or a hair above: must not become NaN). */
	near(dist(0, 0, 90, 0), R * PI / 2, 1e-6);
	near(dist(0, 0, 0, 180), R * PI, 1e-6);
	near(dist(90, 0, -90, 0), R * PI, 1e-6);
	near(dist(45, 45, -45, -135), R * PI, 1e-6);
	near(dist(0, -180, 0, 180), 0, 1e-6);	/* same meridian */
	/* Across the antimeridian: 2 degrees, not 358. */
	near(dist(0, 179, 0, -179), 2 * R * PI / 180, 1e-6);
	/* At the pole, longitude does not matter. */
	near(dist(90, 0, 90, 123), 0, 1e-6);
	/* Symmetry. */
	near(dist(10, 20, -30, 40), dist(-30, 40, 10, 20), 1e-9);
	/* Range limits are inclusive. */
	near(dist(-90, -180, 90, 180), R * PI, 1e-6);
}

static void test_invalid(void **state)
{
	double km = 7;

	(void)state;
	assert_false(fn_distance_km(90.0001, 0, 0, 0, &km));
	assert_false(fn_distance_km(0, 0, -90.5, 0, &km));
	assert_false(fn_distance_km(0, 180.01, 0, 0, &km));
	assert_false(fn_distance_km(0, 0, 0, -181, &km));
	assert_false(fn_distance_km(NAN, 0, 0, 0, &km));
	assert_false(fn_distance_km(0, NAN, 0, 0, &km));
	assert_false(fn_distance_km(0, 0, NAN, 0, &km));
	assert_false(fn_distance_km(0, 0, 0, NAN, &km));
	assert_false(fn_distance_km(INFINITY, 0, 0, 0, &km));
	assert_false(fn_distance_km(0, -INFINITY, 0, 0, &km));
	assert_true(km == 7);	/* untouched on failure */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cities),
		cmocka_unit_test(test_exact_geometry),
		cmocka_unit_test(test_invalid),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
