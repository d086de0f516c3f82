/*
 * test_diag.c - diagnostics: collection, the printed format users see
 * ("FILE: rule 'ID' line L col C: MESSAGE"), the cap, allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/diag.h"
#include "common/rk.h"

static void test_format(void **st)
{
	rk_diags d;
	rk_diags_init(&d);
	rk_diags_add(&d, "high_amount", 2, 7, "unknown function '%s'", "foo");
	rk_diags_add_field(&d, "rules[3].score", 0, 0, "must be an integer");
	rk_diags_add(&d, NULL, 0, 0, "plain");
	rk_diags_add_field(&d, "scenario", 4, 1, "is required");
	char buf[256];
	rk_diag_format(&d.v[0], "r.json", buf, sizeof(buf));
	assert_string_equal(buf, "r.json: rule 'high_amount' line 2 col 7: "
				 "unknown function 'foo'");
	rk_diag_format(&d.v[1], "r.json", buf, sizeof(buf));
	assert_string_equal(buf, "r.json: rules[3].score: must be an integer");
	rk_diag_format(&d.v[2], NULL, buf, sizeof(buf));
	assert_string_equal(buf, "plain");
	char *out = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&out, &len);
	rk_diags_print(&d, "r.json", f);
	fclose(f);
	assert_non_null(strstr(out, "r.json: scenario line 4 col 1: is required"));
	free(out);
	rk_diags_cleanup(&d);
	assert_int_equal(d.n, 0);
}

static void test_cap_and_oom(void **st)
{
	rk_diags d;
	rk_diags_init(&d);
	for (int i = 0; i < 500; i++)
		rk_diags_add(&d, "r", 1, 1, "e%d", i);
	assert_int_equal(d.n, 100);
	rk_diags_cleanup(&d);
	rk_diags_init(&d);
	rk_alloc_fail_after(0);
	rk_diags_add(&d, "r", 1, 1, "x");
	rk_alloc_fail_after(-1);
	assert_int_equal(d.n, 0);
	assert_true(d.oom);
	rk_diags_cleanup(&d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_cap_and_oom),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
