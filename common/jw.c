/*
 * jw.c - the streaming JSON writer of jw.h. One buffer grown by doubling;
 * comma placement from two bit sets indexed by depth. Output is what
 * cJSON_PrintUnformatted would give for the same values (control
 * characters, quote and backslash escaped, UTF-8 passed through), so the
 * service's responses did not change when it moved off cJSON printing.
 */
#include "jw.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rk.h"

void jw_init(jw *w, size_t cap_hint)
{
	memset(w, 0, sizeof(*w));
	w->cap = cap_hint;
	w->first = 1;
}

void jw_cleanup(jw *w)
{
	rk_free(w->buf);
	w->buf = NULL;
	w->len = w->cap = 0;
}

char *jw_finish(jw *w, size_t *len)
{
	char *b = w->buf;
	bool ok = !w->failed && w->depth == 0 && b;
	if (len)
		*len = ok ? w->len : 0;
	w->buf = NULL;
	jw_cleanup(w);
	jw_init(w, 0);
	if (!ok) {
		rk_free(b);
		return NULL;
	}
	return b;
}

/* Grows the buffer to hold n more bytes plus the terminating NUL. */
static bool grow(jw *w, size_t n)
{
	if (w->failed)
		return false;
	size_t cap = w->cap > 64 ? w->cap : 64;
	while (cap < w->len + n + 1)
		cap *= 2;
	if (w->buf && cap == w->cap)
		cap *= 2;
	char *b = rk_realloc(w->buf, cap);
	if (!b) {
		w->failed = true;
		return false;
	}
	w->buf = b;
	w->cap = cap;
	return true;
}

/* Room for n more bytes plus the terminating NUL (the common case
 * inline: one compare). */
static inline bool reserve(jw *w, size_t n)
{
	if (w->buf && !w->failed && w->len + n + 1 <= w->cap)
		return true;
	return grow(w, n);
}

static inline void put(jw *w, const char *s, size_t n)
{
	if (!reserve(w, n))
		return;
	memcpy(w->buf + w->len, s, n);
	w->len += n;
	w->buf[w->len] = '\0';
}

static inline void putc1(jw *w, char c)
{
	if (!reserve(w, 1))
		return;
	w->buf[w->len++] = c;
	w->buf[w->len] = '\0';
}

static bool bit(uint64_t set, int d)
{
	return (set >> d) & 1;
}

/* Before any value: the comma of an array element, or the check that a
 * key came first inside an object. */
static bool value_prefix(jw *w)
{
	if (w->failed)
		return false;
	int d = w->depth;
	if (d == 0)
		return true;
	if (bit(w->in_obj, d)) {
		if (!w->after_key) {
			w->failed = true;
			return false;
		}
		w->after_key = false;
		return true;
	}
	if (!bit(w->first, d))
		putc1(w, ',');
	w->first &= ~(1ULL << d);
	return !w->failed;
}

static void open_(jw *w, char c, bool obj)
{
	if (!value_prefix(w))
		return;
	if (w->depth + 1 >= JW_MAX_DEPTH) {
		w->failed = true;
		return;
	}
	putc1(w, c);
	w->depth++;
	w->first |= 1ULL << w->depth;
	if (obj)
		w->in_obj |= 1ULL << w->depth;
	else
		w->in_obj &= ~(1ULL << w->depth);
}

static void close_(jw *w, char c, bool obj)
{
	if (w->failed)
		return;
	if (w->depth == 0 || bit(w->in_obj, w->depth) != obj ||
	    w->after_key) {
		w->failed = true;
		return;
	}
	w->depth--;
	putc1(w, c);
}

void jw_obj_begin(jw *w) { open_(w, '{', true); }
void jw_obj_end(jw *w) { close_(w, '}', true); }
void jw_arr_begin(jw *w) { open_(w, '[', false); }
void jw_arr_end(jw *w) { close_(w, ']', false); }

/* Bytes that need an escape in a JSON string: controls, '"', '\\'. */
static const unsigned char needs_escape[256] = {
	[0 ... 0x1f] = 1, ['"'] = 1, ['\\'] = 1,
};

/* The quoted, escaped form of s[0..n): runs of plain bytes are copied
 * at once, and the worst case (every byte a \u00XX) is reserved first
 * so the loop never checks for room. */
static void quoted(jw *w, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	if (!reserve(w, 6 * n + 2))
		return;
	char *o = w->buf + w->len;
	*o++ = '"';
	size_t run = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (!needs_escape[c])
			continue;
		memcpy(o, s + run, i - run);
		o += i - run;
		run = i + 1;
		*o++ = '\\';
		switch (c) {
		case '"': *o++ = '"'; break;
		case '\\': *o++ = '\\'; break;
		case '\b': *o++ = 'b'; break;
		case '\f': *o++ = 'f'; break;
		case '\n': *o++ = 'n'; break;
		case '\r': *o++ = 'r'; break;
		case '\t': *o++ = 't'; break;
		default:
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
	}
	memcpy(o, s + run, n - run);
	o += n - run;
	*o++ = '"';
	*o = '\0';
	w->len = (size_t)(o - w->buf);
}

void jw_key(jw *w, const char *s)
{
	if (w->failed)
		return;
	int d = w->depth;
	if (d == 0 || !bit(w->in_obj, d) || w->after_key) {
		w->failed = true;
		return;
	}
	if (!bit(w->first, d))
		putc1(w, ',');
	w->first &= ~(1ULL << d);
	quoted(w, s, strlen(s));
	putc1(w, ':');
	w->after_key = true;
}

void jw_strn(jw *w, const char *s, size_t n)
{
	if (value_prefix(w))
		quoted(w, s, n);
}

void jw_str(jw *w, const char *s)
{
	if (!s)
		jw_null(w);
	else
		jw_strn(w, s, strlen(s));
}

void jw_int(jw *w, int64_t v)
{
	if (!value_prefix(w))
		return;
	char tmp[24];
	char *p = tmp + sizeof(tmp);
	uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v;
	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u);
	if (v < 0)
		*--p = '-';
	put(w, p, (size_t)(tmp + sizeof(tmp) - p));
}

void jw_num(jw *w, double v)
{
	if (isnan(v) || isinf(v)) {
		jw_null(w);
		return;
	}
	if (v == floor(v) && fabs(v) < 9007199254740992.0) {
		jw_int(w, (int64_t)v);
		return;
	}
	if (!value_prefix(w))
		return;
	/* cJSON's rule: 15 digits when they read back exactly, else 17. */
	char tmp[32];
	int n = snprintf(tmp, sizeof(tmp), "%.15g", v);
	if (strtod(tmp, NULL) != v)
		n = snprintf(tmp, sizeof(tmp), "%.17g", v);
	put(w, tmp, (size_t)n);
}

void jw_bool(jw *w, bool v)
{
	if (value_prefix(w))
		put(w, v ? "true" : "false", v ? 4 : 5);
}

void jw_null(jw *w)
{
	if (value_prefix(w))
		put(w, "null", 4);
}

void jw_cjson(jw *w, const cJSON *v)
{
	if (!v || cJSON_IsNull(v) || cJSON_IsInvalid(v)) {
		jw_null(w);
	} else if (cJSON_IsBool(v)) {
		jw_bool(w, cJSON_IsTrue(v));
	} else if (cJSON_IsNumber(v)) {
		jw_num(w, v->valuedouble);
	} else if (cJSON_IsString(v)) {
		jw_str(w, v->valuestring);
	} else if (cJSON_IsRaw(v)) {
		if (value_prefix(w) && v->valuestring)
			put(w, v->valuestring, strlen(v->valuestring));
	} else if (cJSON_IsArray(v)) {
		const cJSON *c;
		jw_arr_begin(w);
		cJSON_ArrayForEach(c, v)
			jw_cjson(w, c);
		jw_arr_end(w);
	} else {
		const cJSON *c;
		jw_obj_begin(w);
		cJSON_ArrayForEach(c, v) {
			jw_key(w, c->string ? c->string : "");
			jw_cjson(w, c);
		}
		jw_obj_end(w);
	}
}

void jw_kstr(jw *w, const char *k, const char *v)
{
	jw_key(w, k);
	jw_str(w, v);
}

void jw_kint(jw *w, const char *k, int64_t v)
{
	jw_key(w, k);
	jw_int(w, v);
}

void jw_kbool(jw *w, const char *k, bool v)
{
	jw_key(w, k);
	jw_bool(w, v);
}
