/*
 * fn_str.c - the text built-ins of the rule language: len() on UTF-8,
 * ASCII lower()/upper(), starts_with/ends_with/contains and email_domain.
 * Strings are (pointer, length) pairs; new strings go into the caller's
 * arena. Contracts in fn.h; semantics in docs/internals/functions.md.
 * Neighbours: fn_regex.c, fn_cidr.c, fn_time.c, fn_geo.c; eval.c calls us.
 */
#include "fn.h"

#include <string.h>

/*
 * Length of the well-formed UTF-8 sequence at p (1-4), or 0 when the bytes
 * at p do not start one (Unicode 15, table 3-7: no overlongs, no
 * surrogates, nothing above U+10FFFF, no truncated sequences).
 */
static size_t utf8_seq(const unsigned char *p, size_t avail)
{
	unsigned char c = p[0];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t need;

	if (c < 0x80)
		return 1;
	if (c >= 0xC2 && c <= 0xDF) {
		need = 2;
	} else if (c >= 0xE0 && c <= 0xEF) {
		need = 3;
		if (c == 0xE0)
			lo = 0xA0;
		else if (c == 0xED)
			hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		need = 4;
		if (c == 0xF0)
			lo = 0x90;
		else if (c == 0xF4)
			hi = 0x8F;
	} else {
		return 0;	/* continuation byte, C0, C1 or F5..FF */
	}
	if (avail < need)
		return 0;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (size_t i = 2; i < need; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return need;
}

size_t fn_utf8_len(const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, count = 0;

	while (i < n) {
		if (p[i] < 0x80) {
			i++;
		} else {
			size_t k = utf8_seq(p + i, n - i);
			i += k ? k : 1;	/* an invalid byte is one character */
		}
		count++;
	}
	return count;
}

/* Maps s through ASCII case change; a copy only when some byte changes. */
static const char *map_case(arena *a, const char *s, size_t n, bool upper)
{
	char from = upper ? 'a' : 'A';
	char to = upper ? 'z' : 'Z';
	size_t i;

	for (i = 0; i < n; i++)
		if (s[i] >= from && s[i] <= to)
			break;
	if (i == n)
		return s ? s : "";

	char *d = arena_alloc(a, n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, i);
	for (; i < n; i++) {
		char c = s[i];
		d[i] = (c >= from && c <= to) ? (char)(c ^ 0x20) : c;
	}
	d[n] = '\0';
	return d;
}

const char *fn_lower(arena *a, const char *s, size_t n)
{
	return map_case(a, s, n, false);
}

const char *fn_upper(arena *a, const char *s, size_t n)
{
	return map_case(a, s, n, true);
}

bool fn_starts_with(const char *s, size_t n, const char *p, size_t pn)
{
	return pn == 0 || (pn <= n && memcmp(s, p, pn) == 0);
}

bool fn_ends_with(const char *s, size_t n, const char *p, size_t pn)
{
	return pn == 0 || (pn <= n && memcmp(s + n - pn, p, pn) == 0);
}

bool fn_contains(const char *s, size_t n, const char *sub, size_t subn)
{
	if (subn == 0)
		return true;
	if (subn > n)
		return false;
	return memmem(s, n, sub, subn) != NULL;
}

bool fn_email_domain(arena *a, const char *s, size_t n, const char **out,
		     size_t *outn)
{
	const char *at = n ? memrchr(s, '@', n) : NULL;

	*out = NULL;
	*outn = 0;
	if (!at || at + 1 == s + n)
		return false;
	size_t dn = (size_t)(s + n - (at + 1));
	const char *d = fn_lower(a, at + 1, dn);
	if (!d)
		return false;	/* arena exhausted */
	*out = d;
	*outn = dn;
	return true;
}
