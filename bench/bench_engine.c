/*
 * bench_engine.c - micro-benchmarks of the rule engine (`make bench`):
 * compile time, compiled footprint and evaluation time per event for
 * generated rule sets of 100 to 10,000 rules of realistic shapes against
 * ~600-byte payment events, plus request JSON parsing and response
 * building. Every figure is the median of several timed runs.
 * Usage: bench_engine [--quick]
 */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/rk.h"
#include "rules/rules.h"

/* ---- a small seeded generator (splitmix64) ---- */

static uint64_t seed = 0x5eed;

static uint64_t rnd(void)
{
	uint64_t z = (seed += 0x9e3779b97f4a7c15ULL);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static int pick(int n)
{
	return (int)(rnd() % (uint64_t)n);
}

/* Skewed pick: small indices much more likely (Zipf-like). */
static int skew(int n)
{
	double u = (double)(rnd() >> 11) / 9007199254740992.0;
	return (int)((double)n * u * u * u);
}

static const char *const countries[] = {"US", "GB", "DE", "FR", "BR", "IN",
	"NG", "RU", "CN", "CA", "MX", "ES", "IT", "NL", "KP", "IR"};
static const char *const bins[] = {"457173", "411111", "552233", "378282",
	"601100", "535522", "492910", "400000", "510510", "371449"};
static const char *const domains[] = {"gmail.com", "yahoo.com", "outlook.com",
	"icloud.com", "mailinator.com", "proton.me", "guerrillamail.com",
	"yopmail.com", "example.org", "corp.example.com"};
static const char *const regexes[] = {"^[a-z]+[0-9]{4,}@", "^test", "[+].*@",
	"[0-9]{6,}", "^.{1,3}@", "(casino|bet|crypto)", "^[^@]+[.][^@]+@",
	"@(mailinator|yopmail)[.]", "^admin@", "[A-Z]{5,}"};
static const char *const oses[] = {"ios", "android", "windows", "macos", "linux"};
static const int amounts[] = {10000, 7500, 5000, 3000, 2500, 2000, 1500, 1000,
	750, 500, 250, 100};

/* One condition of a realistic shape, into b. */
static int cond(char *b, size_t n)
{
	switch (pick(16)) {
	case 0: case 1: case 2:
		return snprintf(b, n, "amount > %d", amounts[skew(12)]);
	case 3:
		return snprintf(b, n, "ip_country in @high_risk_countries");
	case 4:
		return snprintf(b, n, "billing.country != card.country");
	case 5:
		return snprintf(b, n, "card.bin in @blocked_bins");
	case 6:
		return snprintf(b, n, "email_domain(user.email) in @disposable_domains");
	case 7:
		return snprintf(b, n, "matches(user.email, \"%s\")", regexes[skew(10)]);
	case 8:
		return pick(2) ? snprintf(b, n, "in_cidr(ip, @risky_cidrs)")
			       : snprintf(b, n, "in_cidr(ip, \"203.0.%d.0/24\")", pick(64));
	case 9:
		return snprintf(b, n, "distance_km(geo.lat, geo.lon, ip_geo.lat, "
			       "ip_geo.lon) > %d", 100 * (1 + skew(20)));
	case 10:
		return snprintf(b, n, "features.card.chargebacks_90d > %d", skew(4));
	case 11:
		return snprintf(b, n, "velocity.card_txn_1h >= %d", 3 + skew(10));
	case 12:
		return snprintf(b, n, "user.age_days < %d", 1 + skew(14));
	case 13:
		return snprintf(b, n, "ip_country == \"%s\"", countries[skew(16)]);
	case 14:
		return snprintf(b, n, "device.os == \"%s\" and len(items) > %d",
				oses[pick(5)], 1 + skew(4));
	default:
		return snprintf(b, n, "ip in @blocked_ips");
	}
}

/* A complete rule-set file of nrules generated rules (JSON text). */
static char *gen_ruleset(int nrules)
{
	size_t cap = (size_t)nrules * 400 + 400000, o = 0;
	char *b = malloc(cap);
	o += (size_t)snprintf(b + o, cap - o,
		"{\"scenario\": \"payments\", \"thresholds\": {\"review\": 60, "
		"\"decline\": 90}, \"features\": [{\"name\": \"card\", \"key\": "
		"\"{card.id}\"}, {\"name\": \"user\", \"key\": \"{user.id}\"}], "
		"\"velocity\": [{\"name\": \"card_txn_1h\", \"entity\": \"card.id\", "
		"\"window\": \"1h\", \"agg\": \"count\"}], \"lists\": {"
		"\"high_risk_countries\": [\"KP\", \"IR\", \"NG\", \"RU\"], "
		"\"disposable_domains\": [\"mailinator.com\", \"guerrillamail.com\", "
		"\"yopmail.com\"], \"risky_cidrs\": [");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s\"198.%d.%d.0/24\"", i ? "," : "",
				      18 + i / 250, i % 250);
	o += (size_t)snprintf(b + o, cap - o, "], \"blocked_bins\": [");
	for (int i = 0; i < 500; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s\"%06d\"", i ? "," : "",
				      400000 + i * 37);
	o += (size_t)snprintf(b + o, cap - o, "], \"blocked_ips\": [");
	for (int i = 0; i < 5000; i++)
		o += (size_t)snprintf(b + o, cap - o, "%s\"203.0.%d.%d\"", i ? "," : "",
				      i / 250, i % 250);
	o += (size_t)snprintf(b + o, cap - o, "]}, \"rules\": [");
	for (int i = 0; i < nrules; i++) {
		char c1[200], c2[200], c3[200];
		cond(c1, sizeof(c1));
		int parts = pick(10) < 2 ? 1 : pick(10) < 6 ? 2 : 3;
		cond(c2, sizeof(c2));
		cond(c3, sizeof(c3));
		const char *mode = pick(100) < 5 ? "shadow" : pick(100) < 2 ? "disabled"
									 : "active";
		const char *action = pick(1000) < 30 ? (pick(2) ? "decline" : "review")
						     : NULL;
		o += (size_t)snprintf(b + o, cap - o, "%s{\"id\": \"r%d\", \"when\": \"",
				      i ? "," : "", i);
		if (pick(200) == 0)  /* a narrow allow-list rule */
			o += (size_t)snprintf(b + o, cap - o, "merchant.id == \\\"m_%d\\\" "
					      "and amount < 20", pick(50));
		else if (parts == 1)
			o += (size_t)snprintf(b + o, cap - o, "%s", c1);
		else if (parts == 2)
			o += (size_t)snprintf(b + o, cap - o, "%s and %s", c1, c2);
		else if (pick(2))
			o += (size_t)snprintf(b + o, cap - o, "%s and (%s or %s)", c1, c2, c3);
		else
			o += (size_t)snprintf(b + o, cap - o, "%s and %s and %s", c1, c2, c3);
		/* Escape the quotes of the condition text for JSON. */
		o += (size_t)snprintf(b + o, cap - o, "\", \"score\": %d, \"mode\": \"%s\"%s%s%s}",
				      5 + pick(36), mode, action ? ", \"action\": \"" : "",
				      action ? action : "", action ? "\"" : "");
	}
	snprintf(b + o, cap - o, "]}");
	return b;
}

/* Generated conditions hold raw quotes: escape them inside "when". */
static char *fix_quotes(char *txt)
{
	size_t n = strlen(txt), o = 0;
	char *out = malloc(n * 2 + 1);
	bool in_when = false;
	for (size_t i = 0; i < n; i++) {
		if (!in_when && !strncmp(txt + i, "\"when\": \"", 9)) {
			memcpy(out + o, txt + i, 9);
			o += 9;
			i += 8;
			in_when = true;
			continue;
		}
		if (in_when && !strncmp(txt + i, "\", \"score\"", 10)) {
			in_when = false;
		} else if (in_when && txt[i] == '"' && (i == 0 || txt[i - 1] != '\\')) {
			out[o++] = '\\';
		}
		out[o++] = txt[i];
	}
	out[o] = '\0';
	free(txt);
	return out;
}

/* A standard normal deviate (Box-Muller). */
static double gauss(void)
{
	double u = ((double)(rnd() >> 11) + 1) / 9007199254740993.0;
	double v = (double)(rnd() >> 11) / 9007199254740992.0;
	return sqrt(-2 * log(u)) * cos(2 * M_PI * v);
}

/* A payment event: log-normal amounts (median ~40), skewed entities,
 * mostly consistent geography, a few risky IPs. */
static char *gen_event(char *b, size_t n)
{
	int card = skew(100000), user = skew(50000);
	const char *dom = domains[skew(10)];
	const char *cc = countries[skew(16)];
	double lat = 30.0 + pick(300) / 10.0, lon = -120.0 + pick(400) / 10.0;
	bool far = pick(20) == 0;
	snprintf(b, n,
		 "{\"amount\": %.2f, \"currency\": \"USD\", \"channel\": \"web\", "
		 "\"ip\": \"%s.%d.%d\", \"ip_country\": \"%s\", "
		 "\"merchant\": {\"id\": \"m_%d\", \"mcc\": %d, \"country\": \"US\"}, "
		 "\"card\": {\"id\": \"card_%d\", \"bin\": \"%s\", \"country\": \"%s\", "
		 "\"type\": \"credit\"}, \"billing\": {\"country\": \"%s\", \"postal\": "
		 "\"94103\"}, \"user\": {\"id\": \"u_%d\", \"email\": \"jane%d@%s\", "
		 "\"age_days\": %d, \"phone_verified\": true}, \"device\": {\"id\": "
		 "\"d_%d\", \"os\": \"%s\", \"fingerprint\": \"fp%08x\"}, \"geo\": "
		 "{\"lat\": %.4f, \"lon\": %.4f}, \"ip_geo\": {\"lat\": %.4f, \"lon\": %.4f}, "
		 "\"items\": [{\"sku\": \"A%d\", \"qty\": 1, \"price\": %d}, {\"sku\": "
		 "\"B%d\", \"qty\": 2, \"price\": 19.5}], \"timestamp\": "
		 "\"2026-11-28T10:%02d:00Z\", \"headers\": {\"user-agent\": "
		 "\"Mozilla/5.0\"}}",
		 exp(3.7 + 1.2 * gauss()), pick(100) ? "198.51" : "203.0", pick(4),
		 pick(250), pick(20) ? cc : countries[skew(16)], pick(60),
		 5411 + pick(9), card, bins[skew(10)], cc,
		 pick(20) ? cc : countries[skew(16)], user, pick(9999), dom,
		 pick(3000), skew(80000), oses[pick(5)], (unsigned)rnd(), lat, lon,
		 far ? lat + 20 : lat + 0.1, far ? lon + 30 : lon - 0.1, pick(500),
		 10 + skew(2000), pick(500), pick(60));
	return b;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(double), cmp_double);
	return v[n / 2];
}

#define NEVENTS 2000

int main(int argc, char **argv)
{
	bool quick = argc > 1 && !strcmp(argv[1], "--quick");
	int runs = quick ? 3 : 7;
	rk_cjson_hooks();
	static char evbuf[NEVENTS][1024];
	cJSON *events[NEVENTS];
	cJSON *feat = cJSON_Parse("{\"card\": {\"chargebacks_90d\": 0}, "
				  "\"user\": {\"account_age_days\": 40}}");
	cJSON *vel = cJSON_Parse("{\"card_txn_1h\": 2}");
	size_t total = 0;
	for (int i = 0; i < NEVENTS; i++) {
		gen_event(evbuf[i], sizeof(evbuf[i]));
		total += strlen(evbuf[i]);
		events[i] = cJSON_Parse(evbuf[i]);
	}
	printf("events: %d generated, mean %zu bytes\n\n", NEVENTS, total / NEVENTS);
	printf("%-7s %11s %12s %12s %9s\n", "rules", "compile ms", "footprint KB",
	       "eval ns/evt", "hits/evt");
	const int sizes[] = {100, 1000, 3000, 10000};
	double eval_ns[4] = {0};
	for (int si = 0; si < 4; si++) {
		int n = sizes[si];
		seed = 0x5eed + (uint64_t)n;
		char *txt = fix_quotes(gen_ruleset(n));
		double ct[9];
		rules_set *s = NULL;
		for (int r = 0; r < runs; r++) {
			rk_diags d;
			rk_diags_init(&d);
			int64_t t0 = rk_now_ns();
			rules_def *def = rules_def_parse(txt, strlen(txt), &d);
			rules_set *c = def ? rules_compile(def, NULL, &d) : NULL;
			ct[r] = (double)(rk_now_ns() - t0) / 1e6;
			if (!c) {
				rk_diags_print(&d, "generated", stderr);
				return 1;
			}
			rules_def_free(def);
			rk_diags_cleanup(&d);
			if (s)
				rules_set_free(s);
			s = c;
		}
		rules_frame *f = rules_frame_new(s);
		rules_result res;
		long hits = 0;
		for (int i = 0; i < NEVENTS; i++) {  /* warm up */
			rules_input in = {events[i], feat, vel, false};
			rules_eval(s, f, &in, &res);
			hits += res.nhits;
		}
		double et[9];
		int iters = quick ? NEVENTS : 5 * NEVENTS;
		for (int r = 0; r < runs; r++) {
			int64_t t0 = rk_now_ns();
			for (int i = 0; i < iters; i++) {
				rules_input in = {events[i % NEVENTS], feat, vel, false};
				rules_eval(s, f, &in, &res);
			}
			et[r] = (double)(rk_now_ns() - t0) / iters;
		}
		eval_ns[si] = median(et, runs);
		printf("%-7d %11.2f %12zu %12.0f %9.1f\n", n, median(ct, runs),
		       rules_set_footprint(s) / 1024, eval_ns[si],
		       (double)hits / NEVENTS);
		rules_frame_free(f);
		rules_set_free(s);
		free(txt);
	}
	printf("\neval(10000) / eval(3000) = %.2f (target <= 2.5)\n",
	       eval_ns[3] / eval_ns[2]);
	printf("eval(3000) = %.1f us (target <= 10 us)\n", eval_ns[2] / 1000);

	/* Request parsing and response building. */
	char env[1200];
	snprintf(env, sizeof(env), "{\"scenario\": \"payments\", \"deadline_ms\": 50, "
		 "\"event\": %s}", evbuf[0]);
	double pt[9], bt[9];
	seed = 0x5eed + 3000;
	char *txt = fix_quotes(gen_ruleset(3000));
	rk_diags d;
	rk_diags_init(&d);
	rules_def *def = rules_def_parse(txt, strlen(txt), &d);
	rules_set *s = rules_compile(def, NULL, &d);
	rules_frame *f = rules_frame_new(s);
	rules_result res;
	rules_input in = {events[0], feat, vel, false};
	rules_eval(s, f, &in, &res);
	for (int r = 0; r < runs; r++) {
		int64_t t0 = rk_now_ns();
		for (int i = 0; i < 20000; i++)
			cJSON_Delete(cJSON_ParseWithLength(env, strlen(env)));
		pt[r] = (double)(rk_now_ns() - t0) / 20000;
		t0 = rk_now_ns();
		for (int i = 0; i < 20000; i++) {
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "request_id", "req-1");
			rules_result_to_json(s, &res, o);
			char *out = cJSON_PrintUnformatted(o);
			cJSON_free(out);
			cJSON_Delete(o);
		}
		bt[r] = (double)(rk_now_ns() - t0) / 20000;
	}
	printf("request JSON parse (%zu bytes): %.0f ns; response build (%d reasons): "
	       "%.0f ns\n", strlen(env), median(pt, runs), res.nhits, median(bt, runs));
	rules_frame_free(f);
	rules_set_free(s);
	rules_def_free(def);
	rk_diags_cleanup(&d);
	free(txt);
	for (int i = 0; i < NEVENTS; i++)
		cJSON_Delete(events[i]);
	cJSON_Delete(feat);
	cJSON_Delete(vel);
	return 0;
}
