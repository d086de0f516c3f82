/*
 * rk.c - error strings, the allocation wrapper with its fault-injection
 * hook and the monotonic clock. See rk.h for the contracts.
 */
#include "rk.h"

#include "arena.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const errtab[] = {
	"ok",
	"out of memory",
	"invalid argument",
	"not found",
	"I/O error",
	"syntax error",
	"already exists",
	"limit exceeded",
	"deadline exceeded",
	"unavailable",
	"invalid state",
};

const char *rk_strerror(int err)
{
	if (err > 0 || -err >= (int)RK_ARRAY_LEN(errtab))
		return "unknown error";
	return errtab[-err];
}

/* -1: never fail. Otherwise the number of allocations still allowed. */
static _Thread_local long fail_budget = -1;
static _Thread_local long alloc_count;

long rk_alloc_fail_after(long n)
{
	long c = alloc_count;
	alloc_count = 0;
	fail_budget = n;
	return c;
}

static bool alloc_allowed(void)
{
	alloc_count++;
	if (fail_budget < 0)
		return true;
	if (fail_budget == 0)
		return false;
	fail_budget--;
	return true;
}

void *rk_malloc(size_t n)
{
	if (!alloc_allowed())
		return NULL;
	return malloc(n ? n : 1);
}

void *rk_calloc(size_t count, size_t size)
{
	if (!alloc_allowed())
		return NULL;
	return calloc(count ? count : 1, size ? size : 1);
}

void *rk_realloc(void *p, size_t n)
{
	if (!alloc_allowed())
		return NULL;
	return realloc(p, n ? n : 1);
}

char *rk_strndup(const char *s, size_t n)
{
	char *d = rk_malloc(n + 1);
	if (!d)
		return NULL;
	memcpy(d, s, n);
	d[n] = '\0';
	return d;
}

char *rk_strdup(const char *s)
{
	return s ? rk_strndup(s, strlen(s)) : NULL;
}

void rk_free(void *p)
{
	free(p);
}

static _Thread_local arena *cjson_arena;

void rk_cjson_arena(arena *a)
{
	cjson_arena = a;
}

static void *cjson_malloc(size_t n)
{
	return cjson_arena ? arena_alloc(cjson_arena, n) : rk_malloc(n);
}

static void cjson_free(void *p)
{
	if (!cjson_arena)
		rk_free(p);
}

void rk_cjson_hooks(void)
{
	cJSON_Hooks h = {cjson_malloc, cjson_free};
	cJSON_InitHooks(&h);
}

int64_t rk_now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

int64_t rk_now_us(void)
{
	return rk_now_ns() / 1000;
}
