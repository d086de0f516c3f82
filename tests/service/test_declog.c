/*
 * test_declog.c - unit tests of service/declog.c: line format and
 * order in a real file, redaction of nested paths (through arrays, the
 * caller's event untouched), bad redact lists, the bounded queue
 * refusing with RK_ELIMIT while the writer is paused, flush on close,
 * lines lost only after close_timeout_ms of failing writes (/dev/full),
 * each failure streak and the loss logged once,
 * reopen after rotation, a disabled log.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../common/rk.h"
#include "../../service/declog.h"
#include "../../service/log.h"

static char path[64];

static void set_path(void)
{
	snprintf(path, sizeof(path), "/tmp/test_declog.%d.log", (int)getpid());
	unlink(path);
}

/* The file's lines as a cJSON array of parsed objects. */
static cJSON *read_lines(const char *p)
{
	FILE *f = fopen(p, "r");
	assert_non_null(f);
	cJSON *arr = cJSON_CreateArray();
	char buf[8192];
	while (fgets(buf, sizeof(buf), f)) {
		cJSON *o = cJSON_Parse(buf);
		assert_non_null(o);
		cJSON_AddItemToArray(arr, o);
	}
	fclose(f);
	return arr;
}

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000 };
	nanosleep(&ts, NULL);
}

static void test_format_and_order(void **state)
{
	(void)state;
	set_path();
	char err[256];
	declog_opts o = { .path = path };
	declog *dl = declog_open(&o, err, sizeof(err));
	assert_non_null(dl);
	assert_true(declog_is_enabled(dl));
	cJSON *reasons = cJSON_Parse("[{\"rule\": \"big\", \"score\": 30}]");
	cJSON *ev = cJSON_Parse("{\"amount\": 12.5, \"user\": {\"id\": "
				"\"u1\"}}");
	for (int i = 0; i < 500; i++) {
		char rid[32];
		snprintf(rid, sizeof(rid), "r%d", i);
		declog_entry e = {
			.time_us = 1764372276123456 + i * 1000,
			.request_id = rid, .scenario = "pay",
			.version = 3, .decision = "review", .score = 55,
			.decided_by = i % 2 ? "score" : NULL,
			.reasons = reasons, .degraded = i == 7, .event = ev,
		};
		assert_int_equal(declog_record(dl, &e), 0);
	}
	assert_int_equal(declog_close(dl), 0);
	cJSON *lines = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(lines), 500);
	for (int i = 0; i < 500; i++) {
		cJSON *l = cJSON_GetArrayItem(lines, i);
		char rid[32];
		snprintf(rid, sizeof(rid), "r%d", i);
		assert_string_equal(cJSON_GetObjectItem(l, "request_id")
					    ->valuestring, rid);
		assert_int_equal(cJSON_IsTrue(cJSON_GetObjectItem(
					 l, "degraded")), i == 7);
		assert_int_equal(cJSON_GetObjectItem(l, "decided_by") != NULL,
				 i % 2);
	}
	char *first = cJSON_PrintUnformatted(cJSON_GetArrayItem(lines, 0));
	assert_string_equal(first,
		"{\"time\":\"2025-11-28T23:24:36.123Z\",\"request_id\":\"r0\","
		"\"scenario\":\"pay\",\"version\":3,\"decision\":\"review\","
		"\"score\":55,\"reasons\":[{\"rule\":\"big\",\"score\":30}],"
		"\"degraded\":false,\"event\":{\"amount\":12.5,\"user\":"
		"{\"id\":\"u1\"}}}");
	rk_free(first);
	cJSON_Delete(lines);
	cJSON_Delete(reasons);
	cJSON_Delete(ev);
	unlink(path);
}

static void test_redaction(void **state)
{
	(void)state;
	set_path();
	char err[256];
	declog_opts o = { .path = path, .redact = " card.number , "
			  "user.contact.email,items.sku,missing.x,amount" };
	declog *dl = declog_open(&o, err, sizeof(err));
	assert_non_null(dl);
	const char *text = "{\"amount\": 5, \"card\": {\"number\": "
		"\"4111\", \"country\": \"US\"}, \"user\": {\"contact\": "
		"{\"email\": \"a@b.c\", \"phone\": 1}}, \"items\": [{\"sku\": "
		"\"s1\"}, {\"sku\": {\"deep\": 1}}, 3, {\"n\": 1}], "
		"\"missing\": 7}";
	cJSON *ev = cJSON_Parse(text);
	declog_entry e = { .time_us = 1, .request_id = "x", .scenario = "s",
			   .decision = "approve", .event = ev };
	size_t len = 0;
	char *line = declog_build_line(dl, &e, &len);
	assert_non_null(line);
	assert_int_equal(len, strlen(line));
	cJSON *l = cJSON_Parse(line);
	char *got = cJSON_PrintUnformatted(cJSON_GetObjectItem(l, "event"));
	assert_string_equal(got,
		"{\"amount\":\"[redacted]\",\"card\":{\"number\":"
		"\"[redacted]\",\"country\":\"US\"},\"user\":{\"contact\":"
		"{\"email\":\"[redacted]\",\"phone\":1}},\"items\":[{\"sku\":"
		"\"[redacted]\"},{\"sku\":\"[redacted]\"},3,{\"n\":1}],"
		"\"missing\":7}");
	/* reasons default to [], time of 1 us */
	assert_string_equal(cJSON_GetObjectItem(l, "time")->valuestring,
			    "1970-01-01T00:00:00.000Z");
	assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(l,
								"reasons")),
			 0);
	rk_free(got);
	rk_free(line);
	cJSON_Delete(l);
	/* the caller's event is untouched */
	cJSON *orig = cJSON_Parse(text);
	assert_true(cJSON_Compare(ev, orig, true));
	cJSON_Delete(orig);

	/* the logged line is redacted too */
	assert_int_equal(declog_record(dl, &e), 0);
	assert_int_equal(declog_close(dl), 0);
	cJSON *lines = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(lines), 1);
	cJSON *card = cJSON_GetObjectItem(cJSON_GetObjectItem(
		cJSON_GetArrayItem(lines, 0), "event"), "card");
	assert_string_equal(cJSON_GetObjectItem(card, "number")->valuestring,
			    "[redacted]");
	cJSON_Delete(lines);

	/* no log: nothing redacted; a null event */
	line = declog_build_line(NULL, &e, &len);
	assert_non_null(strstr(line, "\"4111\""));
	rk_free(line);
	e.event = NULL;
	line = declog_build_line(NULL, &e, &len);
	assert_non_null(strstr(line, "\"event\":null"));
	rk_free(line);
	cJSON_Delete(ev);
	unlink(path);
}

static void test_bad_redact(void **state)
{
	(void)state;
	set_path();
	const char *bad[] = { "a..b", "a,", ".a", "a.", "a,,b", " , " };
	for (size_t i = 0; i < RK_ARRAY_LEN(bad); i++) {
		char err[256] = "";
		declog_opts o = { .path = path, .redact = bad[i] };
		assert_null(declog_open(&o, err, sizeof(err)));
		assert_non_null(strstr(err, "RISKD_REDACT"));
	}
	char err[256] = "";
	declog_opts o = { .path = "/nonexistent/dir/x.log" };
	assert_null(declog_open(&o, err, sizeof(err)));
	assert_non_null(strstr(err, "cannot open /nonexistent/dir/x.log"));
	unlink(path);
}

static void test_full_queue(void **state)
{
	(void)state;
	set_path();
	char err[256];
	declog_opts o = { .path = path, .max_lines = 3, .flush_ms = 1 };
	declog *dl = declog_open(&o, err, sizeof(err));
	assert_non_null(dl);
	declog_pause(dl, true);
	assert_int_equal(declog_append(dl, "{\"n\":1}", 7), 0);
	assert_int_equal(declog_append(dl, "{\"n\":2}\n", 8), 0);
	assert_int_equal(declog_append(dl, "{\"n\":3}", 7), 0);
	assert_int_equal(declog_append(dl, "{\"n\":4}", 7), RK_ELIMIT);
	declog_stats st;
	declog_get_stats(dl, &st);
	assert_int_equal(st.rejected, 1);
	assert_int_equal(st.queued_lines, 3);
	assert_int_equal(st.queued_bytes, 24);
	assert_int_equal(st.written_lines, 0);
	declog_pause(dl, false);
	for (int i = 0; i < 200; i++) {
		declog_get_stats(dl, &st);
		if (st.written_lines == 3)
			break;
		sleep_ms(5);
	}
	assert_int_equal(st.written_lines, 3);
	assert_int_equal(st.queued_lines, 0);
	assert_int_equal(declog_append(dl, "{\"n\":5}", 7), 0);
	assert_int_equal(declog_close(dl), 0);
	cJSON *lines = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(lines), 4);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(lines, 3),
					     "n")->valueint, 5);
	cJSON_Delete(lines);
	unlink(path);

	/* the byte bound */
	declog_opts ob = { .path = path, .max_bytes = 20 };
	dl = declog_open(&ob, err, sizeof(err));
	declog_pause(dl, true);
	assert_int_equal(declog_append(dl, "0123456789", 10), 0);
	assert_int_equal(declog_append(dl, "0123456789", 10), RK_ELIMIT);
	assert_int_equal(declog_append(dl, "01234567", 8), 0);
	assert_int_equal(declog_close(dl), 0);   /* flushes while paused */
	lines = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(lines), 2);
	cJSON_Delete(lines);
	unlink(path);
}

static void test_flush_on_close(void **state)
{
	(void)state;
	set_path();
	char err[256];
	declog_opts o = { .path = path, .flush_ms = 60000,
			  .batch_bytes = 1 << 20 };
	declog *dl = declog_open(&o, err, sizeof(err));
	for (int i = 0; i < 50; i++) {
		char l[32];
		int n = snprintf(l, sizeof(l), "{\"i\":%d}", i);
		assert_int_equal(declog_append(dl, l, (size_t)n), 0);
	}
	sleep_ms(20);
	declog_stats st;
	declog_get_stats(dl, &st);
	assert_int_equal(st.written_lines, 0);   /* batching */
	assert_int_equal(declog_close(dl), 0);
	cJSON *lines = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(lines), 50);
	for (int i = 0; i < 50; i++)
		assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(
					lines, i), "i")->valueint, i);
	cJSON_Delete(lines);
	unlink(path);
}

static void test_write_errors(void **state)
{
	(void)state;
	char err[256];
	char logpath[] = "/tmp/test_declog_errlog_XXXXXX";
	int lfd = mkstemp(logpath);
	assert_true(lfd >= 0);
	int old_fd = log_set_fd(lfd);
	declog_opts o = { .path = "/dev/full", .close_timeout_ms = 100 };
	declog *dl = declog_open(&o, err, sizeof(err));
	assert_non_null(dl);
	assert_int_equal(declog_append(dl, "{}", 2), 0);
	assert_int_equal(declog_append(dl, "{}", 2), 0);
	sleep_ms(100);
	declog_stats st;
	declog_get_stats(dl, &st);
	assert_true(st.write_errors >= 1);
	assert_int_equal(st.lost_lines, 0);   /* retried, not dropped */
	assert_int_equal(st.queued_lines, 2);
	assert_int_equal(declog_close(dl), RK_EIO);

	/* one log line per failure streak, one for the lines given up */
	log_set_fd(old_fd);
	cJSON *lines = read_lines(logpath);
	close(lfd);
	unlink(logpath);
	assert_int_equal(cJSON_GetArraySize(lines), 2);
	cJSON *l0 = cJSON_GetArrayItem(lines, 0);
	cJSON *l1 = cJSON_GetArrayItem(lines, 1);
	assert_string_equal(cJSON_GetObjectItem(l0, "level")->valuestring,
			    "error");
	assert_string_equal(cJSON_GetObjectItem(l0, "msg")->valuestring,
			    "decision log: write failed, retrying");
	assert_string_equal(cJSON_GetObjectItem(l0, "path")->valuestring,
			    "/dev/full");
	assert_string_equal(cJSON_GetObjectItem(l0, "error")->valuestring,
			    "No space left on device");
	assert_string_equal(cJSON_GetObjectItem(l1, "msg")->valuestring,
			    "decision log: lines lost at close");
	assert_int_equal(cJSON_GetObjectItem(l1, "lines")->valueint, 2);
	cJSON_Delete(lines);
}

static void test_reopen_and_disabled(void **state)
{
	(void)state;
	set_path();
	char err[256], moved[80];
	snprintf(moved, sizeof(moved), "%s.1", path);
	declog_opts o = { .path = path, .flush_ms = 1 };
	declog *dl = declog_open(&o, err, sizeof(err));
	assert_int_equal(declog_append(dl, "{\"a\":1}", 7), 0);
	declog_stats st;
	for (int i = 0; i < 200; i++) {
		declog_get_stats(dl, &st);
		if (st.written_lines == 1)
			break;
		sleep_ms(5);
	}
	assert_int_equal(rename(path, moved), 0);
	declog_reopen(dl);
	assert_int_equal(declog_append(dl, "{\"a\":2}", 7), 0);
	assert_int_equal(declog_close(dl), 0);
	cJSON *a = read_lines(moved), *b = read_lines(path);
	assert_int_equal(cJSON_GetArraySize(a), 1);
	assert_int_equal(cJSON_GetArraySize(b), 1);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(b, 0),
					     "a")->valueint, 2);
	cJSON_Delete(a);
	cJSON_Delete(b);
	unlink(moved);
	unlink(path);

	declog_opts off = { .path = "" };
	dl = declog_open(&off, err, sizeof(err));
	assert_non_null(dl);
	assert_false(declog_is_enabled(dl));
	assert_int_equal(declog_append(dl, "{}", 2), 0);
	declog_entry e = { .request_id = "x" };
	assert_int_equal(declog_record(dl, &e), 0);
	assert_int_equal(declog_close(dl), 0);
	assert_false(declog_is_enabled(NULL));
	assert_int_equal(declog_append(NULL, "{}", 2), 0);
	assert_int_equal(declog_close(NULL), 0);
	declog_get_stats(NULL, &st);
	assert_int_equal(st.written_lines, 0);
}

static void test_oom(void **state)
{
	(void)state;
	set_path();
	char err[256];
	for (int n = 0; n < 12; n++) {
		declog_opts o = { .path = path, .redact = "a.b,c" };
		rk_alloc_fail_after(n);
		declog *dl = declog_open(&o, err, sizeof(err));
		rk_alloc_fail_after(-1);
		if (!dl) {
			assert_string_equal(err, "out of memory");
			continue;
		}
		cJSON *ev = cJSON_Parse("{\"a\": {\"b\": 1}, \"c\": [1]}");
		declog_entry e = { .request_id = "x", .event = ev };
		for (int k = 0; k < 8; k++) {
			rk_alloc_fail_after(k);
			int rc = declog_record(dl, &e);
			rk_alloc_fail_after(-1);
			assert_true(rc == 0 || rc == RK_ENOMEM);
		}
		cJSON_Delete(ev);
		assert_int_equal(declog_close(dl), 0);
	}
	unlink(path);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format_and_order),
		cmocka_unit_test(test_redaction),
		cmocka_unit_test(test_bad_redact),
		cmocka_unit_test(test_full_queue),
		cmocka_unit_test(test_flush_on_close),
		cmocka_unit_test(test_write_errors),
		cmocka_unit_test(test_reopen_and_disabled),
		cmocka_unit_test(test_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
