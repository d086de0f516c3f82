/*
 * test_ruleset.c - the rule-set file: defaults, every validation error
 * with its location, unknown keys, JSON syntax errors with line/column,
 * rule lines, canonical round trip, allocation failures.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "common/rk.h"
#include "rules/rules.h"

static rules_def *parse(const char *txt, rk_diags *d)
{
	rk_diags_init(d);
	return rules_def_parse(txt, strlen(txt), d);
}

/* Parses txt, expects failure with a diagnostic at where containing msg. */
static void bad(const char *txt, const char *where, const char *msg)
{
	rk_diags d;
	rules_def *def = parse(txt, &d);
	if (def)
		fail_msg("accepted: %s", txt);
	for (int i = 0; i < d.n; i++)
		if ((!where ? !d.v[i].where : d.v[i].where &&
		     !strcmp(d.v[i].where, where)) && strstr(d.v[i].msg, msg)) {
			rk_diags_cleanup(&d);
			return;
		}
	char buf[256];
	if (d.n)
		rk_diag_format(&d.v[0], NULL, buf, sizeof(buf));
	fail_msg("%s: no '%s' at %s (first: %s)", txt, msg, where ? where : "-",
		 d.n ? buf : "none");
}

#define R1 "\"rules\": [{\"id\": \"a\", \"when\": \"true\"}]"

static void test_minimal_and_defaults(void **st)
{
	rk_diags d;
	rules_def *def = parse("{\"scenario\": \"payments\", " R1 "}", &d);
	assert_non_null(def);
	assert_string_equal(def->scenario, "payments");
	assert_int_equal(def->max_score, 100);
	assert_int_equal(def->th_review, 50);
	assert_int_equal(def->th_decline, 80);
	assert_int_equal(def->nrules, 1);
	assert_int_equal(def->rules[0].score, 0);
	assert_int_equal(def->rules[0].mode, RULES_MODE_ACTIVE);
	assert_int_equal(def->rules[0].action, RULES_ACT_NONE);
	assert_int_equal(def->rules[0].line, 1);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

static const char *full =
	"{\n"
	"  \"scenario\": \"payments\",\n"
	"  \"description\": \"Card payments\",\n"
	"  \"max_score\": 100,\n"
	"  \"thresholds\": {\"review\": 50, \"decline\": 80},\n"
	"  \"features\": [\n"
	"    {\"name\": \"card\", \"key\": \"{card.id}\", \"ttl_ms\": 60000},\n"
	"    {\"name\": \"user\", \"key\": \"{user.id}\"}\n"
	"  ],\n"
	"  \"velocity\": [\n"
	"    {\"name\": \"card_txn_1h\", \"entity\": \"card.id\", \"window\": \"1h\", \"agg\": \"count\"},\n"
	"    {\"name\": \"card_amount_24h\", \"entity\": \"card.id\", \"window\": \"24h\", \"agg\": \"sum\", \"field\": \"amount\"},\n"
	"    {\"name\": \"ip_cards_1d\", \"entity\": \"ip\", \"window\": \"1d\", \"agg\": \"distinct\", \"field\": \"card.id\"}\n"
	"  ],\n"
	"  \"lists\": {\"blocked_ips\": [\"203.0.113.7\"], \"high_risk_countries\": [\"KP\", \"IR\"]},\n"
	"  \"rules\": [\n"
	"    {\"id\": \"blocked_ip\", \"when\": \"ip in @blocked_ips\", \"action\": \"decline\", \"reason\": \"IP on block list\"},\n"
	"    {\"id\": \"high_amount\", \"when\": \"amount > 1000\", \"score\": 30, \"reason\": \"High amount\", \"tags\": [\"amount\"]},\n"
	"    {\"id\": \"new_account\", \"when\": \"user.age_days < 7 and amount > 500\", \"score\": 25},\n"
	"    {\"id\": \"card_velocity\", \"when\": \"velocity.card_txn_1h >= 5\", \"score\": 40},\n"
	"    {\"id\": \"geo_mismatch\", \"when\": \"ip_country != card.country\", \"score\": 10, \"mode\": \"shadow\"}\n"
	"  ]\n"
	"}\n";

static void test_full_example(void **st)
{
	rk_diags d;
	rules_def *def = parse(full, &d);
	assert_non_null(def);
	assert_string_equal(def->description, "Card payments");
	assert_int_equal(def->nfeatures, 2);
	assert_int_equal(def->features[0].ttl_ms, 60000);
	assert_int_equal(def->nvelocity, 3);
	assert_int_equal(def->velocity[0].window_ms, 3600000);
	assert_int_equal(def->velocity[1].agg, RULES_AGG_SUM);
	assert_string_equal(def->velocity[2].field, "card.id");
	assert_int_equal(def->nlists, 2);
	assert_int_equal(def->lists[1].nitems, 2);
	assert_int_equal(def->nrules, 5);
	assert_int_equal(def->rules[0].action, RULES_ACT_DECLINE);
	assert_int_equal(def->rules[1].ntags, 1);
	assert_int_equal(def->rules[4].mode, RULES_MODE_SHADOW);
	/* Each rule's line in the file. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(def->rules[i].line, 17 + i);
	/* The example compiles against its own lists. */
	rules_set *s = rules_compile(def, NULL, &d);
	assert_non_null(s);
	rules_set_free(s);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

static void test_round_trip(void **st)
{
	rk_diags d;
	rules_def *def = parse(full, &d);
	char *a = rules_def_to_text(def, true);
	rules_def *again = parse(a, &d);
	assert_non_null(again);
	char *b = rules_def_to_text(again, true);
	assert_string_equal(a, b);
	char *c = rules_def_to_text(again, false);
	assert_null(strchr(c, '\n'));
	assert_non_null(strstr(c, "\"rules\":[{\"id\":\"blocked_ip\",\"reason\":"));
	rk_free(a);
	rk_free(b);
	rk_free(c);
	rules_def_free(def);
	rules_def_free(again);
	rk_diags_cleanup(&d);
}

static void test_errors(void **st)
{
	bad("{\"scenario\": 1, " R1 "}", "scenario", "must be a string");
	bad("{" R1 "}", "scenario", "is required");
	bad("{\"scenario\": \"Pay ments\", " R1 "}", "scenario", "not a scenario name");
	bad("{\"scenario\": \"p\"}", "rules", "is required");
	bad("{\"scenario\": \"p\", \"rules\": []}", "rules", "non-empty array");
	bad("{\"scenario\": \"p\", \"scroe\": 1, " R1 "}", "scroe", "unknown field");
	bad("{\"scenario\": \"p\", \"max_score\": 2.5, " R1 "}", "max_score", "integer");
	bad("{\"scenario\": \"p\", \"max_score\": 0, " R1 "}", "max_score", "between");
	bad("{\"scenario\": \"p\", \"thresholds\": {\"review\": 90, \"decline\": 80}, " R1 "}",
	    "thresholds.review", "not be above");
	bad("{\"scenario\": \"p\", \"thresholds\": {\"decline\": 180}, " R1 "}",
	    "thresholds.decline", "max_score");
	bad("{\"scenario\": \"p\", \"thresholds\": {\"revue\": 1}, " R1 "}",
	    "thresholds.revue", "unknown field");
	bad("{\"scenario\": \"p\", \"features\": [{\"name\": \"c\"}], " R1 "}",
	    "features[0].key", "is required");
	bad("{\"scenario\": \"p\", \"features\": [{\"name\": \"c\", \"key\": \"x\"}], " R1 "}",
	    "features[0].key", "placeholder");
	bad("{\"scenario\": \"p\", \"features\": [{\"name\": \"c\", \"key\": \"{a}\"}, "
	    "{\"name\": \"c\", \"key\": \"{b}\"}], " R1 "}", "features[1].name", "duplicate");
	bad("{\"scenario\": \"p\", \"velocity\": [{\"name\": \"v\", \"entity\": \"a\", "
	    "\"window\": \"30s\", \"agg\": \"count\"}], " R1 "}", "velocity[0].window", "1m to 30d");
	bad("{\"scenario\": \"p\", \"velocity\": [{\"name\": \"v\", \"entity\": \"a\", "
	    "\"window\": \"31d\", \"agg\": \"count\"}], " R1 "}", "velocity[0].window", "1m to 30d");
	bad("{\"scenario\": \"p\", \"velocity\": [{\"name\": \"v\", \"entity\": \"a\", "
	    "\"window\": \"1h\", \"agg\": \"sum\"}], " R1 "}", "velocity[0].agg", "needs a field");
	bad("{\"scenario\": \"p\", \"velocity\": [{\"name\": \"v\", \"entity\": \"a\", "
	    "\"window\": \"1h\", \"agg\": \"count\", \"field\": \"x\"}], " R1 "}",
	    "velocity[0].agg", "no field");
	bad("{\"scenario\": \"p\", \"velocity\": [{\"name\": \"v\", \"entity\": \"a\", "
	    "\"window\": \"1h\", \"agg\": \"avg\"}], " R1 "}", "velocity[0].agg", "count, sum");
	bad("{\"scenario\": \"p\", \"lists\": {\"l\": [1]}, " R1 "}", "lists.l[0]", "string");
	bad("{\"scenario\": \"p\", \"lists\": {\"l\": \"x\"}, " R1 "}", "lists.l", "array");
	bad("{\"scenario\": \"p\", \"rules\": [{\"when\": \"true\"}]}", "rules[0].id", "is required");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"A\", \"when\": \"true\"}]}",
	    "rules[0].id", "not a rule id");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\"}, "
	    "{\"id\": \"a\", \"when\": \"true\"}]}", "rules[1].id", "duplicate rule id");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\"}]}", "rules[0].when", "is required");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\", "
	    "\"score\": 1.5}]}", "rules[0].score", "integer");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\", "
	    "\"action\": \"block\"}]}", "rules[0].action", "approve, review");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\", "
	    "\"mode\": \"off\"}]}", "rules[0].mode", "active, shadow");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\", "
	    "\"tags\": [1]}]}", "rules[0].tags", "strings");
	bad("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", \"when\": \"true\", "
	    "\"scroe\": 1}]}", "rules[0].scroe", "unknown field");
	bad("[1]", NULL, "must be a JSON object");
}

static void test_json_syntax(void **st)
{
	rk_diags d;
	const char *txt = "{\n  \"scenario\": \"p\",\n  \"rules\": [,]\n}";
	assert_null(parse(txt, &d));
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[0].col, 13);
	assert_non_null(strstr(d.v[0].msg, "invalid JSON at byte 33"));
	rk_diags_cleanup(&d);
	assert_null(parse("{\"scenario\": \"p\", " R1 "} x", &d));
	assert_non_null(strstr(d.v[0].msg, "text after"));
	rk_diags_cleanup(&d);
}

/* All errors of a file are reported, not just the first. */
static void test_many_errors(void **st)
{
	rk_diags d;
	assert_null(parse("{\"scenario\": 1, \"max_score\": -1, \"rules\": "
			  "[{\"id\": \"A\"}, {\"id\": \"b\", \"when\": 3}]}", &d));
	assert_true(d.n >= 5);
	rk_diags_cleanup(&d);
}

static void test_alloc_failures(void **st)
{
	bool done = false;
	for (long n = 0; n < 5000 && !done; n++) {
		rk_diags d;
		rk_diags_init(&d);
		rk_alloc_fail_after(n);
		rules_def *def = rules_def_parse(full, strlen(full), &d);
		char *txt = def ? rules_def_to_text(def, false) : NULL;
		rk_alloc_fail_after(-1);
		done = txt != NULL;
		rk_free(txt);
		rules_def_free(def);
		rk_diags_cleanup(&d);
	}
	assert_true(done);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_many_errors),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
