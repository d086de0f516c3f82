/*
 * rk.h - the one shared error enum and the allocation wrapper.
 *
 * Every module returns 0 or a negative RK_E* code from actions, and NULL
 * plus a diagnostic from constructors. All heap allocation goes through
 * rk_malloc/rk_calloc/rk_realloc/rk_strdup/rk_free so tests can make the
 * Nth allocation fail (rk_alloc_fail_after) and prove nothing leaks or
 * crashes. Neighbours: arena.h (request-scoped memory), diag.h (located
 * error messages), strset.h (hash sets of strings).
 */
#ifndef RK_H
#define RK_H

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

enum rk_err {
	RK_OK = 0,
	RK_ENOMEM = -1,    /* allocation failed */
	RK_EINVAL = -2,    /* invalid argument or input */
	RK_ENOENT = -3,    /* no such scenario, version, list or key */
	RK_EIO = -4,       /* I/O or database error */
	RK_ESYNTAX = -5,   /* rule set or expression does not compile */
	RK_EEXIST = -6,    /* already exists */
	RK_ELIMIT = -7,    /* a configured limit was exceeded */
	RK_ETIMEOUT = -8,  /* a deadline passed */
	RK_EUNAVAIL = -9,  /* a dependency (Redis, store) is unreachable */
	RK_ESTATE = -10,   /* operation not valid in the current state */
};

/* Text for an RK_E* code; never NULL. */
const char *rk_strerror(int err);

void *rk_malloc(size_t n);
void *rk_calloc(size_t count, size_t size);
void *rk_realloc(void *p, size_t n);
char *rk_strdup(const char *s);
char *rk_strndup(const char *s, size_t n);
void rk_free(void *p);

/*
 * Test hook: after n more successful allocations, every allocation fails
 * until rk_alloc_fail_after(-1) is called. Returns the number of
 * allocations made since the last call (so a test can count, then walk).
 */
long rk_alloc_fail_after(long n);

/* Install rk_malloc/rk_free as cJSON's hooks (call once at start). */
void rk_cjson_hooks(void);

struct arena;
/*
 * Until called again with NULL, cJSON allocations on this thread come
 * from a (common/arena.h) and cJSON frees on this thread do nothing. For
 * parsing a request body into its request's arena: the tree is then
 * released with the arena, never with cJSON_Delete, and must not be
 * modified. Set it only around the parse call.
 */
void rk_cjson_arena(struct arena *a);

/* Monotonic clock in microseconds / nanoseconds. */
int64_t rk_now_us(void);
int64_t rk_now_ns(void);

#define RK_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RK_UNUSED(x) ((void)(x))

#endif
