/*
 * fn_time.c - timestamp(s): RFC 3339 date-time text to epoch seconds. A
 * strict hand-written parser (no strptime, no timegm, no TZ) and Howard
 * Hinnant's days-from-civil, so the result never depends on the host's
 * locale or time zone. Contracts in fn.h. Neighbours: fn_str.c,
 * fn_geo.c; eval.c calls us.
 */
#include "fn.h"

/* Reads exactly k decimal digits at s[*i]. */
static bool digits(const char *s, size_t n, size_t *i, int k, int *out)
{
	int v = 0;

	if (n - *i < (size_t)k)
		return false;
	for (int j = 0; j < k; j++) {
		char c = s[*i + (size_t)j];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*i += (size_t)k;
	*out = v;
	return true;
}

static bool lit(const char *s, size_t n, size_t *i, char c)
{
	if (*i >= n || s[*i] != c)
		return false;
	(*i)++;
	return true;
}

static bool is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int days_in_month(int y, int m)
{
	static const int dim[12] = {31, 28, 31, 30, 31, 30,
				    31, 31, 30, 31, 30, 31};

	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (m 1-12). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	y -= m <= 2;
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

	return era * 146097 + doe - 719468;
}

/* "." 1*DIGIT: the fraction of a second. Digits past the ninth are
 * checked but add nothing a double could hold at epoch scale. */
static bool fraction(const char *s, size_t n, size_t *i, double *frac)
{
	int64_t num = 0, den = 1;
	size_t start = *i;

	while (*i < n && s[*i] >= '0' && s[*i] <= '9') {
		if (den < 1000000000) {
			num = num * 10 + (s[*i] - '0');
			den *= 10;
		}
		(*i)++;
	}
	if (*i == start)
		return false;
	*frac = (double)num / (double)den;
	return true;
}

/*
 * date-time   = full-date time-sep full-time
 * full-date   = 4DIGIT "-" 2DIGIT "-" 2DIGIT
 * time-sep    = "T" / "t" / " "
 * full-time   = 2DIGIT ":" 2DIGIT ":" 2DIGIT ["." 1*DIGIT] time-offset
 * time-offset = "Z" / "z" / ("+" / "-") 2DIGIT ":" 2DIGIT
 */
bool fn_parse_rfc3339(const char *s, size_t n, double *epoch)
{
	int y, mo, d, h, mi, sec, oh = 0, om = 0, sign = 0;
	double frac = 0;
	size_t i = 0;

	if (!s)
		return false;
	if (!digits(s, n, &i, 4, &y) || !lit(s, n, &i, '-') ||
	    !digits(s, n, &i, 2, &mo) || !lit(s, n, &i, '-') ||
	    !digits(s, n, &i, 2, &d))
		return false;
	if (i >= n || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
		return false;
	i++;
	if (!digits(s, n, &i, 2, &h) || !lit(s, n, &i, ':') ||
	    !digits(s, n, &i, 2, &mi) || !lit(s, n, &i, ':') ||
	    !digits(s, n, &i, 2, &sec))
		return false;
	if (i < n && s[i] == '.') {
		i++;
		if (!fraction(s, n, &i, &frac))
			return false;
	}
	if (i >= n)
		return false;
	if (s[i] == 'Z' || s[i] == 'z') {
		i++;
	} else if (s[i] == '+' || s[i] == '-') {
		sign = s[i] == '-' ? -1 : 1;
		i++;
		if (!digits(s, n, &i, 2, &oh) || !lit(s, n, &i, ':') ||
		    !digits(s, n, &i, 2, &om))
			return false;
	} else {
		return false;
	}
	if (i != n)
		return false;

	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo) ||
	    h > 23 || mi > 59 || sec > 60 || oh > 23 || om > 59)
		return false;

	/* A leap second (:60) reads as the first second of the next minute,
	 * which is what POSIX time makes of it. */
	int64_t t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 +
		    sec - sign * (oh * 3600 + om * 60);
	*epoch = (double)t + frac;
	return true;
}
