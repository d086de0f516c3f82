/*
 * test_fn_time.c - unit tests of rules/fn_time.c: exact epoch values of
 * RFC 3339 timestamps (leap years, offsets, fractions, separators, far
 * dates), rejection of malformed text and impossible dates, and agreement
 * with a day-by-day walk. Neighbours: test_fn_geo.c, test_fn_str.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rk.h"
#include "rules/fn.h"

static double parse(const char *s)
{
	double e = -12345.678;

	if (!fn_parse_rfc3339(s, strlen(s), &e))
		fail_msg("rejected valid timestamp '%s'", s);
	return e;
}

static void bad(const char *s)
{
	double e = 42;

	if (fn_parse_rfc3339(s, strlen(s), &e))
		fail_msg("accepted invalid timestamp '%s' as %.3f", s, e);
	assert_true(e == 42);	/* untouched on failure */
}

#define EQ(s, want) assert_true(parse(s) == (want))

static void test_exact_values(void **state)
{
	(void)state;
	EQ("1970-01-01T00:00:00Z", 0);
	EQ("1970-01-01T00:00:01Z", 1);
	EQ("1969-12-31T23:59:59Z", -1);
	EQ("2000-01-01T00:00:00Z", 946684800);
	EQ("2000-02-29T12:00:00Z", 951825600);
	EQ("2000-03-01T00:00:00Z", 951868800);
	EQ("2024-02-29T00:00:00Z", 1709164800);
	EQ("2024-03-01T00:00:00Z", 1709251200);
	EQ("2024-05-01T12:00:00Z", 1714564800);
	EQ("2023-12-31T23:59:59Z", 1704067199);
	EQ("2038-01-19T03:14:07Z", 2147483647);
	EQ("2038-01-19T03:14:08Z", 2147483648.0);
	EQ("2100-03-01T00:00:00Z", 4107542400.0);
	EQ("9999-12-31T23:59:59Z", 253402300799.0);
	EQ("0000-01-01T00:00:00Z", -62167219200.0);
	EQ("1900-03-01T00:00:00Z", -2203891200.0);
	EQ("1600-02-29T00:00:00Z", -11670998400.0);
}

static void test_offsets(void **state)
{
	(void)state;
	EQ("2024-05-01T14:00:00+02:00", 1714564800);
	EQ("2024-05-01T07:00:00-05:00", 1714564800);
	EQ("2024-05-01T17:30:00+05:30", 1714564800);
	EQ("2024-05-01T12:00:00+00:00", 1714564800);
	EQ("2024-05-01T12:00:00-00:00", 1714564800);
	EQ("2024-05-01T23:59:00+23:59", 1714521600);
	/* Offsets cross the day, month and year. */
	EQ("2024-01-01T00:30:00+01:00", 1704065400);
	EQ("2023-12-31T23:30:00-01:00", 1704069000);
	EQ("1970-01-01T00:00:00+00:01", -60);
	EQ("1969-12-31T23:59:00-00:01", 0);
}

static void test_fractions_and_forms(void **state)
{
	(void)state;
	EQ("1970-01-01T00:00:00.5+00:00", 0.5);
	EQ("1970-01-01T00:00:00.25Z", 0.25);
	EQ("1970-01-01T00:00:00.000Z", 0);
	EQ("1969-12-31T23:59:59.5Z", -0.5);
	EQ("2024-05-01T12:00:00.250+02:00", 1714557600.25);
	EQ("1970-01-01T00:00:01.123456789Z", 1.123456789);
	/* Digits past the ninth are accepted and add nothing. */
	EQ("1970-01-01T00:00:00.1234567899999Z", 0.123456789);
	/* Separators and case. */
	EQ("2024-02-29t00:00:00z", 1709164800);
	EQ("2024-02-29 00:00:00Z", 1709164800);
	EQ("2024-02-29T00:00:00z", 1709164800);
	/* Leap second: the start of the next minute. */
	EQ("2016-12-31T23:59:60Z", 1483228800);
	/* Only n bytes are read. */
	double e;
	assert_true(fn_parse_rfc3339("1970-01-01T00:00:10Zjunk", 20, &e));
	assert_true(e == 10);
	assert_false(fn_parse_rfc3339("1970-01-01T00:00:10Z", 19, &e));
}

static void test_invalid(void **state)
{
	(void)state;
	bad("");
	bad("2023-02-29T00:00:00Z");	/* not a leap year */
	bad("1900-02-29T00:00:00Z");	/* centuries are not */
	bad("2024-02-30T00:00:00Z");
	bad("2024-04-31T00:00:00Z");
	bad("2024-06-31T00:00:00Z");
	bad("2024-09-31T00:00:00Z");
	bad("2024-11-31T00:00:00Z");
	bad("2024-01-32T00:00:00Z");
	bad("2024-00-10T00:00:00Z");
	bad("2024-13-10T00:00:00Z");
	bad("2024-01-00T00:00:00Z");
	bad("2024-01-01T24:00:00Z");
	bad("2024-01-01T23:60:00Z");
	bad("2024-01-01T23:59:61Z");
	bad("2024-01-01T00:00:00+24:00");
	bad("2024-01-01T00:00:00+01:60");
	bad("2024-01-01T00:00:00");	/* offset is required */
	bad("2024-01-01");
	bad("2024-01-01T00:00Z");
	bad("2024-01-01T00:00:00.Z");	/* fraction needs a digit */
	bad("2024-01-01T00:00:00,5Z");
	bad("2024-01-01T00:00:00ZZ");
	bad("2024-01-01T00:00:00Z ");
	bad(" 2024-01-01T00:00:00Z");
	bad("2024-01-01X00:00:00Z");
	bad("2024-01-01T00:00:00+0100");
	bad("2024-01-01T00:00:00+01");
	bad("2024-01-01T00:00:00+1:00");
	bad("2024-1-01T00:00:00Z");
	bad("24-01-01T00:00:00Z");
	bad("+2024-01-01T00:00:00Z");
	bad("20240101T000000Z");
	bad("2024/01/01T00:00:00Z");
	bad("2024-01-01T0a:00:00Z");
	bad("2024-01-01T00:00:00UTC");
	bad("1714564800");
	double e = 42;
	assert_false(fn_parse_rfc3339(NULL, 0, &e));
	assert_false(fn_parse_rfc3339("2024-01-01T00:00:00\0Z", 21, &e));
	assert_true(e == 42);
}

/* Every day from 1899 to 2101 at noon agrees with a counter walked one
 * day at a time (independent of the days-from-civil formula). */
static void test_day_walk(void **state)
{
	static const int dim[] = {31, 28, 31, 30, 31, 30,
				  31, 31, 30, 31, 30, 31};
	char buf[40];
	int64_t day = -25567;	/* 1900-01-01 relative to 1970-01-01 */

	(void)state;
	/* Back up through 1899 first. */
	day -= 365;
	for (int y = 1899; y <= 2101; y++) {
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
		for (int m = 1; m <= 12; m++) {
			int nd = dim[m - 1] + (m == 2 && leap);
			for (int d = 1; d <= nd; d++, day++) {
				snprintf(buf, sizeof(buf),
					 "%04d-%02d-%02dT12:34:56.5-01:30", y,
					 m, d);
				double want = (double)(day * 86400 + 12 * 3600
						       + 34 * 60 + 56 + 5400)
					      + 0.5;
				assert_true(parse(buf) == want);
			}
			snprintf(buf, sizeof(buf), "%04d-%02d-%02dT00:00:00Z",
				 y, m, nd + 1);
			bad(buf);
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_exact_values),
		cmocka_unit_test(test_offsets),
		cmocka_unit_test(test_fractions_and_forms),
		cmocka_unit_test(test_invalid),
		cmocka_unit_test(test_day_walk),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
