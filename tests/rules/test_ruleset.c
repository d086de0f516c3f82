/*
 * test_ruleset.c - the rule-set file (rules/ruleset.c): defaults, every
 * validation error with its exact location and message, unknown and
 * duplicate keys, JSON syntax errors with byte offset, line and column,
 * element lines, the canonical export and its round trip, allocation
 * failures at every step. Data files: tests/rules/data/ (run from the
 * repository root, as tests/run.sh does).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "common/rk.h"
#include "rules/rules.h"

#define DATA "tests/rules/data/"

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f)
		fail_msg("%s: cannot open (run from the repository root)",
			 path);
	static char buf[1 << 16];
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = 0;
	char *s = rk_strdup(buf);
	assert_non_null(s);
	return s;
}

static rules_def *parse(const char *txt, rk_diags *d)
{
	rk_diags_init(d);
	return rules_def_parse(txt, strlen(txt), d);
}

/*
 * Parses txt and expects it refused with exactly one diagnostic, at
 * `where` (NULL for none) with message msg.
 */
static void bad_at(int line, const char *txt, const char *where,
		   const char *msg)
{
	rk_diags d;
	rules_def *def = parse(txt, &d);
	if (def)
		fail_msg("line %d: accepted: %s", line, txt);
	if (d.n != 1) {
		for (int i = 0; i < d.n; i++)
			print_error("  %s: %s\n", d.v[i].where, d.v[i].msg);
		fail_msg("line %d: %d diagnostics for %s", line, d.n, txt);
	}
	if (where ? !d.v[0].where || strcmp(d.v[0].where, where) :
		    d.v[0].where != NULL)
		fail_msg("line %d: where '%s', want '%s'", line, d.v[0].where,
			 where);
	if (strcmp(d.v[0].msg, msg))
		fail_msg("line %d: message '%s', want '%s'", line, d.v[0].msg,
			 msg);
	rk_diags_cleanup(&d);
}

#define bad(txt, where, msg) bad_at(__LINE__, txt, where, msg)

static void good_at(int line, const char *txt)
{
	rk_diags d;
	rules_def *def = parse(txt, &d);
	if (!def)
		fail_msg("line %d: refused (%s: %s): %s", line,
			 d.n ? d.v[0].where : "", d.n ? d.v[0].msg : "", txt);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

#define good(txt) good_at(__LINE__, txt)

#define S "\"scenario\": \"p\", "
#define R1 "\"rules\": [{\"id\": \"a\", \"when\": \"true\"}]"
/* A file with one rule whose extra fields are x. */
#define RULE(x) "{" S "\"rules\": [{\"id\": \"a\", \"when\": \"true\", " x "}]}"
#define FEAT(x) "{" S "\"features\": [" x "], " R1 "}"
#define VEL(x) "{" S "\"velocity\": [" x "], " R1 "}"

static void test_names(void **st)
{
	assert_null(rules_action_name(RULES_ACT_NONE));
	assert_string_equal(rules_action_name(RULES_ACT_APPROVE), "approve");
	assert_string_equal(rules_action_name(RULES_ACT_REVIEW), "review");
	assert_string_equal(rules_action_name(RULES_ACT_DECLINE), "decline");
	assert_null(rules_action_name(4));
	assert_null(rules_action_name(-1));
	assert_string_equal(rules_mode_name(RULES_MODE_ACTIVE), "active");
	assert_string_equal(rules_mode_name(RULES_MODE_SHADOW), "shadow");
	assert_string_equal(rules_mode_name(RULES_MODE_DISABLED), "disabled");
	assert_null(rules_mode_name(3));
	assert_string_equal(rules_agg_name(RULES_AGG_COUNT), "count");
	assert_string_equal(rules_agg_name(RULES_AGG_SUM), "sum");
	assert_string_equal(rules_agg_name(RULES_AGG_DISTINCT), "distinct");
	assert_null(rules_agg_name(-1));
}

static void test_minimal_and_defaults(void **st)
{
	rk_diags d;
	rules_def *def = parse("{\"scenario\": \"payments\", " R1 "}", &d);
	assert_non_null(def);
	assert_int_equal(d.n, 0);
	assert_string_equal(def->scenario, "payments");
	assert_null(def->description);
	assert_int_equal(def->max_score, 100);
	assert_int_equal(def->th_review, 50);
	assert_int_equal(def->th_decline, 80);
	assert_int_equal(def->nfeatures, 0);
	assert_int_equal(def->nvelocity, 0);
	assert_int_equal(def->nlists, 0);
	assert_int_equal(def->nrules, 1);
	const rules_rule_def *r = &def->rules[0];
	assert_string_equal(r->id, "a");
	assert_string_equal(r->when, "true");
	assert_null(r->name);
	assert_null(r->reason);
	assert_int_equal(r->score, 0);
	assert_int_equal(r->mode, RULES_MODE_ACTIVE);
	assert_int_equal(r->action, RULES_ACT_NONE);
	assert_int_equal(r->ntags, 0);
	assert_int_equal(r->line, 1);
	rules_def_free(def);
	rules_def_free(NULL);
	rk_diags_cleanup(&d);
	/* Thresholds default one by one; null is the same as absent. */
	def = parse("{" S "\"max_score\": 200, \"thresholds\": {\"decline\": "
		    "150, \"review\": null}, \"description\": null, "
		    "\"features\": null, \"rules\": [{\"id\": \"a\", \"when\": "
		    "\"true\", \"score\": null, \"tags\": null}]}", &d);
	assert_non_null(def);
	assert_int_equal(def->max_score, 200);
	assert_int_equal(def->th_review, 50);
	assert_int_equal(def->th_decline, 150);
	assert_null(def->description);
	assert_int_equal(def->rules[0].score, 0);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

static void test_full_example(void **st)
{
	rk_diags d;
	char *txt = slurp(DATA "payments.json");
	rules_def *def = parse(txt, &d);
	assert_non_null(def);
	assert_string_equal(def->description, "Card payments");
	assert_int_equal(def->nfeatures, 2);
	assert_string_equal(def->features[0].name, "card");
	assert_string_equal(def->features[0].key, "{card.id}");
	assert_int_equal(def->features[0].ttl_ms, 60000);
	assert_int_equal(def->features[1].ttl_ms, 0);
	assert_int_equal(def->nvelocity, 3);
	assert_string_equal(def->velocity[0].entity, "card.id");
	assert_string_equal(def->velocity[0].window, "1h");
	assert_int_equal(def->velocity[0].window_ms, 3600000);
	assert_int_equal(def->velocity[0].agg, RULES_AGG_COUNT);
	assert_null(def->velocity[0].field);
	assert_int_equal(def->velocity[1].window_ms, 86400000);
	assert_int_equal(def->velocity[1].agg, RULES_AGG_SUM);
	assert_string_equal(def->velocity[1].field, "amount");
	assert_int_equal(def->velocity[2].agg, RULES_AGG_DISTINCT);
	assert_string_equal(def->velocity[2].field, "card.id");
	assert_int_equal(def->nlists, 2);
	assert_string_equal(def->lists[0].name, "blocked_ips");
	assert_int_equal(def->lists[0].nitems, 1);
	assert_string_equal(def->lists[1].name, "high_risk_countries");
	assert_int_equal(def->lists[1].nitems, 2);
	assert_string_equal(def->lists[1].items[1], "IR");
	assert_int_equal(def->nrules, 6);
	assert_int_equal(def->rules[0].action, RULES_ACT_DECLINE);
	assert_string_equal(def->rules[0].reason, "IP on block list");
	assert_int_equal(def->rules[1].score, 30);
	assert_int_equal(def->rules[4].mode, RULES_MODE_SHADOW);
	const rules_rule_def *v = &def->rules[5];
	assert_string_equal(v->id, "vip_allow");
	assert_string_equal(v->name, "VIP allow-list");
	assert_int_equal(v->score, -20);
	assert_int_equal(v->action, RULES_ACT_APPROVE);
	assert_int_equal(v->mode, RULES_MODE_ACTIVE);
	assert_int_equal(v->ntags, 2);
	assert_string_equal(v->tags[1], "vip");
	/* Each rule's line in the file (the multi-line one starts at 22). */
	static const int lines[] = {17, 18, 19, 20, 21, 22};
	for (int i = 0; i < 6; i++)
		assert_int_equal(def->rules[i].line, lines[i]);
	/* The example compiles against its own lists. */
	rules_set *s = rules_compile(def, NULL, &d);
	assert_non_null(s);
	rules_set_free(s);
	rules_def_free(def);
	rk_free(txt);
	rk_diags_cleanup(&d);
}

/* The export of payments.json is the checked-in canonical file. */
static void test_canonical(void **st)
{
	rk_diags d;
	char *txt = slurp(DATA "payments.json");
	char *want = slurp(DATA "payments.canonical.json");
	rules_def *def = parse(txt, &d);
	assert_non_null(def);
	char *a = rules_def_to_text(def, true);
	assert_non_null(a);
	size_t n = strlen(a);
	assert_int_equal(strlen(want), n + 1);   /* the file ends in \n */
	assert_memory_equal(a, want, n);
	/* The canonical file parses to the same canonical text. */
	rules_def *again = parse(want, &d);
	assert_non_null(again);
	char *b = rules_def_to_text(again, true);
	assert_string_equal(a, b);
	/* Unformatted: one line, same key order, defaults left out. */
	char *c = rules_def_to_text(again, false);
	assert_null(strchr(c, '\n'));
	assert_non_null(strstr(c, "{\"scenario\":\"payments\",\"description\":"
				  "\"Card payments\",\"max_score\":100,"
				  "\"thresholds\":{\"review\":50,"
				  "\"decline\":80},\"features\":[{\"name\":"
				  "\"card\",\"key\":\"{card.id}\",\"ttl_ms\":"
				  "60000},{\"name\":\"user\",\"key\":"
				  "\"{user.id}\"}],\"velocity\":[{"));
	assert_non_null(strstr(c, "{\"id\":\"vip_allow\",\"name\":\"VIP "
				  "allow-list\",\"reason\":\"Known good "
				  "customer\",\"when\":\"user.id in ['u1', "
				  "'u2']\",\"score\":-20,\"action\":"
				  "\"approve\",\"tags\":[\"allow\","
				  "\"vip\"]}]}"));
	assert_non_null(strstr(c, "{\"id\":\"new_account\",\"when\":"
				  "\"user.age_days < 7 and amount > 500\","
				  "\"score\":25},"));
	rk_free(a);
	rk_free(b);
	rk_free(c);
	rk_free(txt);
	rk_free(want);
	rules_def_free(def);
	rules_def_free(again);
	rk_diags_cleanup(&d);
	assert_null(rules_def_to_json(NULL));
	assert_null(rules_def_to_text(NULL, true));
}

/* parse(to_text(def)) gives the same to_text, for many shapes. */
static void test_round_trip(void **st)
{
	static const char *const files[] = {
		"{\"scenario\": \"p\", " R1 "}",
		"{\"rules\": [{\"tags\": [], \"mode\": \"disabled\", "
		"\"score\": -1000000000, \"when\": \"a\", \"id\": \"z.9-_\"}, "
		"{\"id\": \"b\", \"when\": \"\\u00e9t\\u00e9 \\\"x\\\"\", "
		"\"mode\": \"active\", "
		"\"score\": 0, \"name\": \"\", \"action\": \"review\"}], "
		"\"lists\": {\"e\": [], \"d\": [\"x\", \"x\"]}, \"scenario\": "
		"\"p\", \"thresholds\": {\"decline\": 7, \"review\": 7}, "
		"\"max_score\": 7, \"features\": [], \"velocity\": [{\"name\": "
		"\"v\", \"agg\": \"distinct\", \"field\": \"items[0]['sku']\", "
		"\"window\": \"90s\", \"entity\": \"user.id\"}]}",
	};
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		for (int pretty = 0; pretty < 2; pretty++) {
			rk_diags d;
			rules_def *def = parse(files[i], &d);
			assert_non_null(def);
			char *a = rules_def_to_text(def, pretty);
			rules_def *again = parse(a, &d);
			assert_non_null(again);
			char *b = rules_def_to_text(again, pretty);
			assert_string_equal(a, b);
			rk_free(a);
			rk_free(b);
			rules_def_free(def);
			rules_def_free(again);
			rk_diags_cleanup(&d);
		}
	}
	/* What the second file's export looks like. */
	rk_diags d;
	rules_def *def = parse(files[1], &d);
	char *t = rules_def_to_text(def, false);
	assert_string_equal(t,
		"{\"scenario\":\"p\",\"max_score\":7,\"thresholds\":{"
		"\"review\":7,"
		"\"decline\":7},\"velocity\":[{\"name\":\"v\",\"entity\":"
		"\"user.id\",\"window\":\"90s\",\"agg\":\"distinct\",\"field\":"
		"\"items[0]['sku']\"}],\"lists\":{\"e\":[],\"d\":[\"x\","
		"\"x\"]},\"rules\":[{\"id\":\"z.9-_\",\"when\":\"a\","
		"\"score\":-1000000000,"
		"\"mode\":\"disabled\"},{\"id\":\"b\",\"name\":\"\",\"when\":"
		"\"\xc3\xa9t\xc3\xa9 \\\"x\\\"\",\"action\":\"review\"}]}");
	assert_int_equal(def->velocity[0].window_ms, 90000);
	rk_free(t);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

static void test_errors_top(void **st)
{
	bad("[1]", NULL, "a rule set must be a JSON object");
	bad("{" R1 "}", "scenario", "is required");
	bad("{\"scenario\": null, " R1 "}", "scenario", "is required");
	bad("{\"scenario\": 1, " R1 "}", "scenario", "must be a string");
	bad("{\"scenario\": \"Pay ments\", " R1 "}", "scenario",
	    "'Pay ments' is not a scenario name ([a-z0-9_.-]{1,64})");
	bad("{\"scenario\": \"\", " R1 "}", "scenario",
	    "'' is not a scenario name ([a-z0-9_.-]{1,64})");
	good("{\"scenario\": \"a234567890123456789012345678901234567890"
	     "123456789012345678901234\", " R1 "}");
	bad("{\"scenario\": \"a234567890123456789012345678901234567890"
	    "1234567890123456789012345\", " R1 "}", "scenario",
	    "'a2345678901234567890123456789012345678901234567890123456789"
	    "012345' is not a scenario name ([a-z0-9_.-]{1,64})");
	bad("{" S "\"description\": 5, " R1 "}", "description",
	    "must be a string");
	bad("{" S "\"scroe\": 1, " R1 "}", "scroe", "unknown field");
	bad("{" S "\"ruels\": [], " R1 "}", "ruels",
	    "unknown field (did you mean 'rules'?)");
	bad("{" S "\"Scenario\": \"p\", " R1 "}", "Scenario",
	    "unknown field (did you mean 'scenario'?)");
	bad("{" S "\"scenario\": \"q\", " R1 "}", "scenario",
	    "duplicate field");
	bad("{\"scenario\": \"p\"}", "rules", "is required");
	bad("{" S "\"rules\": []}", "rules", "must be a non-empty array");
	bad("{" S "\"rules\": {}}", "rules", "must be a non-empty array");
	bad("{" S "\"max_score\": 2.5, " R1 "}", "max_score",
	    "must be an integer");
	bad("{" S "\"max_score\": \"100\", " R1 "}", "max_score",
	    "must be an integer");
	bad("{" S "\"max_score\": 0, " R1 "}", "max_score",
	    "must be between 1 and 1000000000");
	bad("{" S "\"max_score\": 1e10, " R1 "}", "max_score",
	    "must be between 1 and 1000000000");
	bad("{" S "\"thresholds\": [50, 80], " R1 "}", "thresholds",
	    "must be an object {review, decline}");
	bad("{" S "\"thresholds\": {\"review\": 90, \"decline\": 80}, " R1 "}",
	    "thresholds.review",
	    "90 must not be above thresholds.decline (80)");
	bad("{" S "\"thresholds\": {\"decline\": 180}, " R1 "}",
	    "thresholds.decline", "180 must not be above max_score (100)");
	bad("{" S "\"max_score\": 60, " R1 "}", "thresholds.decline",
	    "80 must not be above max_score (60)");
	bad("{" S "\"thresholds\": {\"review\": -1}, " R1 "}",
	    "thresholds.review", "must be between 0 and 1000000000");
	bad("{" S "\"thresholds\": {\"review\": 1.5}, " R1 "}",
	    "thresholds.review", "must be an integer");
	bad("{" S "\"thresholds\": {\"revue\": 1}, " R1 "}",
	    "thresholds.revue", "unknown field (did you mean 'review'?)");
	/* Boundaries that are fine. */
	good("{" S "\"thresholds\": {\"review\": 0, \"decline\": 0}, " R1 "}");
	good("{" S "\"max_score\": 1, \"thresholds\": {\"review\": 1, "
	     "\"decline\": 1}, " R1 "}");
	good("{" S "\"max_score\": 1e2, " R1 "}");
}

static void test_errors_features(void **st)
{
	bad("{" S "\"features\": {}, " R1 "}", "features", "must be an array");
	bad(FEAT("1"), "features[0]", "must be an object");
	bad(FEAT("{\"name\": \"c\"}"), "features[0].key", "is required");
	bad(FEAT("{\"key\": \"{a}\"}"), "features[0].name", "is required");
	bad(FEAT("{\"name\": \"c\", \"key\": \"{a}\", \"ttl\": 1}"),
	    "features[0].ttl", "unknown field (did you mean 'ttl_ms'?)");
	bad(FEAT("{\"name\": \"1c\", \"key\": \"{a}\"}"), "features[0].name",
	    "'1c' is not a name ([A-Za-z_][A-Za-z0-9_]*, at most 64)");
	bad(FEAT("{\"name\": \"c\", \"key\": \"{a}\"}, "
		 "{\"name\": \"c\", \"key\": \"{b}\"}"), "features[1].name",
	    "duplicate feature group 'c'");
	bad(FEAT("{\"name\": \"c\", \"key\": \"{a}\", \"ttl_ms\": -1}"),
	    "features[0].ttl_ms", "must be between 0 and 31536000000");
	bad(FEAT("{\"name\": \"c\", \"key\": \"{a}\", \"ttl_ms\": 0.5}"),
	    "features[0].ttl_ms", "must be an integer");
	static const char *const bad_keys[][2] = {
		{"x", "needs at least one {path} placeholder"},
		{"", "needs at least one {path} placeholder"},
		{"{}", "has a placeholder that is not an event path"},
		{"{a b}", "has a placeholder that is not an event path"},
		{"{1a}", "has a placeholder that is not an event path"},
		{"{a.}", "has a placeholder that is not an event path"},
		{"{a[x]}", "has a placeholder that is not an event path"},
		{"{a", "has a '{' without '}'"},
		{"a}", "has a '}' without '{'"},
		{"{a}}", "has a '}' without '{'"},
		{"{{a}}", "has a placeholder that is not an event path"},
	};
	for (size_t i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		char txt[256], msg[128];
		snprintf(txt, sizeof(txt), FEAT("{\"name\": \"c\", \"key\": "
						"\"%s\"}"), bad_keys[i][0]);
		snprintf(msg, sizeof(msg), "key template '%s' %s",
			 bad_keys[i][0], bad_keys[i][1]);
		bad(txt, "features[0].key", msg);
	}
	good(FEAT("{\"name\": \"c\", \"key\": \"{card.id}\", \"ttl_ms\": 0}"));
	good(FEAT("{\"name\": \"c\", \"key\": \"c:{card.id}:{user.id}\"}"));
	good(FEAT("{\"name\": \"c\", \"key\": \"{items[0].sku}\"}"));
	good(FEAT("{\"name\": \"c\", \"key\": \"{h['user-agent']}\"}"));
	good(FEAT("{\"name\": \"_C9\", \"key\": \"{a}\", "
		  "\"ttl_ms\": 31536000000}"));
}

static void test_errors_velocity(void **st)
{
#define V "\"name\": \"v\", \"entity\": \"a\", "
	bad("{" S "\"velocity\": \"x\", " R1 "}", "velocity",
	    "must be an array");
	bad(VEL("[]"), "velocity[0]", "must be an object");
	bad(VEL("{" V "\"window\": \"1h\"}"), "velocity[0].agg",
	    "is required");
	bad(VEL("{\"name\": \"v\", \"window\": \"1h\", \"agg\": \"count\"}"),
	    "velocity[0].entity", "is required");
	bad(VEL("{" V "\"agg\": \"count\"}"), "velocity[0].window",
	    "is required");
	bad(VEL("{\"entity\": \"a\", \"window\": \"1h\", \"agg\": \"count\"}"),
	    "velocity[0].name", "is required");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"sum\"}"),
	    "velocity[0].field", "is required for agg sum");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"distinct\"}"),
	    "velocity[0].field", "is required for agg distinct");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"sum\", \"field\": 1}"),
	    "velocity[0].field", "must be a string");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"count\", "
		"\"field\": \"x\"}"),
	    "velocity[0].field", "must not be set for agg count");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"sum\", "
		"\"field\": \"x y\"}"),
	    "velocity[0].field", "'x y' is not an event path");
	bad(VEL("{\"name\": \"v\", \"entity\": \"\", \"window\": \"1h\", "
		"\"agg\": \"count\"}"),
	    "velocity[0].entity", "'' is not an event path");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"avg\"}"),
	    "velocity[0].agg", "must be count, sum or distinct");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"count\", \"wndow\": 1}"),
	    "velocity[0].wndow", "unknown field (did you mean 'window'?)");
	bad(VEL("{\"name\": \"v-1\", \"entity\": \"a\", \"window\": \"1h\", "
		"\"agg\": \"count\"}"), "velocity[0].name",
	    "'v-1' is not a name ([A-Za-z_][A-Za-z0-9_]*, at most 64)");
	bad(VEL("{" V "\"window\": \"1h\", \"agg\": \"count\"}, "
		"{" V "\"window\": \"1d\", \"agg\": \"count\"}"),
	    "velocity[1].name", "duplicate velocity 'v'");
	/* Windows: an integer and a unit, 1 minute to 30 days inclusive. */
	static const struct {
		const char *w;
		long long ms;   /* 0 = refused */
	} win[] = {
		{"1m", 60000}, {"60s", 60000}, {"90s", 90000},
		{"1h", 3600000}, {"24h", 86400000}, {"30d", 2592000000LL},
		{"720h", 2592000000LL}, {"43200m", 2592000000LL},
		{"01h", 3600000},
		{"59s", 0}, {"0m", 0}, {"31d", 0}, {"721h", 0}, {"1", 0},
		{"h", 0}, {"", 0}, {"1H", 0}, {"1 h", 0}, {" 1h", 0},
		{"-1m", 0}, {"+1m", 0}, {"1.5h", 0}, {"1hh", 0}, {"1w", 0},
		{"99999999999999999999d", 0},
	};
	for (size_t i = 0; i < sizeof(win) / sizeof(win[0]); i++) {
		char txt[256], msg[160];
		snprintf(txt, sizeof(txt), VEL("{" V "\"window\": \"%s\", "
					       "\"agg\": \"count\"}"),
			 win[i].w);
		if (!win[i].ms) {
			snprintf(msg, sizeof(msg), "'%s' is not a window from "
				 "1m to 30d (an integer and s, m, h or d)",
				 win[i].w);
			bad(txt, "velocity[0].window", msg);
			continue;
		}
		rk_diags d;
		rules_def *def = parse(txt, &d);
		if (!def)
			fail_msg("window %s refused", win[i].w);
		assert_int_equal(def->velocity[0].window_ms, win[i].ms);
		assert_string_equal(def->velocity[0].window, win[i].w);
		rules_def_free(def);
		rk_diags_cleanup(&d);
	}
#undef V
}

static void test_errors_lists(void **st)
{
	bad("{" S "\"lists\": [], " R1 "}", "lists",
	    "must be an object of name: [strings]");
	bad("{" S "\"lists\": {\"l\": \"x\"}, " R1 "}", "lists.l",
	    "must be an array of strings");
	bad("{" S "\"lists\": {\"l\": [\"a\", 1, \"b\"]}, " R1 "}",
	    "lists.l[1]", "must be a string");
	bad("{" S "\"lists\": {\"l\": [null]}, " R1 "}", "lists.l[0]",
	    "must be a string");
	bad("{" S "\"lists\": {\"bad-name\": []}, " R1 "}", "lists.bad-name",
	    "'bad-name' is not a list name ([A-Za-z_][A-Za-z0-9_]*, "
	    "at most 64)");
	bad("{" S "\"lists\": {\"l\": [], \"l\": [\"x\"]}, " R1 "}", "lists.l",
	    "duplicate list 'l'");
}

static void test_errors_rules(void **st)
{
	bad("{" S "\"rules\": [{\"when\": \"true\"}]}", "rules[0].id",
	    "is required");
	bad("{" S "\"rules\": [{\"id\": 7, \"when\": \"true\"}]}",
	    "rules[0].id", "must be a string");
	bad("{" S "\"rules\": [{\"id\": \"A\", \"when\": \"true\"}]}",
	    "rules[0].id", "'A' is not a rule id ([a-z0-9_.-]{1,64})");
	bad("{" S "\"rules\": [{\"id\": \"\", \"when\": \"true\"}]}",
	    "rules[0].id", "'' is not a rule id ([a-z0-9_.-]{1,64})");
	bad("{" S "\"rules\": [{\"id\": \"a\", \"when\": \"true\"}, "
	    "{\"id\": \"a\", \"when\": \"true\"}]}", "rules[1].id",
	    "duplicate rule id 'a'");
	bad("{" S "\"rules\": [{\"id\": \"a\"}]}", "rules[0].when",
	    "is required");
	bad("{" S "\"rules\": [{\"id\": \"a\", \"when\": true}]}",
	    "rules[0].when", "must be a string");
	bad("{" S "\"rules\": [{\"id\": \"a\", \"when\": \"\"}]}",
	    "rules[0].when", "must not be empty");
	bad("{" S "\"rules\": [{\"id\": \"a\", \"when\": \" \\n\\t\"}]}",
	    "rules[0].when", "must not be empty");
	bad("{" S "\"rules\": [1]}", "rules[0]", "must be an object");
	bad(RULE("\"score\": 1.5"), "rules[0].score", "must be an integer");
	bad(RULE("\"score\": \"5\""), "rules[0].score", "must be an integer");
	bad(RULE("\"score\": 1000000001"), "rules[0].score",
	    "must be between -1000000000 and 1000000000");
	bad(RULE("\"score\": -1000000001"), "rules[0].score",
	    "must be between -1000000000 and 1000000000");
	good(RULE("\"score\": -1e9"));
	bad(RULE("\"action\": \"block\""), "rules[0].action",
	    "must be approve, review or decline");
	bad(RULE("\"action\": 1"), "rules[0].action", "must be a string");
	bad(RULE("\"mode\": \"off\""), "rules[0].mode",
	    "must be active, shadow or disabled");
	bad(RULE("\"tags\": \"x\""), "rules[0].tags",
	    "must be an array of strings");
	bad(RULE("\"tags\": [\"x\", 1]"), "rules[0].tags[1]",
	    "must be a string");
	bad(RULE("\"name\": 1"), "rules[0].name", "must be a string");
	bad(RULE("\"reason\": []"), "rules[0].reason", "must be a string");
	bad(RULE("\"scroe\": 1"), "rules[0].scroe",
	    "unknown field (did you mean 'score'?)");
	bad(RULE("\"severity\": 1"), "rules[0].severity", "unknown field");
	bad(RULE("\"when\": \"false\""), "rules[0].when", "duplicate field");
	/*
	 * `when` is limited to RULES_MAX_EXPR bytes by the compiler, which
	 * names the rule id like every expression error: the file itself
	 * is well-formed.
	 */
	char *txt = rk_malloc(RULES_MAX_EXPR + 200);
	char when[RULES_MAX_EXPR + 2];
	memset(when, '1', sizeof(when) - 1);
	when[RULES_MAX_EXPR + 1] = 0;
	snprintf(txt, RULES_MAX_EXPR + 200, "{" S "\"rules\": [{\"id\": \"a\", "
		 "\"when\": \"%s\"}]}", when);
	rk_diags d;
	rules_def *def = parse(txt, &d);
	assert_non_null(def);
	assert_int_equal(strlen(def->rules[0].when), RULES_MAX_EXPR + 1);
	assert_null(rules_compile(def, NULL, &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].where, "a");
	assert_int_equal(d.v[0].line, 1);
	assert_int_equal(d.v[0].col, 1);
	assert_non_null(strstr(d.v[0].msg, "too long"));
	rules_def_free(def);
	rk_diags_cleanup(&d);
	rk_free(txt);
}

/* More than RULES_MAX_RULES rules are refused as a whole. */
static void test_too_many_rules(void **st)
{
	size_t cap = (size_t)(RULES_MAX_RULES + 1) * 4 + 64, n;
	char *txt = rk_malloc(cap);
	assert_non_null(txt);
	n = (size_t)snprintf(txt, cap, "{" S "\"rules\": [");
	for (int i = 0; i <= RULES_MAX_RULES; i++) {
		memcpy(txt + n, "{},", 3);
		n += 3;
	}
	n--;   /* the last comma */
	memcpy(txt + n, "]}", 3);
	bad(txt, "rules", "100001 rules (limit 100000)");
	rk_free(txt);
}

static void test_json_syntax(void **st)
{
	rk_diags d;
	const char *txt = "{\n  \"scenario\": \"p\",\n  \"rules\": [,]\n}";
	assert_null(parse(txt, &d));
	assert_int_equal(d.n, 1);
	assert_null(d.v[0].where);
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[0].col, 13);
	assert_string_equal(d.v[0].msg, "invalid JSON at byte 33");
	assert_int_equal(txt[33], ',');
	rk_diags_cleanup(&d);

	assert_null(parse("{\"scenario\": \"p\", " R1 "} x", &d));
	assert_int_equal(d.n, 1);
	assert_int_equal(d.v[0].line, 1);
	assert_int_equal(d.v[0].col, 59);
	assert_string_equal(d.v[0].msg,
			    "invalid JSON at byte 58: text after the rule set");
	rk_diags_cleanup(&d);

	/* Trailing whitespace is fine. */
	good("{\"scenario\": \"p\", " R1 "} \n\t\r\n");

	assert_null(parse("", &d));
	assert_int_equal(d.n, 1);
	assert_string_equal(d.v[0].msg, "invalid JSON at byte 0");
	assert_int_equal(d.v[0].line, 1);
	assert_int_equal(d.v[0].col, 1);
	rk_diags_cleanup(&d);

	/* A string that never ends: the error is within the text. */
	assert_null(parse("{\"scenario\": \"p", &d));
	assert_int_equal(d.n, 1);
	assert_null(d.v[0].where);
	assert_non_null(strstr(d.v[0].msg, "invalid JSON at byte "));
	rk_diags_cleanup(&d);

	/* Only len bytes are read: the same text cut short is an error. */
	const char *ok = "{\"scenario\": \"p\", " R1 "}";
	rk_diags_init(&d);
	assert_null(rules_def_parse(ok, strlen(ok) - 1, &d));
	assert_int_equal(d.n, 1);
	rk_diags_cleanup(&d);
}

/* Diagnostics inside an array element carry the element's line and
 * column in the file. */
static void test_error_lines(void **st)
{
	rk_diags d;
	const char *txt =
		"{\"scenario\": \"p\",\n"
		" \"features\": [{\"name\": \"c\", \"key\": \"{a}\"},\n"
		"   {\"name\": \"c\", \"key\": \"{b}\"}],\n"
		" \"rules\": [\n"
		"  {\"id\": \"a\", \"when\": \"true\"},\n"
		"\t\t{\"id\": \"a\", \"when\": \"x\"}]}";
	assert_null(parse(txt, &d));
	assert_int_equal(d.n, 2);
	assert_string_equal(d.v[0].where, "features[1].name");
	assert_int_equal(d.v[0].line, 3);
	assert_int_equal(d.v[0].col, 4);
	assert_string_equal(d.v[1].where, "rules[1].id");
	assert_int_equal(d.v[1].line, 6);
	assert_int_equal(d.v[1].col, 3);
	rk_diags_cleanup(&d);
	/* Top-level fields carry no line. */
	assert_null(parse("\n\n{\"scenario\": 5, " R1 "}", &d));
	assert_int_equal(d.v[0].line, 0);
	assert_int_equal(d.v[0].col, 0);
	rk_diags_cleanup(&d);
	/* A byte-order mark and other keys before "rules" are skipped. */
	rules_def *def = parse("\xEF\xBB\xBF{\"scenario\": \"p\", \"lists\": "
			       "{\"rules\": [\"[\"]}, \"description\": "
			       "\"\\\"rules\\\": [\",\n\"rules\": [\n\n"
			       "{\"id\": \"a\", \"when\": \"1\"}, {\"id\": "
			       "\"b\", \"when\": \"[{\\\"\"}]}", &d);
	assert_non_null(def);
	assert_int_equal(def->rules[0].line, 4);
	assert_int_equal(def->rules[1].line, 4);
	rules_def_free(def);
	rk_diags_cleanup(&d);
}

/* A file with many mistakes reports every one of them, in file order. */
static void test_several_errors(void **st)
{
	static const struct {
		const char *where;
		int line, col;
		const char *msg;
	} want[] = {
		{"extra", 0, 0, "unknown field"},
		{"scenario", 0, 0, "'Payments!' is not a scenario name "
		 "([a-z0-9_.-]{1,64})"},
		{"max_score", 0, 0, "must be an integer"},
		{"thresholds.review", 0, 0, "90 must not be above "
		 "thresholds.decline (80)"},
		{"features[0].key", 6, 5, "key template 'card.id' needs at "
		 "least one {path} placeholder"},
		{"features[1].ttl_ms", 7, 5, "must be between 0 and "
		 "31536000000"},
		{"features[1].name", 7, 5, "duplicate feature group 'card'"},
		{"velocity[0].field", 10, 5, "is required for agg sum"},
		{"velocity[1].entity", 11, 5, "'card id' is not an event path"},
		{"velocity[1].window", 11, 5, "'45d' is not a window from 1m "
		 "to 30d (an integer and s, m, h or d)"},
		{"velocity[1].field", 11, 5, "must not be set for agg count"},
		{"lists.bad-name", 0, 0, "'bad-name' is not a list name "
		 "([A-Za-z_][A-Za-z0-9_]*, at most 64)"},
		{"lists.ok[1]", 0, 0, "must be a string"},
		{"rules[0].scroe", 16, 5, "unknown field (did you mean "
		 "'score'?)"},
		{"rules[1].id", 17, 5, "duplicate rule id 'a'"},
		{"rules[1].when", 17, 5, "must not be empty"},
		{"rules[1].action", 17, 5, "must be approve, review or "
		 "decline"},
		{"rules[2].id", 18, 5, "'Bad Id' is not a rule id "
		 "([a-z0-9_.-]{1,64})"},
		{"rules[2].mode", 18, 5, "must be active, shadow or disabled"},
		{"rules[2].tags[1]", 18, 5, "must be a string"},
		{"rules[3]", 19, 5, "must be an object"},
		{"rules[4].id", 20, 7, "is required"},
		{"rules[4].score", 20, 7, "must be between -1000000000 and "
		 "1000000000"},
	};
	rk_diags d;
	char *txt = slurp(DATA "several_errors.json");
	assert_null(parse(txt, &d));
	assert_int_equal(d.n, sizeof(want) / sizeof(want[0]));
	for (int i = 0; i < d.n; i++) {
		assert_string_equal(d.v[i].where, want[i].where);
		assert_int_equal(d.v[i].line, want[i].line);
		assert_int_equal(d.v[i].col, want[i].col);
		assert_string_equal(d.v[i].msg, want[i].msg);
	}
	rk_free(txt);
	rk_diags_cleanup(&d);
}

/* A mid-size file using every field: 3 groups, 3 velocities, 3 lists,
 * 40 rules. */
static char *mid_size(void)
{
	static char buf[32768];
	size_t n = 0;
#define OUT(...) (n += (size_t)snprintf(buf + n, sizeof(buf) - n, __VA_ARGS__))
	OUT("{\"scenario\": \"mid\", \"description\": \"d\", \"max_score\": "
	    "200, \"thresholds\": {\"review\": 60, \"decline\": 120},\n"
	    "\"features\": [{\"name\": \"card\", \"key\": \"{card.id}\", "
	    "\"ttl_ms\": 1000}, {\"name\": \"user\", \"key\": \"u:{user.id}\"},"
	    " {\"name\": \"dev\", \"key\": \"{device.id}:{ip}\"}],\n"
	    "\"velocity\": [{\"name\": \"c1\", \"entity\": \"card.id\", "
	    "\"window\": \"1h\", \"agg\": \"count\"}, {\"name\": \"s1\", "
	    "\"entity\": \"user.id\", \"window\": \"1d\", \"agg\": \"sum\", "
	    "\"field\": \"amount\"}, {\"name\": \"d1\", \"entity\": \"ip\", "
	    "\"window\": \"7d\", \"agg\": \"distinct\", \"field\": "
	    "\"card.id\"}],\n\"lists\": {");
	for (int l = 0; l < 3; l++)
		OUT("%s\"l%d\": [\"a\", \"b\", \"c\", \"d\", \"e\"]",
		    l ? ", " : "", l);
	OUT("},\n\"rules\": [\n");
	for (int i = 0; i < 40; i++)
		OUT("%s{\"id\": \"r%d\", \"name\": \"Rule %d\", \"reason\": "
		    "\"because %d\", \"when\": \"amount > %d and ip in @l%d\", "
		    "\"score\": %d, \"action\": \"%s\", \"mode\": \"%s\", "
		    "\"tags\": [\"t%d\", \"all\"]}\n", i ? "," : "", i, i, i,
		    i * 10, i % 3, i - 20, i % 2 ? "review" : "decline",
		    i % 3 ? "active" : "shadow", i);
	OUT("]}\n");
#undef OUT
	assert_true(n < sizeof(buf));
	return buf;
}

/*
 * Fails each allocation of parse + export in turn: every run up to the
 * last allocation fails cleanly (NULL, a diagnostic or the oom flag),
 * leaks nothing (ASan/valgrind), and the run with no failure gives the
 * same text as an unconstrained run.
 */
static void alloc_walk(const char *txt, bool valid)
{
	rk_diags d;
	rk_diags_init(&d);
	rk_alloc_fail_after(-1);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	char *want = def ? rules_def_to_text(def, true) : NULL;
	long total = rk_alloc_fail_after(-1);
	int ndiags = d.n;
	assert_true(valid ? want != NULL : def == NULL);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	assert_true(total > 10);
	for (long n = 0; n <= total; n++) {
		rk_diags_init(&d);
		rk_alloc_fail_after(n);
		def = rules_def_parse(txt, strlen(txt), &d);
		char *got = def ? rules_def_to_text(def, true) : NULL;
		rk_alloc_fail_after(-1);
		if (n < total) {
			assert_null(got);
			if (!def)
				assert_true(d.n > 0 || d.oom);
		} else if (valid) {
			assert_non_null(got);
			assert_string_equal(got, want);
		} else {
			assert_null(def);
			assert_int_equal(d.n, ndiags);
		}
		rk_free(got);
		rules_def_free(def);
		rk_diags_cleanup(&d);
	}
	rk_free(want);
}

static void test_alloc_failures(void **st)
{
	alloc_walk(mid_size(), true);
	char *txt = slurp(DATA "several_errors.json");
	alloc_walk(txt, false);
	rk_free(txt);
	alloc_walk("{\"scenario\": \"p\", \"rules\": [{\"id\": \"a\", "
		   "\"when\": [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]}]}", false);
}

int main(void)
{
	rk_cjson_hooks();
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_minimal_and_defaults),
		cmocka_unit_test(test_full_example),
		cmocka_unit_test(test_canonical),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_errors_top),
		cmocka_unit_test(test_errors_features),
		cmocka_unit_test(test_errors_velocity),
		cmocka_unit_test(test_errors_lists),
		cmocka_unit_test(test_errors_rules),
		cmocka_unit_test(test_too_many_rules),
		cmocka_unit_test(test_json_syntax),
		cmocka_unit_test(test_error_lines),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_alloc_failures),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
