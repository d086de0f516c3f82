/*
 * rulegen.c - generated rule-set files (SPEC §4) for the "payments"
 * scenario: features, velocity, the block lists of eventgen.c and N rules
 * of the shapes real fraud teams write, at realistic frequencies, with
 * thresholds and constants drawn from small pools so sub-expressions
 * repeat across rules as they do in production. Used by bench/, tests
 * and the load tester; random numbers from rng.c.
 */
#include "gen.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "common/rk.h"
#include "common/strset.h"

/* ---- a growable text buffer ---- */

typedef struct sbuf {
	char *b;
	size_t len, cap;
	bool oom;
} sbuf;

static bool sb_reserve(sbuf *s, size_t more)
{
	if (s->oom)
		return false;
	if (s->len + more + 1 <= s->cap)
		return true;
	size_t cap = s->cap ? s->cap : 4096;

	while (cap < s->len + more + 1)
		cap *= 2;
	char *nb = rk_realloc(s->b, cap);

	if (!nb) {
		s->oom = true;
		return false;
	}
	s->b = nb;
	s->cap = cap;
	return true;
}

static void __attribute__((format(printf, 2, 3)))
sb_printf(sbuf *s, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	int n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || !sb_reserve(s, (size_t)n))
		return;
	va_start(ap, fmt);
	vsnprintf(s->b + s->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	s->len += (size_t)n;
}

/* Appends str as a JSON string literal (quotes and escapes). */
static void sb_jstr(sbuf *s, const char *str)
{
	if (!sb_reserve(s, strlen(str) * 2 + 2))
		return;
	s->b[s->len++] = '"';
	for (const char *c = str; *c; c++) {
		if (*c == '"' || *c == '\\')
			s->b[s->len++] = '\\';
		s->b[s->len++] = *c;
	}
	s->b[s->len++] = '"';
	s->b[s->len] = '\0';
}

/* ---- pools: what real rule sets reuse ---- */

struct ipool {
	const int *v;
	const double *w;
	int n;
};
#define IPOOL(name, ...) \
	static const int name##_v[] = {__VA_ARGS__}; \
	static const struct ipool name = {name##_v, NULL, \
					  (int)RK_ARRAY_LEN(name##_v)}

/* Amount thresholds: round numbers, 500 and 1000 above all. */
static const int amount_v[] = {100, 200, 250, 300, 500, 750, 1000, 1500, 2000,
	2500, 3000, 5000, 10000};
static const double amount_w[] = {2, 2, 3, 3, 9, 4, 10, 6, 5, 3, 3, 3, 2};
static const struct ipool amounts = {amount_v, amount_w, 13};
IPOOL(distances, 300, 500, 1000, 2000, 5000);
/*
 * Velocity thresholds are those of a load test, not of real time: at
 * thousands of events per second over a skewed key space the hottest
 * cards see hundreds of events a minute, so thresholds of a few per hour
 * would make every velocity rule fire on most events (measured: 76 %
 * declines, 19 reasons per answer; 45 % with thresholds of hundreds).
 * These fire on the hottest entities only, as card-testing bursts would.
 */
IPOOL(card_txn, 2000, 5000, 10000, 20000);
IPOOL(card_sum, 1000000, 2500000, 5000000);
IPOOL(ip_cards, 1000, 2000, 5000);
IPOOL(user_txn, 1000, 2000);
IPOOL(age_days, 30, 14, 7, 3, 1);   /* the strong end is the young end */
IPOOL(feat_age, 7, 3, 1);
IPOOL(declines, 2, 3, 5);
IPOOL(n_items, 2, 3);
IPOOL(item_price, 200, 500, 1000);
IPOOL(item_qty, 3, 5);
IPOOL(avg_mult, 3, 5, 10);

static const char *const risky_ip_countries[] = {"NG", "RU", "VE", "BY",
	"UA", "RO"};
static const char *const tlds[] = {".ru", ".xyz", ".top"};
/* E-mail patterns: a handful, reused by many rules. */
static const char *const patterns[] = {"^[a-z]+[0-9]{4,}@",
	"^[a-z0-9]{10}@", "[+]", "^[a-z]_[a-z]+[0-9]@", "[0-9]{6,}",
	"^(test|fake|asdf)", "^[^@]{1,3}@", "(casino|bet|crypto)",
	"@(mail|yandex)[.]ru$", "^[a-z]+[.][a-z]+@"};
static const double pattern_w[] = {30, 15, 12, 8, 8, 6, 6, 5, 5, 5};

static int pick_w(gen_rng *r, const double *w, int n)
{
	return gen_rng_weighted(r, w, n);
}

/* A value from a pool; strong picks from the upper half. */
static int pool(gen_rng *r, const struct ipool *p, bool strong)
{
	int lo = strong ? p->n / 2 : 0;

	if (p->w)
		return p->v[lo + pick_w(r, p->w + lo, p->n - lo)];
	return p->v[lo + (int)gen_rng_below(r, (uint64_t)(p->n - lo))];
}

/* A uniform pick from a NULL-terminated array. */
static const char *any_of(gen_rng *r, const char *const *a)
{
	uint64_t n = 0;

	while (a[n])
		n++;
	return a[gen_rng_below(r, n)];
}

/* ---- conditions ---- */

enum cat { C_AMOUNT, C_COUNTRY, C_BIN, C_EMAIL, C_NET, C_DIST, C_FEAT,
	   C_VEL, C_USER, C_DEVICE, C_ITEMS, C_MERCH, NCAT };

static const double cat_w[NCAT] = {18, 14, 8, 9, 8, 5, 10, 12, 7, 4, 4, 5};
static const char *const cat_tag[NCAT] = {"amount", "country", "bin",
	"email", "network", "distance", "history", "velocity", "account",
	"device", "basket", "merchant"};
static const char *const cat_reason[NCAT] = {"High amount",
	"Country risk", "Risky BIN", "Suspicious e-mail", "Risky network",
	"Location mismatch", "Bad history", "High velocity", "New account",
	"Suspicious device", "Unusual basket", "Risky merchant"};

/* Writes one boolean condition of category c into b (n bytes). A strong
 * condition is selective enough to stand alone as a rule. */
static void cond(gen_rng *r, int c, bool strong, char *b, size_t n)
{
	unsigned k = (unsigned)gen_rng_below(r, 100);

	switch (c) {
	case C_AMOUNT:
		if (!strong && k < 5)
			snprintf(b, n, "amount < 2");
		else if (k < 8)
			snprintf(b, n, "amount > "
				 "features.card.avg_amount_30d * %d",
				 pool(r, &avg_mult, strong));
		else
			snprintf(b, n, "amount %s %d", k < 18 ? ">=" : ">",
				 pool(r, &amounts, strong));
		break;
	case C_COUNTRY:
		if (k < 35)
			snprintf(b, n, "ip_country in @high_risk_countries");
		else if (k < 50 && !strong)
			snprintf(b, n, "billing.country != card.country");
		else if (k < 65 && !strong)
			snprintf(b, n, "ip_country != card.country");
		else if (k < 80)
			snprintf(b, n, "card.country in @high_risk_countries");
		else if (k < 92)
			snprintf(b, n, "ip_country == \"%s\"",
				 risky_ip_countries[gen_rng_below(r, 6)]);
		else if (!strong)
			snprintf(b, n, "merchant.country != card.country");
		else
			snprintf(b, n, "ip_country == \"KP\"");
		break;
	case C_BIN:
		if (k < 45 || strong)
			snprintf(b, n, "card.bin in @blocked_bins");
		else if (k < 75)
			snprintf(b, n, "starts_with(card.bin, \"%s\")",
				 any_of(r, gen_bin_prefixes));
		else
			snprintf(b, n, "card.type == \"prepaid\"");
		break;
	case C_EMAIL:
		if (k < 35)
			snprintf(b, n, "email_domain(user.email) in "
				 "@disposable_domains");
		else if (k < 60 && !strong)
			snprintf(b, n, "matches(user.email, \"%s\")",
				 patterns[pick_w(r, pattern_w, 10)]);
		else if (k < 85)
			snprintf(b, n, "user.email in @blocked_emails");
		else if (k < 93)
			snprintf(b, n, "ends_with(user.email, \"%s\")",
				 tlds[gen_rng_below(r, 3)]);
		else
			snprintf(b, n, "email_domain(user.email) == "
				 "\"mail.ru\"");
		break;
	case C_NET:
		if (k < 35)
			snprintf(b, n, "in_cidr(ip, @risky_cidrs)");
		else if (k < 70)
			snprintf(b, n, "ip in @blocked_ips");
		else
			snprintf(b, n, "in_cidr(ip, \"%s\")",
				 any_of(r, gen_cidr_literals));
		break;
	case C_DIST:
		snprintf(b, n, "distance_km(geo.lat, geo.lon, ip_geo.lat, "
			 "ip_geo.lon) > %d", pool(r, &distances, strong));
		break;
	case C_FEAT:
		if (k < 30)
			snprintf(b, n, "features.card.chargebacks_90d > 0");
		else if (k < 50)
			snprintf(b, n, "features.user.account_age_days < %d",
				 pool(r, &feat_age, strong));
		else if (k < 70)
			snprintf(b, n, "features.card.declines_7d >= %d",
				 pool(r, &declines, strong));
		else if (k < 85)
			snprintf(b, n, "features.user.disputes_180d > 0");
		else
			snprintf(b, n, "features.card.txn_count_30d == 0");
		break;
	case C_VEL:
		if (k < 35)
			snprintf(b, n, "velocity.card_txn_1h >= %d",
				 pool(r, &card_txn, strong));
		else if (k < 60)
			snprintf(b, n, "velocity.card_amount_24h > %d",
				 pool(r, &card_sum, strong));
		else if (k < 85)
			snprintf(b, n, "velocity.ip_cards_1d > %d",
				 pool(r, &ip_cards, strong));
		else
			snprintf(b, n, "velocity.user_txn_10m >= %d",
				 pool(r, &user_txn, strong));
		break;
	case C_USER:
		if (k < 50 || strong)
			snprintf(b, n, "user.age_days < %d",
				 pool(r, &age_days, strong));
		else if (k < 80)
			snprintf(b, n, "user.phone_verified == false");
		else
			snprintf(b, n, "not user.phone_verified");
		break;
	case C_DEVICE:
		if (k < 20)
			snprintf(b, n, "device.os == \"linux\"");
		else if (k < 40)
			snprintf(b, n, "not exists(device.fingerprint)");
		else if (k < 70)
			snprintf(b, n, "contains(lower("
				 "headers[\"user-agent\"]), "
				 "\"python\")");
		else
			snprintf(b, n, "device.os in [\"linux\", \"unknown\"]");
		break;
	case C_ITEMS:
		if (k < 40)
			snprintf(b, n, "len(items) > %d",
				 pool(r, &n_items, strong));
		else if (k < 80)
			snprintf(b, n, "items[0].price > %d",
				 pool(r, &item_price, strong));
		else
			snprintf(b, n, "items[0].qty >= %d",
				 pool(r, &item_qty, strong));
		break;
	default:   /* C_MERCH */
		if (k < 35 || strong)
			snprintf(b, n, "merchant.mcc in [7995, 4829, 6051]");
		else if (k < 60)
			snprintf(b, n, "channel == \"moto\"");
		else if (k < 80)
			snprintf(b, n, "currency != \"USD\"");
		else
			snprintf(b, n, "channel == \"web\"");
		break;
	}
}

/* Categories strong enough for a rule of their own. */
static const double strong_w[NCAT] = {20, 10, 8, 9, 12, 0, 12, 14, 3, 3, 2,
	2};

/* ---- the file ---- */

static void header(sbuf *s)
{
	char item[64];

	sb_printf(s, "{\n\"scenario\": \"payments\",\n\"description\": "
		  "\"Card payments (generated)\",\n\"max_score\": 100,\n"
		  "\"thresholds\": {\"review\": 50, \"decline\": 80},\n"
		  "\"features\": [\n"
		  " {\"name\": \"card\", \"key\": \"{card.id}\", "
		  "\"ttl_ms\": 60000},\n"
		  " {\"name\": \"user\", \"key\": \"{user.id}\"}\n],\n"
		  "\"velocity\": [\n"
		  " {\"name\": \"card_txn_1h\", \"entity\": \"card.id\", "
		  "\"window\": \"1h\", \"agg\": \"count\"},\n"
		  " {\"name\": \"card_amount_24h\", \"entity\": \"card.id\", "
		  "\"window\": \"24h\", \"agg\": \"sum\", \"field\": "
		  "\"amount\"},\n"
		  " {\"name\": \"ip_cards_1d\", \"entity\": \"ip\", "
		  "\"window\": \"1d\", \"agg\": \"distinct\", \"field\": "
		  "\"card.id\"},\n"
		  " {\"name\": \"user_txn_10m\", \"entity\": \"user.id\", "
		  "\"window\": \"10m\", \"agg\": \"count\"}\n],\n"
		  "\"lists\": {\n");
	sb_printf(s, "\"high_risk_countries\": [");
	for (int i = 0; gen_high_risk_countries[i]; i++) {
		sb_printf(s, "%s", i ? ", " : "");
		sb_jstr(s, gen_high_risk_countries[i]);
	}
	sb_printf(s, "],\n\"disposable_domains\": [");
	for (int i = 0; gen_disposable_domains[i]; i++) {
		sb_printf(s, "%s", i ? ", " : "");
		sb_jstr(s, gen_disposable_domains[i]);
	}
	sb_printf(s, "],\n\"blocked_bins\": [");
	for (uint32_t j = 0; j < GEN_NBLOCKED_BINS; j++) {
		gen_blocked_bin(j, item, sizeof(item));
		sb_printf(s, "%s\"%s\"", j ? ", " : "", item);
	}
	sb_printf(s, "],\n\"risky_cidrs\": [");
	for (uint32_t j = 0; j < GEN_NRISKY_CIDRS; j++) {
		gen_risky_cidr(j, item, sizeof(item));
		sb_printf(s, "%s\"%s\"", j ? ", " : "", item);
	}
	sb_printf(s, "],\n\"blocked_emails\": [");
	for (uint32_t j = 0; j < GEN_NBLOCKED_EMAILS; j++) {
		gen_blocked_email(j, item, sizeof(item));
		sb_printf(s, "%s", j ? ", " : "");
		sb_jstr(s, item);
	}
	sb_printf(s, "],\n\"blocked_ips\": [");
	for (uint32_t j = 0; j < GEN_NBLOCKED_IPS; j++) {
		gen_blocked_ip(j, item, sizeof(item));
		sb_printf(s, "%s\"%s\"", j ? ", " : "", item);
	}
	sb_printf(s, "]\n},\n\"rules\": [\n");
}

/* Distinct categories for the conditions of one rule. */
static void pick_cats(gen_rng *r, int *cats, int n, int nstrong)
{
	for (int i = 0; i < n; i++) {
		int c;
		bool dup;

		do {
			c = pick_w(r, i < nstrong ? strong_w : cat_w, NCAT);
			dup = false;
			for (int j = 0; j < i; j++)
				dup |= cats[j] == c;
		} while (dup);
		cats[i] = c;
	}
}

static const int score_v[] = {5, 10, 15, 20, 25, 30, 35, 40};
static const double score_w[] = {10, 20, 15, 20, 10, 10, 5, 5};

/* One rule object, index i. Real rule sets share conditions but not
 * whole rules: a `when` already in seen is drawn again (a few times). */
static void rule(gen_rng *r, int i, sbuf *s, strset *seen)
{
	/* Shapes: 1 condition, A and B, A and B and C, A and (B or C),
	 * A or B, A and not B. */
	static const double shape_w[] = {35, 38, 12, 8, 5, 2};
	static const int shape_n[] = {1, 2, 3, 3, 2, 2};
	char c[3][256], when[800], id[64];
	int cats[3], tries = 0;
	int shape, n, action = 0;   /* 2 review, 3 decline */
	int score = score_v[pick_w(r, score_w, 8)];

	if (gen_rng_below(r, 1000) < 5) {   /* a narrow allow-list rule */
		/* Busy merchants first (ids below 50 are the busiest). */
		do
			snprintf(when, sizeof(when), "merchant.id == \"m_%u\" "
				 "and amount < %d", (unsigned)gen_rng_below(r,
				 50 + 50 * (uint64_t)tries),
				 gen_rng_chance(r, 0.5) ? 20 : 50);
		while (seen && strset_has(seen, when, strlen(when)) &&
		       ++tries < 20);
		if (seen && strset_add(seen, when, strlen(when)))
			s->oom = true;
		snprintf(id, sizeof(id), "allow_%05d", i);
		sb_printf(s, "%s {\"id\": \"%s\", \"name\": \"Trusted merchant "
			  "small basket\", \"when\": ", i ? ",\n" : "", id);
		sb_jstr(s, when);
		sb_printf(s, ", \"score\": 0, \"action\": \"approve\", "
			  "\"reason\": \"Allow-listed merchant\", "
			  "\"tags\": [\"allowlist\"]}");
		return;
	}
	shape = pick_w(r, shape_w, 6);
again:
	n = shape_n[shape];
	/* Every rule leads with a selective signal; the other conditions
	 * qualify it (an "or" needs both sides selective). */
	int nstrong = shape == 0 || shape == 4 ? n : 1;

	pick_cats(r, cats, n, nstrong);
	for (int k = 0; k < n; k++)
		cond(r, cats[k], k < nstrong, c[k], sizeof(c[k]));

	switch (shape) {
	case 0:
		snprintf(when, sizeof(when), "%s", c[0]);
		break;
	case 1:
		snprintf(when, sizeof(when), "%s and %s", c[0], c[1]);
		break;
	case 2:
		snprintf(when, sizeof(when), "%s and %s and %s", c[0], c[1],
			 c[2]);
		break;
	case 3:
		snprintf(when, sizeof(when), "%s and (%s or %s)", c[0], c[1],
			 c[2]);
		break;
	case 4:
		snprintf(when, sizeof(when), "%s or %s", c[0], c[1]);
		break;
	default:
		snprintf(when, sizeof(when), "%s and not (%s)", c[0], c[1]);
		break;
	}
	/* A taken `when`: new conditions of the same shape; once the
	 * single conditions run out, a combined shape instead. */
	if (seen && strset_has(seen, when, strlen(when)) && ++tries < 40) {
		if (shape == 0 && tries > 3)
			shape = 1 + pick_w(r, shape_w + 1, 5);
		else if (shape_n[shape] == 2 && tries > 8)
			shape = 2 + (int)gen_rng_below(r, 2);
		goto again;
	}
	if (seen && strset_add(seen, when, strlen(when)))
		s->oom = true;
	snprintf(id, sizeof(id), "r%05d_%s%s%s", i, cat_tag[cats[0]],
		 n > 1 ? "_" : "", n > 1 ? cat_tag[cats[1]] : "");
	sb_printf(s, "%s {\"id\": \"%s\", \"when\": ", i ? ",\n" : "", id);
	sb_jstr(s, when);
	if (gen_rng_below(r, 1000) < 30)
		action = gen_rng_chance(r, 0.5) ? 2 : 3;
	sb_printf(s, ", \"score\": %d", score);
	if (action)
		sb_printf(s, ", \"action\": \"%s\"", action == 3 ? "decline"
								   : "review");
	sb_printf(s, ", \"reason\": \"%s%s%s\"", cat_reason[cats[0]],
		  n > 1 ? " + " : "", n > 1 ? cat_reason[cats[1]] : "");
	unsigned m = (unsigned)gen_rng_below(r, 1000);

	if (m < 50)
		sb_printf(s, ", \"mode\": \"shadow\"");
	else if (m < 70)
		sb_printf(s, ", \"mode\": \"disabled\"");
	sb_printf(s, ", \"tags\": [\"%s\"]}", cat_tag[cats[0]]);
}

char *gen_ruleset_json(int nrules, uint64_t seed)
{
	sbuf s = {NULL, 0, 0, false};
	strset *seen;
	gen_rng r;

	if (nrules < 1)
		return NULL;
	seen = strset_new();
	if (!seen)
		return NULL;
	gen_rng_seed(&r, seed);
	header(&s);
	for (int i = 0; i < nrules; i++)
		rule(&r, i, &s, seen);
	sb_printf(&s, "\n]\n}\n");
	strset_free(seen);
	if (s.oom) {
		rk_free(s.b);
		return NULL;
	}
	return s.b;
}
