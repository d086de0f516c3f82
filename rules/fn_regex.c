/*
 * fn_regex.c - matches(s, "re"): PCRE2 (8-bit, UTF, invalid UTF-8 in the
 * subject tolerated) compiled once at rule load, JIT when available. The
 * per-thread scratch carries match, depth and heap limits so no pattern
 * can stall a request. All PCRE2 memory goes through rk_malloc/rk_free.
 * Contracts in fn.h. Neighbours: fn_str.c, fn_cidr.c; eval.c calls us.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "fn.h"
#include "../common/rk.h"

#include <pcre2.h>
#include <stdio.h>
#include <string.h>

/* Backtracking steps per match (pcre2_set_match_limit). */
#define FN_REGEX_MATCH_LIMIT 100000
/* Nested backtracking frames per match (interpreter only). */
#define FN_REGEX_DEPTH_LIMIT 1000
/* KiB of heap the interpreter may use for its backtracking frames. */
#define FN_REGEX_HEAP_LIMIT 4096

struct fn_regex {
	pcre2_code *code;
	char *pattern;	/* NUL-terminated copy, for disasm and messages */
};

struct fn_regex_scratch {
	pcre2_match_data *md;
	pcre2_match_context *mc;
};

static void *pcre_malloc(PCRE2_SIZE n, void *data)
{
	RK_UNUSED(data);
	return rk_malloc(n);
}

static void pcre_free(void *p, void *data)
{
	RK_UNUSED(data);
	rk_free(p);
}

/* A general context only lends its allocator; objects made with it copy
 * the functions, so the context may be freed right after use. */
static pcre2_general_context *gen_context(void)
{
	return pcre2_general_context_create(pcre_malloc, pcre_free, NULL);
}

static void set_err(char *err, size_t errlen, const char *msg)
{
	if (err && errlen)
		snprintf(err, errlen, "%s", msg);
}

fn_regex *fn_regex_compile(const char *pat, size_t n, char *err,
			   size_t errlen, size_t *erroff)
{
	pcre2_general_context *gc;
	pcre2_compile_context *cc;
	fn_regex *re;
	int code;
	PCRE2_SIZE off = 0;

	if (erroff)
		*erroff = 0;
	if (!pat)
		pat = "";
	re = rk_calloc(1, sizeof(*re));
	if (!re)
		goto out_nomem;
	re->pattern = rk_strndup(pat, n);
	if (!re->pattern)
		goto out_free_re;
	gc = gen_context();
	if (!gc)
		goto out_free_re;
	cc = pcre2_compile_context_create(gc);
	pcre2_general_context_free(gc);
	if (!cc)
		goto out_free_re;
	re->code = pcre2_compile((PCRE2_SPTR)pat, n,
				 PCRE2_UTF | PCRE2_MATCH_INVALID_UTF, &code,
				 &off, cc);
	pcre2_compile_context_free(cc);
	if (!re->code) {
		if (err && errlen &&
		    pcre2_get_error_message(code, (PCRE2_UCHAR *)err,
					    errlen) == PCRE2_ERROR_BADDATA)
			set_err(err, errlen, "invalid regular expression");
		if (erroff)
			*erroff = off;
		fn_regex_free(re);
		return NULL;
	}
	/* JIT is an optimisation: without it (no support, no memory) the
	 * interpreter runs the same pattern under the same limits. */
	(void)pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);
	return re;

out_free_re:
	fn_regex_free(re);
out_nomem:
	set_err(err, errlen, "out of memory");
	return NULL;
}

void fn_regex_free(fn_regex *re)
{
	if (!re)
		return;
	pcre2_code_free(re->code);
	rk_free(re->pattern);
	rk_free(re);
}

fn_regex_scratch *fn_regex_scratch_new(void)
{
	pcre2_general_context *gc;
	fn_regex_scratch *sc = rk_calloc(1, sizeof(*sc));

	if (!sc)
		return NULL;
	gc = gen_context();
	if (!gc)
		goto out_free_sc;
	/* One pair is enough: we only ask whether there is a match. */
	sc->md = pcre2_match_data_create(1, gc);
	sc->mc = pcre2_match_context_create(gc);
	pcre2_general_context_free(gc);
	if (!sc->md || !sc->mc)
		goto out_free_sc;
	pcre2_set_match_limit(sc->mc, FN_REGEX_MATCH_LIMIT);
	pcre2_set_depth_limit(sc->mc, FN_REGEX_DEPTH_LIMIT);
	pcre2_set_heap_limit(sc->mc, FN_REGEX_HEAP_LIMIT);
	return sc;

out_free_sc:
	fn_regex_scratch_free(sc);
	return NULL;
}

void fn_regex_scratch_free(fn_regex_scratch *sc)
{
	if (!sc)
		return;
	pcre2_match_data_free(sc->md);
	pcre2_match_context_free(sc->mc);
	rk_free(sc);
}

int fn_regex_match(const fn_regex *re, fn_regex_scratch *sc, const char *s,
		   size_t n)
{
	int rc;

	if (!re || !sc)
		return RK_EINVAL;
	if (!s)
		s = "";
	rc = pcre2_match(re->code, (PCRE2_SPTR)s, n, 0, 0, sc->md, sc->mc);
	if (rc >= 0)
		return 1;
	switch (rc) {
	case PCRE2_ERROR_NOMATCH:
		return 0;
	case PCRE2_ERROR_MATCHLIMIT:
	case PCRE2_ERROR_DEPTHLIMIT:
	case PCRE2_ERROR_HEAPLIMIT:
	case PCRE2_ERROR_JIT_STACKLIMIT:
		return RK_ELIMIT;
	case PCRE2_ERROR_NOMEMORY:
		return RK_ENOMEM;
	default:
		return RK_EINVAL;
	}
}

const char *fn_regex_pattern(const fn_regex *re)
{
	return re ? re->pattern : NULL;
}
