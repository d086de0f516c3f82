/*
 * test_resp.c - resp_append writes exactly the bytes hiredis's own
 * redisAppendCommandArgv writes, for short, empty, binary and long
 * arguments (past the stack buffer), and fails cleanly when the long
 * case cannot allocate.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <hiredis/hiredis.h>

#include "cache/resp.h"
#include "common/rk.h"

/* A context with an output buffer and no connection (nothing is sent:
 * appends only fill c->obuf). */
static redisContext *ctx(void)
{
	redisContext *c = redisConnectUnix("/nonexistent/riskd-test.sock");
	assert_non_null(c);
	return c;
}

static void same(int argc, const char **argv, const size_t *len)
{
	redisContext *a = ctx(), *b = ctx();
	assert_int_equal(redisAppendCommandArgv(a, argc, argv, len), REDIS_OK);
	assert_int_equal(resp_append(b, argc, argv, len), REDIS_OK);
	assert_int_equal(sdslen(a->obuf), sdslen(b->obuf));
	assert_memory_equal(a->obuf, b->obuf, sdslen(a->obuf));
	redisFree(a);
	redisFree(b);
}

static void test_matches_hiredis(void **st)
{
	const char *get[] = {"HGETALL", "riskd:f:card:4111111111111111"};
	size_t getl[] = {7, strlen(get[1])};
	same(2, get, getl);

	const char *inc[] = {"HINCRBYFLOAT", "riskd:v:amt:c1:s",
			     "1764428400000", "-12.5"};
	size_t incl[] = {12, 16, 13, 5};
	same(4, inc, incl);

	const char *bin[] = {"SET", "k\r\n", "", "\0\r\n$3\r\n"};
	size_t binl[] = {3, 3, 0, 7};
	same(4, bin, binl);

	/* past the 1 KiB stack buffer: one 5,000-byte argument, and 300
	 * small ones whose headers alone overflow it; then one right at
	 * the edge (the estimate is 27 bytes a header) */
	char *big = malloc(5000);
	assert_non_null(big);
	memset(big, 'x', 5000);
	const char *lng[] = {"SET", "key", big};
	size_t lngl[] = {3, 3, 5000};
	same(3, lng, lngl);
	const char *many[300];
	size_t manyl[300];
	for (int i = 0; i < 300; i++) {
		many[i] = i ? "member" : "SADD";
		manyl[i] = i ? 6 : 4;
	}
	same(300, many, manyl);
	const char *edge[] = {"SET", "k", big};
	size_t edgel[] = {3, 1, 1024 - 27 * 4 - 3 - 1 - 2 * 3};
	same(3, edge, edgel);
	edgel[2]++;
	same(3, edge, edgel);

	/* the long case cannot allocate: REDIS_ERR, the buffer unchanged */
	redisContext *c = ctx();
	rk_alloc_fail_after(0);
	int rc = resp_append(c, 3, lng, lngl);
	rk_alloc_fail_after(-1);
	assert_int_equal(rc, REDIS_ERR);
	assert_int_equal(sdslen(c->obuf), 0);
	redisFree(c);
	free(big);
}

/* Appends add up: two commands are the two encodings back to back. */
static void test_appends(void **st)
{
	redisContext *a = ctx(), *b = ctx();
	const char *x[] = {"PEXPIRE", "k", "60000"};
	size_t xl[] = {7, 1, 5};
	const char *y[] = {"ZCOUNT", "k", "(1", "+inf"};
	size_t yl[] = {6, 1, 2, 4};
	assert_int_equal(redisAppendCommandArgv(a, 3, x, xl), REDIS_OK);
	assert_int_equal(redisAppendCommandArgv(a, 4, y, yl), REDIS_OK);
	assert_int_equal(resp_append(b, 3, x, xl), REDIS_OK);
	assert_int_equal(resp_append(b, 4, y, yl), REDIS_OK);
	assert_int_equal(sdslen(a->obuf), sdslen(b->obuf));
	assert_memory_equal(a->obuf, b->obuf, sdslen(a->obuf));
	redisFree(a);
	redisFree(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_hiredis),
		cmocka_unit_test(test_appends),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
