/*
 * jw.h - a streaming JSON writer into one growable buffer. The service
 * writes its hot responses (score, batch) with it instead of building a
 * cJSON tree and printing it: no allocation per value, numbers printed
 * without the locale round trip, strings escaped in one pass. Commas are
 * placed by the writer; the caller only says what comes next.
 *
 * Errors are sticky: after an allocation failure or a misuse (a key
 * outside an object, nesting deeper than JW_MAX_DEPTH) every call is a
 * no-op and jw_finish returns NULL, so callers check once at the end.
 */
#ifndef RK_JW_H
#define RK_JW_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cJSON;

#define JW_MAX_DEPTH 64

typedef struct jw {
	char *buf;            /* rk_malloc'd, NUL-terminated while ok */
	size_t len, cap;
	bool failed;
	int depth;
	uint64_t first;       /* bit d: nothing written yet at depth d */
	uint64_t in_obj;      /* bit d: depth d is an object */
	bool after_key;       /* a key was written, its value comes next */
} jw;

/* Starts an empty writer; cap_hint bytes are reserved on first write. */
void jw_init(jw *w, size_t cap_hint);
/* Frees the buffer (after an error, or when not finishing). */
void jw_cleanup(jw *w);
/* The text (an rk_malloc block, caller frees with rk_free) and its length,
 * or NULL after any error or with containers still open. Resets w. */
char *jw_finish(jw *w, size_t *len);

void jw_obj_begin(jw *w);
void jw_obj_end(jw *w);
void jw_arr_begin(jw *w);
void jw_arr_end(jw *w);
/* An object key; s is UTF-8 text and is escaped. */
void jw_key(jw *w, const char *s);
void jw_str(jw *w, const char *s);
void jw_strn(jw *w, const char *s, size_t n);
void jw_int(jw *w, int64_t v);
/* Integral values print as integers, others with 17 significant digits;
 * NaN and infinities (not JSON) print as null. */
void jw_num(jw *w, double v);
void jw_bool(jw *w, bool v);
void jw_null(jw *w);
/* A cJSON value (any type), printed compactly; NULL prints null. */
void jw_cjson(jw *w, const struct cJSON *v);

/* Shorthands for "key": value inside an object. */
void jw_kstr(jw *w, const char *k, const char *v);   /* NULL v -> null */
void jw_kint(jw *w, const char *k, int64_t v);
void jw_kbool(jw *w, const char *k, bool v);

#endif
