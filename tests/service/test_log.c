/*
 * test_log.c - unit tests of service/log.c: level names and filtering,
 * the exact shape of a line (ts, level, msg, fields in order), JSON
 * escaping of keys and values, typed fields, truncation that keeps the
 * line valid JSON, the RFC 3339 time format, and whole lines from many
 * threads writing at once.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <pthread.h>
#include <fcntl.h>
#include <unistd.h>

#include <cmocka.h>
#include <cjson/cJSON.h>

#include "../../common/rk.h"
#include "../../service/log.h"

static char path[] = "/tmp/test_log_XXXXXX";
static int fd = -1;

static int setup(void **state)
{
	RK_UNUSED(state);
	fd = mkstemp(path);
	assert_true(fd >= 0);
	log_set_fd(fd);
	log_set_level(LOG_LEVEL_INFO);
	return 0;
}

static int teardown(void **state)
{
	RK_UNUSED(state);
	log_set_fd(2);
	close(fd);
	unlink(path);
	return 0;
}

/* Everything logged since the last call, rk_malloc'd. */
static char *take(size_t *len)
{
	off_t end = lseek(fd, 0, SEEK_END);
	assert_true(end >= 0);
	char *buf = rk_malloc((size_t)end + 1);
	assert_non_null(buf);
	assert_int_equal(pread(fd, buf, (size_t)end, 0), end);
	buf[end] = '\0';
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
	if (len)
		*len = (size_t)end;
	return buf;
}

/* The line without its timestamp value, for exact comparisons. */
static void strip_ts(char *line)
{
	/* {"ts":"2026-11-28T23:24:36.123Z", -> {"ts":"", */
	assert_memory_equal(line, "{\"ts\":\"", 7);
	char *q = strchr(line + 7, '"');
	assert_non_null(q);
	assert_int_equal(q - (line + 7), 24);
	assert_int_equal(line[7 + 4], '-');
	assert_int_equal(line[7 + 10], 'T');
	assert_int_equal(line[7 + 19], '.');
	assert_int_equal(line[7 + 23], 'Z');
	memmove(line + 7, q, strlen(q) + 1);
}

static void test_levels(void **state)
{
	RK_UNUSED(state);
	enum log_level l = LOG_LEVEL_ERROR;
	assert_int_equal(log_parse_level("debug", &l), 0);
	assert_int_equal(l, LOG_LEVEL_DEBUG);
	assert_int_equal(log_parse_level("INFO", &l), 0);
	assert_int_equal(l, LOG_LEVEL_INFO);
	assert_int_equal(log_parse_level("warning", &l), 0);
	assert_int_equal(l, LOG_LEVEL_WARN);
	assert_int_equal(log_parse_level("error", &l), 0);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_int_equal(log_parse_level("verbose", &l), RK_EINVAL);
	assert_int_equal(log_parse_level(NULL, &l), RK_EINVAL);
	assert_int_equal(l, LOG_LEVEL_ERROR);
	assert_string_equal(log_level_name(LOG_LEVEL_WARN), "warn");
	assert_string_equal(log_level_name((enum log_level)9), "?");

	assert_int_equal(log_set_level_name("warn"), 0);
	assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
	assert_int_equal(log_set_level_name("loud"), RK_EINVAL);
	assert_int_equal(log_get_level(), LOG_LEVEL_WARN);
	assert_false(log_enabled(LOG_LEVEL_INFO));
	assert_true(log_enabled(LOG_LEVEL_ERROR));

	log_info("hidden", NULL);
	log_warn("shown", NULL);
	log_set_level(LOG_LEVEL_INFO);
	log_debug("hidden too", "k", "v", NULL);
	char *out = take(NULL);
	assert_non_null(strstr(out, "\"msg\":\"shown\"}\n"));
	assert_null(strstr(out, "hidden"));
	assert_int_equal(strchr(out, '\n') - out + 1, (long)strlen(out));
	rk_free(out);
}

static void test_line_shape(void **state)
{
	RK_UNUSED(state);
	log_info("reload", "scenario", "payments", "version", "3", NULL);
	log_error("boom", "missing", NULL, NULL);
	char *out = take(NULL);
	char *nl = strchr(out, '\n');
	assert_non_null(nl);
	*nl = '\0';
	strip_ts(out);
	assert_string_equal(out, "{\"ts\":\"\",\"level\":\"info\","
				 "\"msg\":\"reload\",\"scenario\":\"payments\","
				 "\"version\":\"3\"}");
	char *second = nl + 1;
	nl = strchr(second, '\n');
	assert_non_null(nl);
	assert_int_equal(nl[1], '\0');
	*nl = '\0';
	strip_ts(second);
	assert_string_equal(second, "{\"ts\":\"\",\"level\":\"error\","
				    "\"msg\":\"boom\",\"missing\":null}");
	rk_free(out);
}

static void test_escaping(void **state)
{
	RK_UNUSED(state);
	const char *nasty = "a\"b\\c\nd\te\x01" "f\x7fg/\xc3\xa9";
	log_warn("q\"uote", "k\ney", nasty, NULL);
	char *out = take(NULL);
	cJSON *o = cJSON_Parse(out);
	assert_non_null(o);
	assert_string_equal(cJSON_GetObjectItem(o, "msg")->valuestring,
			    "q\"uote");
	assert_string_equal(cJSON_GetObjectItem(o, "k\ney")->valuestring,
			    nasty);
	assert_string_equal(cJSON_GetObjectItem(o, "level")->valuestring,
			    "warn");
	assert_non_null(strstr(out, "\\u0001f\\u007fg/\xc3\xa9\""));
	cJSON_Delete(o);
	rk_free(out);
}

static void test_typed_fields(void **state)
{
	RK_UNUSED(state);
	log_rec l;
	log_set_level(LOG_LEVEL_ERROR);
	assert_false(log_begin(&l, LOG_LEVEL_INFO, "off"));
	log_str(&l, "a", "b");
	log_set_level(LOG_LEVEL_INFO);
	assert_true(log_begin(&l, LOG_LEVEL_INFO, "request"));
	log_str(&l, "path", "/v1/score");
	log_int(&l, "status", 200);
	log_int(&l, "neg", -9000000000LL);
	log_num(&l, "ms", 0.143);
	log_num(&l, "nan", NAN);
	log_bool(&l, "degraded", false);
	log_bool(&l, "yes", true);
	log_strn(&l, "cut", "abcdef", 3);
	log_fmt(&l, "f", "%d-%s", 7, "x");
	log_end(&l);
	char *out = take(NULL);
	strip_ts(out);
	assert_string_equal(out, "{\"ts\":\"\",\"level\":\"info\","
				 "\"msg\":\"request\",\"path\":\"/v1/score\","
				 "\"status\":200,\"neg\":-9000000000,"
				 "\"ms\":0.143,\"nan\":null,"
				 "\"degraded\":false,\"yes\":true,"
				 "\"cut\":\"abc\",\"f\":\"7-x\"}\n");
	rk_free(out);
}

static void test_truncation(void **state)
{
	RK_UNUSED(state);
	size_t n = 3 * LOG_LINE_MAX;
	char *big = rk_malloc(n + 1);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++)
		big[i] = i % 7 ? 'x' : '"';   /* escapes double some bytes */
	big[n] = '\0';
	log_info("big", "first", "1", "v", big, "after", "2", NULL);
	size_t len;
	char *out = take(&len);
	assert_true(len <= LOG_LINE_MAX);
	assert_true(len > LOG_LINE_MAX - 64);
	assert_int_equal(out[len - 1], '\n');
	cJSON *o = cJSON_Parse(out);
	assert_non_null(o);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	assert_string_equal(cJSON_GetObjectItem(o, "first")->valuestring,
			    "1");
	const char *v = cJSON_GetObjectItem(o, "v")->valuestring;
	assert_true(strlen(v) > 1000);
	assert_memory_equal(v, big, strlen(v));
	cJSON_Delete(o);
	rk_free(out);

	/* a huge key is skipped, not cut */
	big[LOG_LINE_MAX] = '\0';
	memset(big, 'k', LOG_LINE_MAX);
	log_info("bigkey", "a", "b", big, "v", NULL);
	out = take(&len);
	o = cJSON_Parse(out);
	assert_non_null(o);
	assert_true(cJSON_IsTrue(cJSON_GetObjectItem(o, "truncated")));
	assert_string_equal(cJSON_GetObjectItem(o, "a")->valuestring, "b");
	assert_int_equal(cJSON_GetArraySize(o), 5);
	cJSON_Delete(o);
	rk_free(out);
	rk_free(big);
}

static void test_time_format(void **state)
{
	RK_UNUSED(state);
	char t[32];
	assert_int_equal(log_format_time(0, t, sizeof(t)), 24);
	assert_string_equal(t, "1970-01-01T00:00:00.000Z");
	assert_int_equal(log_format_time(1700000000123456LL, t, sizeof(t)),
			 24);
	assert_string_equal(t, "2023-11-14T22:13:20.123Z");
	assert_int_equal(log_format_time(951825600999999LL, t, sizeof(t)),
			 24);
	assert_string_equal(t, "2000-02-29T12:00:00.999Z");
	assert_int_equal(log_format_time(-1000, t, sizeof(t)), 24);
	assert_string_equal(t, "1969-12-31T23:59:59.999Z");
	char small[8];
	assert_int_equal(log_format_time(0, small, sizeof(small)), 7);
	assert_string_equal(small, "1970-01");
	int64_t now = log_wall_us();
	assert_true(now > 1600000000LL * 1000000);
}

#define THREADS 8
#define LINES 2000

static void *writer(void *arg)
{
	char id[16];
	snprintf(id, sizeof(id), "%d", (int)(intptr_t)arg);
	char pad[600];
	memset(pad, 'p', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (int i = 0; i < LINES; i++) {
		char seq[16];
		snprintf(seq, sizeof(seq), "%d", i);
		log_info("line", "thread", id, "seq", seq, "pad", pad, NULL);
	}
	return NULL;
}

static void test_threads(void **state)
{
	RK_UNUSED(state);
	int afd = open(path, O_WRONLY | O_APPEND);
	assert_true(afd >= 0);
	log_set_fd(afd);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, writer,
						(void *)(intptr_t)i), 0);
	for (int i = 0; i < THREADS; i++)
		pthread_join(th[i], NULL);
	log_set_fd(fd);
	close(afd);
	char *out = take(NULL);
	int next[THREADS] = { 0 };
	int lines = 0;
	char *save = NULL;
	for (char *ln = strtok_r(out, "\n", &save); ln;
	     ln = strtok_r(NULL, "\n", &save)) {
		cJSON *o = cJSON_Parse(ln);
		assert_non_null(o);
		int t = atoi(cJSON_GetObjectItem(o, "thread")->valuestring);
		int s = atoi(cJSON_GetObjectItem(o, "seq")->valuestring);
		assert_true(t >= 0 && t < THREADS);
		assert_int_equal(s, next[t]);   /* per thread, in order */
		next[t]++;
		lines++;
		cJSON_Delete(o);
	}
	assert_int_equal(lines, THREADS * LINES);
	rk_free(out);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_levels),
		cmocka_unit_test(test_line_shape),
		cmocka_unit_test(test_escaping),
		cmocka_unit_test(test_typed_fields),
		cmocka_unit_test(test_truncation),
		cmocka_unit_test(test_time_format),
		cmocka_unit_test(test_threads),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
