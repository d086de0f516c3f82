/*
 * test_config.c - unit tests of service/config.c: defaults, environment
 * and flags (flags win), size suffixes, listen and region parsing, every
 * refusal with the setting named, --help/--version, the JSON dump.
 * Neighbours: config_test.sh runs the same rules through the binary.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <cmocka.h>

#include "../../common/rk.h"
#include "../../service/config.h"

static const char *const vars[] = {
	"RISKD_LISTEN", "RISKD_DB", "RISKD_THREADS", "RISKD_MAX_BODY",
	"RISKD_QUEUE", "RISKD_DEADLINE_MS", "RISKD_MAX_DEADLINE_MS",
	"RISKD_REGIONS", "RISKD_REGION", "RISKD_LOG_LEVEL",
	"RISKD_HTTP_THREADS", "RISKD_RATE_LIMIT", "RISKD_RATE_BURST",
	"RISKD_INLINE",
};

static int clear_env(void **state)
{
	(void)state;
	for (size_t i = 0; i < RK_ARRAY_LEN(vars); i++)
		unsetenv(vars[i]);
	return 0;
}

static int load(svc_config *c, char *err, int argc, ...)
{
	char *argv[16] = { "riskd" };
	va_list ap;
	va_start(ap, argc);
	for (int i = 1; i <= argc; i++)
		argv[i] = va_arg(ap, char *);
	va_end(ap);
	FILE *out = fopen("/dev/null", "w");
	int rc = svc_config_load(c, argc + 1, argv, out, err, 256);
	fclose(out);
	return rc;
}

static void test_defaults(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	assert_int_equal(load(&c, err, 0), 0);
	assert_string_equal(c.listen, "127.0.0.1:8080");
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(c.listen_port, 8080);
	assert_string_equal(c.db, "./riskd.db");
	assert_true(c.threads >= 1);
	/* scores run on the HTTP threads: one per CPU */
	long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	assert_int_equal(c.inline_run, 1);
	assert_int_equal(c.http_threads, cpus < 1 ? 1 : cpus > 64 ? 64 : cpus);
	assert_int_equal(c.deadline_ms, 50);
	assert_int_equal(c.max_deadline_ms, 1000);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(c.queue, 1024);
	assert_int_equal(c.reload_ms, 1000);
	assert_string_equal(c.decision_log, "");
	assert_string_equal(c.log_level, "info");
	assert_int_equal(c.health_interval_ms, 250);
	assert_int_equal(c.health_timeout_ms, 100);
	assert_int_equal(c.fail_threshold, 3);
	assert_int_equal(c.recover_threshold, 5);
	assert_int_equal(c.failback_min_ms, 30000);
	assert_int_equal(c.nregions, 0);
}

static void test_env_and_flags(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	setenv("RISKD_THREADS", "3", 1);
	setenv("RISKD_QUEUE", "10", 1);
	setenv("RISKD_MAX_BODY", "1m", 1);
	assert_int_equal(load(&c, err, 3, "--queue", "20", "--db=/x.db"), 0);
	assert_int_equal(c.threads, 3);
	assert_int_equal(c.queue, 20);
	assert_int_equal(c.max_body, 1024 * 1024);
	assert_string_equal(c.db, "/x.db");
	assert_int_equal(load(&c, err, 1, "--max-body=64KiB"), 0);
	assert_int_equal(c.max_body, 65536);
	assert_int_equal(load(&c, err, 1, "--rate-limit=100"), 0);
	assert_int_equal(c.rate_burst, 100);
	/* without inline scoring the HTTP threads only poll: CPUs/4, 1..4 */
	setenv("RISKD_INLINE", "0", 1);
	assert_int_equal(load(&c, err, 0), 0);
	assert_int_equal(c.inline_run, 0);
	assert_true(c.http_threads >= 1 && c.http_threads <= 4);
	assert_int_equal(load(&c, err, 1, "--inline=2"), RK_EINVAL);
}

static void test_listen(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	assert_int_equal(load(&c, err, 2, "--listen", "[::1]:9000"), 0);
	assert_string_equal(c.listen_host, "::1");
	assert_int_equal(c.listen_port, 9000);
	assert_int_equal(load(&c, err, 2, "--listen", ":0"), 0);
	assert_string_equal(c.listen_host, "0.0.0.0");
	assert_int_equal(c.listen_port, 0);
	assert_int_equal(load(&c, err, 2, "--listen", "localhost:1"), 0);
	assert_string_equal(c.listen_host, "127.0.0.1");
	assert_int_equal(load(&c, err, 2, "--listen", "example.com:80"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "RISKD_LISTEN"));
	assert_int_equal(load(&c, err, 2, "--listen", "1.2.3.4"), RK_EINVAL);
	assert_int_equal(load(&c, err, 2, "--listen", "1.2.3.4:65536"),
			 RK_EINVAL);
}

static void test_regions(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	assert_int_equal(load(&c, err, 4, "--regions",
			      "a=redis-a:6379,b=10.0.0.2:6380", "--region",
			      "b"), 0);
	assert_int_equal(c.nregions, 2);
	assert_string_equal(c.regions[0].name, "a");
	assert_string_equal(c.regions[0].host, "redis-a");
	assert_int_equal(c.regions[0].port, 6379);
	assert_string_equal(c.regions[1].host, "10.0.0.2");
	assert_int_equal(c.regions[1].port, 6380);
	assert_string_equal(c.region, "b");
	assert_int_equal(load(&c, err, 2, "--regions", "a=h:1,a=h:2"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(load(&c, err, 2, "--regions", "a=h:1,"), RK_EINVAL);
	assert_int_equal(load(&c, err, 2, "--regions", "a=h"), RK_EINVAL);
	assert_int_equal(load(&c, err, 2, "--regions", "a=h:0"), RK_EINVAL);
	assert_int_equal(load(&c, err, 2, "--region", "a"), RK_EINVAL);
	assert_non_null(strstr(err, "RISKD_REGION"));
}

static void test_refusals(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	assert_int_equal(load(&c, err, 2, "--threads", "x"), RK_EINVAL);
	assert_string_equal(err, "--threads: 'x' is not an integer in "
				 "[0, 1024]");
	assert_int_equal(load(&c, err, 1, "--queue=0"), RK_EINVAL);
	assert_int_equal(load(&c, err, 1, "--max-body=12"), RK_EINVAL);
	assert_int_equal(load(&c, err, 1, "--max-body=1x"), RK_EINVAL);
	assert_int_equal(load(&c, err, 1, "--log-level=loud"), RK_EINVAL);
	assert_int_equal(load(&c, err, 2, "--deadline-ms", "2000"),
			 RK_EINVAL);
	assert_non_null(strstr(err, "RISKD_MAX_DEADLINE_MS"));
	assert_int_equal(load(&c, err, 1, "--nope"), RK_EINVAL);
	assert_string_equal(err, "unknown argument '--nope' (see riskd "
				 "--help)");
	assert_int_equal(load(&c, err, 1, "--db"), RK_EINVAL);
	assert_string_equal(err, "--db: missing value");
	assert_int_equal(load(&c, err, 1, "positional"), RK_EINVAL);
	setenv("RISKD_DEADLINE_MS", "-5", 1);
	assert_int_equal(load(&c, err, 0), RK_EINVAL);
	assert_string_equal(err, "RISKD_DEADLINE_MS: '-5' is not an integer "
				 "in [1, 600000]");
}

static void test_help_and_json(void **state)
{
	(void)state;
	svc_config c;
	char err[256];
	assert_int_equal(load(&c, err, 1, "--help"), 1);
	assert_int_equal(load(&c, err, 1, "--version"), 1);
	assert_int_equal(load(&c, err, 0), 0);
	cJSON *j = svc_config_to_json(&c);
	assert_non_null(j);
	assert_string_equal(cJSON_GetObjectItem(j, "RISKD_LISTEN")->valuestring,
			    "127.0.0.1:8080");
	assert_int_equal(cJSON_GetObjectItem(j, "RISKD_MAX_BODY")->valuedouble,
			 65536);
	assert_int_equal(cJSON_GetObjectItem(j, "RISKD_FAIL_THRESHOLD")
				 ->valuedouble, 3);
	cJSON_Delete(j);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup(test_defaults, clear_env),
		cmocka_unit_test_setup(test_env_and_flags, clear_env),
		cmocka_unit_test_setup(test_listen, clear_env),
		cmocka_unit_test_setup(test_regions, clear_env),
		cmocka_unit_test_setup(test_refusals, clear_env),
		cmocka_unit_test_setup(test_help_and_json, clear_env),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
