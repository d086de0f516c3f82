/*
 * test_gen.c - the workload generators of gen/: PRNG known answers and
 * samplers (Zipf skew, log-normal median), payment events (deterministic,
 * valid JSON of the expected size and fields, skewed entities, block-list
 * hits), envelopes, and generated rule sets that parse and compile with
 * the realistic mix of modes and actions; allocation failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <cjson/cJSON.h>

#include "common/rk.h"
#include "common/strset.h"
#include "gen/gen.h"
#include "rules/rules.h"

/* ---- rng.c ---- */

static void test_rng_known_answers(void **st)
{
	gen_rng r;

	/* splitmix64's first output from state 0 (published value). */
	assert_true(gen_mix64(0) == 0xe220a8397b1dcdafULL);
	gen_rng_seed(&r, 42);
	assert_true(gen_rng_next(&r) == 0x15780b2e0c2ec716ULL);
	assert_true(gen_rng_next(&r) == 0x6104d9866d113a7eULL);
	assert_true(gen_rng_next(&r) == 0xae17533239e499a1ULL);
}

static void test_rng_ranges(void **st)
{
	gen_rng r;
	int counts[6] = {0};

	gen_rng_seed(&r, 1);
	assert_int_equal(gen_rng_below(&r, 0), 0);
	for (int i = 0; i < 60000; i++) {
		uint64_t k = gen_rng_below(&r, 6);

		assert_true(k < 6);
		counts[k]++;
		double u = gen_rng_unit(&r);

		assert_true(u >= 0 && u < 1);
	}
	for (int k = 0; k < 6; k++)
		assert_in_range(counts[k], 9500, 10500);

	const double w[3] = {1, 0, 3};
	int wc[3] = {0};

	for (int i = 0; i < 40000; i++)
		wc[gen_rng_weighted(&r, w, 3)]++;
	assert_int_equal(wc[1], 0);
	assert_in_range(wc[0], 9500, 10500);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static void test_lognormal_median(void **st)
{
	enum { N = 20001 };
	static double v[N];
	gen_rng r;

	gen_rng_seed(&r, 7);
	for (int i = 0; i < N; i++)
		v[i] = gen_rng_lognormal(&r, 3.6888794541139363, 1.0);
	qsort(v, N, sizeof(double), cmp_double);
	assert_true(v[N / 2] > 38.0 && v[N / 2] < 42.0);   /* exp(mu) = 40 */
	assert_true(v[0] > 0);
}

static void test_zipf_skew(void **st)
{
	enum { N = 100000 };
	gen_zipf z;
	gen_rng r;
	long first = 0, top1pct = 0;

	assert_int_equal(gen_zipf_init(&z, 0, 1.0), RK_EINVAL);
	assert_int_equal(gen_zipf_init(&z, 10, 0.0), RK_EINVAL);
	assert_int_equal(gen_zipf_init(&z, 100000, 1.0), 0);
	gen_rng_seed(&r, 3);
	for (int i = 0; i < N; i++) {
		uint64_t k = gen_zipf_draw(&z, &r);

		assert_true(k >= 1 && k <= 100000);
		first += k == 1;
		top1pct += k <= 1000;
	}
	/* P(1) = 1/H(100000) = 0.0833; the top 1% of ranks carry
	 * H(1000)/H(100000) = 0.620 of the draws. */
	assert_in_range(first, 7800, 8900);
	assert_in_range(top1pct, 59000, 65000);

	/* Other exponents and the single-key corner. */
	assert_int_equal(gen_zipf_init(&z, 1, 1.2), 0);
	assert_int_equal(gen_zipf_draw(&z, &r), 1);
	assert_int_equal(gen_zipf_init(&z, 50, 0.6), 0);
	for (int i = 0; i < 1000; i++)
		assert_true(gen_zipf_draw(&z, &r) <= 50);
}

/* ---- eventgen.c ---- */

static void test_events_deterministic(void **st)
{
	gen_params p;
	gen_rng a, b, c;
	char x[1024], y[1024], w[1024];
	int differ = 0;

	gen_params_default(&p);
	gen_rng_seed(&a, 99);
	gen_rng_seed(&b, 99);
	gen_rng_seed(&c, 100);
	for (int i = 0; i < 200; i++) {
		int n = gen_event_json(&a, &p, x, sizeof(x));

		assert_true(n > 0);
		assert_int_equal(gen_event_json(&b, &p, y, sizeof(y)), n);
		assert_string_equal(x, y);
		gen_event_json(&c, &p, w, sizeof(w));
		differ += strcmp(x, w) != 0;
	}
	assert_int_equal(differ, 200);
}

static const cJSON *path(const cJSON *o, const char *a, const char *b)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, a);

	return b ? cJSON_GetObjectItemCaseSensitive(v, b) : v;
}

/* The index of the event's card ("card_123" is 123). */
static unsigned card_index(const cJSON *e)
{
	return (unsigned)atoi(path(e, "card", "id")->valuestring + 5);
}

static void check_event(const cJSON *e)
{
	static const char *const strs[][2] = {{"currency", NULL},
		{"channel", NULL}, {"timestamp", NULL}, {"merchant", "id"},
		{"merchant", "country"}, {"card", "id"}, {"card", "bin"},
		{"card", "country"}, {"card", "type"}, {"user", "id"},
		{"user", "email"}, {"ip", NULL}, {"ip_country", NULL},
		{"device", "id"}, {"device", "os"}, {"device", "fingerprint"},
		{"billing", "country"}, {"billing", "postal"},
		{"headers", "user-agent"}};
	static const char *const nums[][2] = {{"amount", NULL},
		{"merchant", "mcc"}, {"user", "age_days"}, {"geo", "lat"},
		{"geo", "lon"}, {"ip_geo", "lat"}, {"ip_geo", "lon"}};

	for (size_t i = 0; i < RK_ARRAY_LEN(strs); i++)
		assert_true(cJSON_IsString(path(e, strs[i][0], strs[i][1])));
	for (size_t i = 0; i < RK_ARRAY_LEN(nums); i++)
		assert_true(cJSON_IsNumber(path(e, nums[i][0], nums[i][1])));
	assert_true(cJSON_IsBool(path(e, "user", "phone_verified")));
	assert_int_equal(strlen(path(e, "card", "bin")->valuestring), 6);
	assert_non_null(strchr(path(e, "user", "email")->valuestring, '@'));

	const char *ts = path(e, "timestamp", NULL)->valuestring;

	assert_int_equal(strlen(ts), 20);   /* 2026-11-18T07:31:50Z */
	assert_true(ts[4] == '-' && ts[7] == '-' && ts[10] == 'T' &&
		    ts[13] == ':' && ts[16] == ':' && ts[19] == 'Z');

	const cJSON *items = path(e, "items", NULL);
	int n = cJSON_GetArraySize(items);

	assert_true(cJSON_IsArray(items));
	assert_in_range(n, 1, 4);
	for (int i = 0; i < n; i++) {
		const cJSON *it = cJSON_GetArrayItem(items, i);

		assert_true(cJSON_IsString(path(it, "sku", NULL)));
		assert_true(path(it, "qty", NULL)->valuedouble >= 1);
		assert_true(path(it, "price", NULL)->valuedouble > 0);
	}
	assert_true(path(e, "amount", NULL)->valuedouble >= 0.5);
}

static void test_events_valid(void **st)
{
	enum { N = 10000 };
	static double amounts[N];
	gen_params p;
	gen_rng r;
	char buf[1024];
	long total = 0, top_cards = 0, top_ips = 0, ipv6 = 0, foreign = 0;
	strset *ips = strset_new();

	assert_non_null(ips);
	gen_params_default(&p);
	gen_rng_seed(&r, 5);
	for (int i = 0; i < N; i++) {
		int n = gen_event_json(&r, &p, buf, sizeof(buf));

		assert_true(n > 300 && n < 1024);
		total += n;
		cJSON *e = cJSON_ParseWithLength(buf, (size_t)n);

		assert_non_null(e);
		check_event(e);
		amounts[i] = path(e, "amount", NULL)->valuedouble;
		unsigned card = card_index(e);

		top_cards += card < 1000;   /* the top 1% of 100,000 */
		const char *ip = path(e, "ip", NULL)->valuestring;

		ipv6 += strchr(ip, ':') != NULL;
		foreign += strcmp(path(e, "ip_country", NULL)->valuestring,
				  path(e, "card", "country")->valuestring) != 0;
		assert_int_equal(strset_add(ips, ip, strlen(ip)), 0);
		cJSON_Delete(e);
	}
	/* Mean size of a ~600-byte event. */
	assert_in_range(total / N, 500, 700);
	qsort(amounts, N, sizeof(double), cmp_double);
	assert_true(amounts[N / 2] > 33 && amounts[N / 2] < 48);
	assert_true(amounts[N - N / 1000] > 500);   /* a long tail */
	/* Zipf: the top 1% of cards make well over a third of payments. */
	assert_in_range(top_cards, N * 45 / 100, N * 75 / 100);
	/* IPs repeat (hot addresses) but are many. */
	top_ips = (long)strset_count(ips);
	assert_in_range(top_ips, 2000, N * 9 / 10);
	assert_in_range(ipv6, N * 2 / 100, N * 8 / 100);
	assert_in_range(foreign, N * 4 / 100, N * 12 / 100);
	strset_free(ips);
}

static void test_event_errors(void **st)
{
	gen_params p;
	gen_rng r;
	char buf[1024];

	gen_params_default(&p);
	gen_rng_seed(&r, 1);
	assert_int_equal(gen_event_json(&r, &p, buf, 100), RK_ELIMIT);
	assert_true(strlen(buf) < 100);
	p.ncards = 0;
	assert_int_equal(gen_params_prepare(&p), RK_EINVAL);
	assert_false(p.prepared);
	assert_int_equal(gen_event_json(&r, &p, buf, sizeof(buf)), RK_EINVAL);
	assert_null(gen_event_text(&r, &p));
	p.ncards = 10;
	assert_int_equal(gen_params_prepare(&p), 0);
	for (int i = 0; i < 200; i++) {
		char *t = gen_event_text(&r, &p);
		cJSON *e = cJSON_Parse(t);
		unsigned card = card_index(e);

		assert_true(card < 10);
		cJSON_Delete(e);
		rk_free(t);
	}
	gen_params_default(&p);
	assert_int_equal(gen_envelope_json(&r, &p, "pay\"ments", 0, buf,
					   sizeof(buf)), RK_EINVAL);
}

static void test_envelope(void **st)
{
	gen_params p;
	gen_rng r;

	gen_params_default(&p);
	gen_rng_seed(&r, 11);
	char *t = gen_envelope_text(&r, &p, "payments", 0);
	cJSON *e = cJSON_Parse(t);

	assert_non_null(e);
	assert_string_equal(path(e, "scenario", NULL)->valuestring,
			    "payments");
	check_event(path(e, "event", NULL));
	assert_null(path(e, "features", NULL));
	assert_null(path(e, "velocity", NULL));
	cJSON_Delete(e);
	rk_free(t);

	t = gen_envelope_text(&r, &p, "payments",
			      GEN_ENV_FEATURES | GEN_ENV_VELOCITY);
	e = cJSON_Parse(t);
	assert_non_null(e);
	const cJSON *f = path(e, "features", NULL);

	assert_true(cJSON_IsNumber(path(path(f, "card", NULL),
					"chargebacks_90d", NULL)));
	assert_true(cJSON_IsNumber(path(path(f, "card", NULL),
					"avg_amount_30d", NULL)));
	/* The user's stored age is the event's. */
	assert_int_equal(path(path(f, "user", NULL), "account_age_days",
			      NULL)->valueint,
			 path(path(e, "event", NULL), "user",
			      "age_days")->valueint);
	const char *vel[] = {"card_txn_1h", "card_amount_24h", "ip_cards_1d",
			     "user_txn_10m"};

	for (int i = 0; i < 4; i++)
		assert_true(cJSON_IsNumber(path(e, "velocity", vel[i])));
	cJSON_Delete(e);
	rk_free(t);
}

static void test_entities(void **st)
{
	char a[256], b[256];

	assert_int_equal(gen_card_id(5, a, sizeof(a)), 6);
	assert_string_equal(a, "card_5");
	assert_int_equal(gen_user_id(123, a, sizeof(a)), 8);
	assert_string_equal(a, "user_123");
	assert_int_equal(gen_card_id(123456, a, 6), RK_ELIMIT);
	assert_true(gen_card_features_json(42, a, sizeof(a)) > 0);
	assert_true(gen_card_features_json(42, b, sizeof(b)) > 0);
	assert_string_equal(a, b);
	cJSON *f = cJSON_Parse(a);

	assert_true(cJSON_IsNumber(path(f, "declines_7d", NULL)));
	cJSON_Delete(f);
	assert_true(gen_user_features_json(42, a, sizeof(a)) > 0);
	f = cJSON_Parse(a);
	assert_true(cJSON_IsNumber(path(f, "disputes_180d", NULL)));
	cJSON_Delete(f);
	assert_int_equal(gen_blocked_bin(0, a, sizeof(a)), 6);
	assert_int_equal(gen_blocked_bin(17, a, sizeof(a)), 6);
	int n = gen_risky_cidr(0, a, sizeof(a));

	assert_int_equal(n, (int)strlen(a));
	assert_non_null(strstr(a, "/16"));
	gen_risky_cidr(1, a, sizeof(a));
	assert_non_null(strstr(a, "::/32"));
	gen_risky_cidr(2, a, sizeof(a));
	assert_non_null(strstr(a, ".0/24"));
}

/* Events hit the generated block lists at about the configured rates. */
static void test_block_list_hits(void **st)
{
	enum { N = 20000 };
	strset *ips = strset_new(), *emails = strset_new();
	gen_params p;
	gen_rng r;
	char buf[1024];
	long ip_hits = 0, email_hits = 0;

	for (uint32_t j = 0; j < GEN_NBLOCKED_IPS; j++) {
		int n = gen_blocked_ip(j, buf, sizeof(buf));

		assert_int_equal(strset_add(ips, buf, (size_t)n), 0);
	}
	for (uint32_t j = 0; j < GEN_NBLOCKED_EMAILS; j++) {
		int n = gen_blocked_email(j, buf, sizeof(buf));

		assert_int_equal(strset_add(emails, buf, (size_t)n), 0);
	}
	/* Block-list entries are distinct addresses. */
	assert_int_equal(strset_count(ips), GEN_NBLOCKED_IPS);
	assert_int_equal(strset_count(emails), GEN_NBLOCKED_EMAILS);
	gen_params_default(&p);
	gen_rng_seed(&r, 8);
	for (int i = 0; i < N; i++) {
		int n = gen_event_json(&r, &p, buf, sizeof(buf));
		cJSON *e = cJSON_ParseWithLength(buf, (size_t)n);
		const char *ip = path(e, "ip", NULL)->valuestring;
		const char *em = path(e, "user", "email")->valuestring;

		ip_hits += strset_has(ips, ip, strlen(ip));
		email_hits += strset_has(emails, em, strlen(em));
		cJSON_Delete(e);
	}
	assert_in_range(ip_hits, N * 3 / 1000, N * 8 / 1000);    /* 0.5 % */
	assert_in_range(email_hits, N * 2 / 1000, N * 12 / 1000);
	strset_free(ips);
	strset_free(emails);
}

/* ---- rulegen.c ---- */

static rules_def *parse_generated(int nrules, uint64_t seed)
{
	char *t = gen_ruleset_json(nrules, seed);
	rk_diags d;

	assert_non_null(t);
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(t, strlen(t), &d);

	if (!def)
		rk_diags_print(&d, "generated", stderr);
	assert_non_null(def);
	rules_set *s = rules_compile(def, NULL, &d);

	if (!s)
		rk_diags_print(&d, "generated", stderr);
	assert_non_null(s);
	assert_int_equal(rules_set_nrules(s), nrules);
	rules_set_free(s);
	rk_diags_cleanup(&d);
	rk_free(t);
	return def;
}

static const rules_list_def *list(const rules_def *def, const char *name)
{
	for (int i = 0; i < def->nlists; i++)
		if (!strcmp(def->lists[i].name, name))
			return &def->lists[i];
	fail_msg("no list %s", name);
	return NULL;
}

static void test_ruleset_small(void **st)
{
	rules_def *def = parse_generated(100, 1);

	assert_string_equal(def->scenario, "payments");
	assert_int_equal(def->nrules, 100);
	assert_int_equal(def->nfeatures, 2);
	assert_string_equal(def->features[0].name, "card");
	assert_string_equal(def->features[1].key, "{user.id}");
	assert_int_equal(def->nvelocity, 4);
	assert_string_equal(def->velocity[2].name, "ip_cards_1d");
	assert_int_equal(def->velocity[2].agg, RULES_AGG_DISTINCT);
	assert_string_equal(def->velocity[2].field, "card.id");
	assert_int_equal(list(def, "blocked_ips")->nitems, GEN_NBLOCKED_IPS);
	assert_int_equal(list(def, "blocked_emails")->nitems,
			 GEN_NBLOCKED_EMAILS);
	assert_int_equal(list(def, "blocked_bins")->nitems, GEN_NBLOCKED_BINS);
	assert_int_equal(list(def, "risky_cidrs")->nitems, GEN_NRISKY_CIDRS);
	assert_int_equal(list(def, "high_risk_countries")->nitems, 12);
	assert_int_equal(list(def, "disposable_domains")->nitems, 20);
	rules_def_free(def);
}

static void test_ruleset_large(void **st)
{
	enum { N = 3000 };
	rules_def *def = parse_generated(N, 0x5eed);
	int shadow = 0, disabled = 0, approve = 0, act = 0, combined = 0;
	int amount1000 = 0;
	strset *whens = strset_new();

	assert_int_equal(def->nrules, N);
	for (int i = 0; i < N; i++) {
		const rules_rule_def *r = &def->rules[i];

		shadow += r->mode == RULES_MODE_SHADOW;
		disabled += r->mode == RULES_MODE_DISABLED;
		if (r->action == RULES_ACT_APPROVE) {
			approve++;
			assert_int_equal(r->score, 0);
		} else {
			act += r->action != RULES_ACT_NONE;
			assert_in_range(r->score, 5, 40);
		}
		combined += strstr(r->when, " and ") || strstr(r->when, " or ");
		amount1000 += strstr(r->when, "amount > 1000") != NULL;
		assert_non_null(r->reason);
		assert_int_equal(strset_add(whens, r->when, strlen(r->when)),
				 0);
	}
	assert_in_range(shadow, N * 3 / 100, N * 7 / 100);      /* 5 % */
	assert_in_range(disabled, N * 1 / 100, N * 3 / 100);    /* 2 % */
	assert_in_range(act, N * 2 / 100, N * 4 / 100);         /* 3 % */
	assert_in_range(approve, 5, 30);                        /* 0.5 % */
	/* Single conditions are few once each is used (no duplicates). */
	assert_in_range(combined, N * 9 / 10, N - 20);
	/* Sub-expressions repeat as in real rule sets; whole rules do not. */
	assert_true(amount1000 >= 30);
	assert_int_equal(strset_count(whens), N);
	strset_free(whens);
	rules_def_free(def);
}

static void test_ruleset_deterministic(void **st)
{
	char *a = gen_ruleset_json(200, 9), *b = gen_ruleset_json(200, 9);
	char *c = gen_ruleset_json(200, 10);

	assert_string_equal(a, b);
	assert_true(strcmp(a, c) != 0);
	assert_null(gen_ruleset_json(0, 9));   /* a rule set has rules */
	assert_null(gen_ruleset_json(-1, 9));
	rk_free(a);
	rk_free(b);
	rk_free(c);
}

static void test_ruleset_oom(void **st)
{
	long n;
	char *t = NULL;

	for (n = 0; n < 10000 && !t; n++) {
		rk_alloc_fail_after(n);
		t = gen_ruleset_json(50, 3);
	}
	rk_alloc_fail_after(-1);
	assert_non_null(t);
	assert_true(n > 3);
	char *ok = gen_ruleset_json(50, 3);

	assert_string_equal(t, ok);
	rk_free(t);
	rk_free(ok);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rng_known_answers),
		cmocka_unit_test(test_rng_ranges),
		cmocka_unit_test(test_lognormal_median),
		cmocka_unit_test(test_zipf_skew),
		cmocka_unit_test(test_events_deterministic),
		cmocka_unit_test(test_events_valid),
		cmocka_unit_test(test_event_errors),
		cmocka_unit_test(test_envelope),
		cmocka_unit_test(test_entities),
		cmocka_unit_test(test_block_list_hits),
		cmocka_unit_test(test_ruleset_small),
		cmocka_unit_test(test_ruleset_large),
		cmocka_unit_test(test_ruleset_deterministic),
		cmocka_unit_test(test_ruleset_oom),
	};

	rk_cjson_hooks();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
