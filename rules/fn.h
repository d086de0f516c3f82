/*
 * fn.h - the built-in functions of the rule language as plain C, private
 * to rules/. eval.c calls these after it has checked argument types; they
 * know nothing of nodes or slots. Strings are (pointer, length) pairs and
 * need not be NUL-terminated. Functions that make new strings write into
 * a caller-supplied arena (the frame's scratch, reset per event).
 * Files: fn_str.c (text), fn_regex.c (PCRE2), fn_cidr.c (IP ranges),
 * fn_time.c (timestamps), fn_geo.c (distance).
 */
#ifndef RULES_FN_H
#define RULES_FN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/arena.h"
#include "../common/strset.h"

/* ---- fn_str.c ---- */

/* Code points in a UTF-8 string; each invalid byte counts as one. */
size_t fn_utf8_len(const char *s, size_t n);
/* ASCII case mapping (non-ASCII bytes are copied unchanged). Returns a
 * NUL-terminated copy in a, or NULL on allocation failure. If the input
 * needs no change, returns s itself (no copy). */
const char *fn_lower(arena *a, const char *s, size_t n);
const char *fn_upper(arena *a, const char *s, size_t n);
bool fn_starts_with(const char *s, size_t n, const char *p, size_t pn);
bool fn_ends_with(const char *s, size_t n, const char *p, size_t pn);
bool fn_contains(const char *s, size_t n, const char *sub, size_t subn);
/* Lower-cased part after the last '@'. false when there is no '@' or
 * nothing follows it. *out may point into s (already lower case) or into a. */
bool fn_email_domain(arena *a, const char *s, size_t n, const char **out,
		     size_t *outn);

/* ---- fn_regex.c ---- */

typedef struct fn_regex fn_regex;

/*
 * Compiles a pattern (PCRE2, UTF mode, JIT when available). NULL on error
 * with a message in err and the 0-based offset in the pattern in *erroff.
 */
fn_regex *fn_regex_compile(const char *pat, size_t n, char *err,
			   size_t errlen, size_t *erroff);
void fn_regex_free(fn_regex *re);
/* Per-thread match state (PCRE2 match data and match context with a
 * match limit and depth limit so no pattern can stall a request). */
typedef struct fn_regex_scratch fn_regex_scratch;
fn_regex_scratch *fn_regex_scratch_new(void);
void fn_regex_scratch_free(fn_regex_scratch *sc);
/* 1 match, 0 no match, negative when matching failed (limit hit, bad
 * UTF-8 is tolerated and is not an error). */
int fn_regex_match(const fn_regex *re, fn_regex_scratch *sc, const char *s,
		   size_t n);
const char *fn_regex_pattern(const fn_regex *re);

/* ---- fn_cidr.c ---- */

/* A set of IPv4 and IPv6 prefixes. */
typedef struct fn_cidr_set fn_cidr_set;

fn_cidr_set *fn_cidr_set_new(void);
void fn_cidr_set_free(fn_cidr_set *cs);
/* Adds "10.0.0.0/8", "2001:db8::/32" or a bare address (a /32 or /128).
 * RK_EINVAL if the text is not a valid prefix, RK_ENOMEM. */
int fn_cidr_set_add(fn_cidr_set *cs, const char *s, size_t n);
/* 1 if ip (text) is inside any prefix, 0 if not, RK_EINVAL when ip is
 * not a valid IPv4/IPv6 address. IPv4-mapped IPv6 (::ffff:a.b.c.d)
 * matches IPv4 prefixes. */
int fn_cidr_set_match(const fn_cidr_set *cs, const char *ip, size_t n);
size_t fn_cidr_set_count(const fn_cidr_set *cs);

/* A parsed address, so one event's IP is parsed once for many sets. */
typedef struct fn_ip {
	uint64_t hi, lo;   /* IPv4 in lo's low 32 bits */
	uint8_t fam;       /* 1 = IPv4, 2 = IPv6 */
} fn_ip;
/* false when the text is not an IPv4/IPv6 address. */
bool fn_ip_parse(const char *s, size_t n, fn_ip *out);
/* 1 inside, 0 not: fn_cidr_set_match for a parsed address. */
int fn_cidr_set_match_ip(const fn_cidr_set *cs, const fn_ip *ip);

/* ---- fn_time.c ---- */

/* RFC 3339 ("2024-05-01T12:00:00Z", "...T12:00:00.250+02:00"; a space
 * for 'T' and lower-case 't'/'z' accepted) to epoch seconds, fractional
 * seconds kept. false if the text is not a valid timestamp. */
bool fn_parse_rfc3339(const char *s, size_t n, double *epoch);

/* ---- fn_geo.c ---- */

/* Great-circle distance in km (haversine, mean Earth radius 6371.0088).
 * false when a latitude is outside [-90, 90] or a longitude outside
 * [-180, 180] or any argument is not finite. */
bool fn_distance_km(double lat1, double lon1, double lat2, double lon2,
		    double *km);

#endif
