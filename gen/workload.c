/*
 * workload.c - realistic generated workloads, shared by `make bench`
 * (bench/bench_engine.c) and the load tester (loadtest/riskload.c):
 * payment events (log-normal amounts, Zipf-like skew over cards, users,
 * BINs and countries, mostly consistent geography) and rule sets of
 * realistic shapes with realistic reuse of constants. Deterministic for
 * a seed; the seed is per thread.
 */
#include "workload.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "../common/rk.h"

/* ---- a small seeded generator (splitmix64) ---- */

static _Thread_local uint64_t seed = 0x5eed;

void gen_seed(uint64_t s)
{
	seed = s;
}

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

/* The rule-set text before the quotes inside `when` are escaped. */
static char *ruleset_raw(int nrules)
{
	size_t cap = (size_t)nrules * 400 + 400000, o = 0;
	char *b = rk_malloc(cap);
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
	char *out = rk_malloc(n * 2 + 1);
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
	rk_free(txt);
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
char *gen_event(char *b, size_t n)
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

char *gen_ruleset(int nrules, uint64_t s)
{
	seed = s;
	char *raw = ruleset_raw(nrules);
	return raw ? fix_quotes(raw) : NULL;
}
