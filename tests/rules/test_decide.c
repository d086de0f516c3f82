/*
 * test_decide.c - the decision semantics of SPEC §2: score sum and clamp,
 * bands, approve allow-list, most severe action, decided_by, shadow and
 * disabled rules, reasons in rule-set order, and the JSON rendering.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "rt.h"

typedef struct spec {
	const char *when;
	int score;
	int action;
	int mode;
} spec;

/* Evaluates rules against {} and returns the result's JSON text. */
static char *decide_json(const spec *sp, int n, int max, int rev, int dec)
{
	const char *w[16];
	for (int i = 0; i < n; i++)
		w[i] = sp[i].when;
	rules_def *d = rt_def(w, n);
	d->max_score = max;
	d->th_review = rev;
	d->th_decline = dec;
	for (int i = 0; i < n; i++) {
		d->rules[i].score = sp[i].score;
		d->rules[i].action = sp[i].action;
		d->rules[i].mode = sp[i].mode;
	}
	rk_diags dg;
	rk_diags_init(&dg);
	rules_set *s = rules_compile(d, NULL, &dg);
	assert_non_null(s);
	rules_frame *f = rules_frame_new(s);
	cJSON *ev = cJSON_Parse("{}");
	rules_input in = {ev, NULL, NULL, false};
	rules_result r;
	assert_int_equal(rules_eval(s, f, &in, &r), 0);
	cJSON *o = cJSON_CreateObject();
	assert_int_equal(rules_result_to_json(s, &r, o), 0);
	char *txt = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	cJSON_Delete(ev);
	rules_frame_free(f);
	rules_set_free(s);
	rk_diags_cleanup(&dg);
	rt_def_free(d);
	return txt;
}

static void expect(const spec *sp, int n, int max, int rev, int dec,
		   const char *want)
{
	char *got = decide_json(sp, n, max, rev, dec);
	if (strcmp(got, want))
		fail_msg("got  %s\nwant %s", got, want);
	cJSON_free(got);
}

#define A RULES_MODE_ACTIVE
#define S RULES_MODE_SHADOW
#define D RULES_MODE_DISABLED

static void test_score_bands(void **st)
{
	spec a[] = {{"true", 30, 0, A}, {"false", 50, 0, A}, {"true", 25, 0, A}};
	expect(a, 3, 100, 50, 80,
	       "{\"decision\":\"review\",\"score\":55,\"decided_by\":\"score\","
	       "\"reasons\":[{\"rule\":\"r0\",\"score\":30},{\"rule\":\"r2\","
	       "\"score\":25}],\"shadow\":[]}");
	spec b[] = {{"true", 60, 0, A}, {"true", 70, 0, A}};
	expect(b, 2, 100, 50, 80,
	       "{\"decision\":\"decline\",\"score\":100,\"decided_by\":\"score\","
	       "\"reasons\":[{\"rule\":\"r0\",\"score\":60},{\"rule\":\"r1\","
	       "\"score\":70}],\"shadow\":[]}");
	spec c[] = {{"true", -20, 0, A}, {"true", 5, 0, A}};
	expect(c, 2, 100, 50, 80,
	       "{\"decision\":\"approve\",\"score\":0,\"decided_by\":\"score\","
	       "\"reasons\":[{\"rule\":\"r0\",\"score\":-20},{\"rule\":\"r1\","
	       "\"score\":5}],\"shadow\":[]}");
	/* Exactly on a threshold is in the band. */
	spec e[] = {{"true", 80, 0, A}};
	expect(e, 1, 100, 50, 80,
	       "{\"decision\":\"decline\",\"score\":80,\"decided_by\":\"score\","
	       "\"reasons\":[{\"rule\":\"r0\",\"score\":80}],\"shadow\":[]}");
}

static void test_actions(void **st)
{
	/* Most severe of band (review) and actions (decline). */
	spec a[] = {{"true", 60, 0, A}, {"true", 0, RULES_ACT_REVIEW, A},
		    {"true", 0, RULES_ACT_DECLINE, A},
		    {"true", 0, RULES_ACT_DECLINE, A}};
	char *got = decide_json(a, 4, 100, 50, 80);
	assert_non_null(strstr(got, "\"decision\":\"decline\""));
	assert_non_null(strstr(got, "\"decided_by\":\"rule:r2\""));
	cJSON_free(got);
	/* Band beats a milder action: decided by score. */
	spec b[] = {{"true", 90, 0, A}, {"true", 0, RULES_ACT_REVIEW, A}};
	got = decide_json(b, 2, 100, 50, 80);
	assert_non_null(strstr(got, "\"decision\":\"decline\",\"score\":90,"
				    "\"decided_by\":\"score\""));
	cJSON_free(got);
	/* An action equal to the band names the rule. */
	spec c[] = {{"true", 55, 0, A}, {"true", 0, RULES_ACT_REVIEW, A}};
	got = decide_json(c, 2, 100, 50, 80);
	assert_non_null(strstr(got, "\"decided_by\":\"rule:r1\""));
	cJSON_free(got);
	/* approve is an allow-list: it beats decline and any score. */
	spec d[] = {{"true", 100, RULES_ACT_DECLINE, A},
		    {"true", 0, RULES_ACT_APPROVE, A},
		    {"true", 0, RULES_ACT_APPROVE, A}};
	got = decide_json(d, 3, 100, 50, 80);
	assert_non_null(strstr(got, "\"decision\":\"approve\",\"score\":100,"
				    "\"decided_by\":\"rule:r1\""));
	cJSON_free(got);
}

static void test_shadow_disabled(void **st)
{
	spec a[] = {{"true", 90, RULES_ACT_DECLINE, S},
		    {"true", 10, 0, A},
		    {"true", 90, RULES_ACT_APPROVE, S},
		    {"s > 5", 90, 0, D}};
	expect(a, 4, 100, 50, 80,
	       "{\"decision\":\"approve\",\"score\":10,\"decided_by\":\"score\","
	       "\"reasons\":[{\"rule\":\"r1\",\"score\":10}],\"shadow\":[{"
	       "\"rule\":\"r0\",\"score\":90,\"action\":\"decline\"},{\"rule\":"
	       "\"r2\",\"score\":90,\"action\":\"approve\"}]}");
}

static void test_max_score(void **st)
{
	spec a[] = {{"true", 30, 0, A}, {"true", 30, 0, A}};
	char *got = decide_json(a, 2, 40, 20, 35);
	assert_non_null(strstr(got, "\"decision\":\"decline\",\"score\":40"));
	cJSON_free(got);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_score_bands),
		cmocka_unit_test(test_actions),
		cmocka_unit_test(test_shadow_disabled),
		cmocka_unit_test(test_max_score),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
