/*
 * eventgen.c - the payment world behind generated events: countries with
 * weights, centroids and address blocks; cards, users, e-mails, IPs,
 * devices and merchants drawn Zipf-skewed, each with attributes that
 * follow from its index; the block lists and CIDR ranges rule sets test
 * (rulegen.c writes them). Random numbers from rng.c; contracts in gen.h.
 */
#include "gen.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "common/rk.h"

/* ---- the vocabulary ---- */

struct country {
	const char *code;
	double weight;     /* share of cards issued there */
	double lat, lon;   /* centroid */
	double spread;     /* degrees of jitter around the centroid */
	const char *currency;
};

static const struct country countries[] = {
	{"US", 30.0, 39.8, -98.6, 6.0, "USD"},
	{"GB", 8.0, 53.5, -1.9, 1.5, "GBP"},
	{"DE", 7.0, 51.1, 10.4, 1.5, "EUR"},
	{"FR", 6.0, 46.6, 2.4, 1.8, "EUR"},
	{"CA", 4.0, 49.0, -95.0, 6.0, "CAD"},
	{"BR", 4.0, -12.0, -49.0, 5.0, "BRL"},
	{"IN", 4.0, 22.0, 78.0, 4.0, "INR"},
	{"ES", 3.0, 40.2, -3.6, 1.5, "EUR"},
	{"IT", 3.0, 42.8, 12.5, 1.5, "EUR"},
	{"NL", 2.5, 52.2, 5.3, 0.5, "EUR"},
	{"AU", 2.5, -27.0, 140.0, 6.0, "AUD"},
	{"MX", 2.0, 23.6, -102.5, 3.0, "MXN"},
	{"JP", 2.0, 36.2, 138.3, 2.0, "JPY"},
	{"SE", 1.5, 60.1, 15.0, 2.0, "SEK"},
	{"PL", 1.5, 52.0, 19.1, 1.2, "PLN"},
	{"TR", 1.0, 39.0, 35.2, 2.0, "TRY"},
	{"NG", 1.0, 9.1, 8.7, 2.0, "NGN"},
	{"RU", 1.0, 56.0, 45.0, 6.0, "RUB"},
	{"UA", 0.8, 49.0, 31.4, 2.0, "UAH"},
	{"RO", 0.8, 45.9, 24.9, 1.2, "RON"},
	{"PH", 0.8, 12.9, 121.8, 2.0, "PHP"},
	{"ID", 0.8, -2.5, 118.0, 4.0, "IDR"},
	{"VN", 0.6, 16.0, 107.8, 2.0, "VND"},
	{"PK", 0.5, 30.4, 69.3, 2.0, "PKR"},
	{"CN", 0.5, 35.9, 104.2, 5.0, "CNY"},
	{"VE", 0.3, 7.1, -66.6, 2.0, "VES"},
	{"BY", 0.3, 53.7, 27.9, 1.0, "BYN"},
	{"GH", 0.3, 7.9, -1.0, 1.0, "GHS"},
	{"IR", 0.1, 32.4, 53.7, 3.0, "IRR"},
	{"KP", 0.02, 40.3, 127.5, 0.8, "KPW"},
};
#define NCOUNTRIES ((int)RK_ARRAY_LEN(countries))

const char *const gen_high_risk_countries[] = {"KP", "IR", "SY", "CU", "VE",
	"NG", "RU", "BY", "MM", "AF", "YE", "SD", NULL};

const char *const gen_disposable_domains[] = {"mailinator.com",
	"guerrillamail.com", "yopmail.com", "10minutemail.com", "trashmail.com",
	"tempmail.dev", "sharklasers.com", "getnada.com", "dispostable.com",
	"maildrop.cc", "throwawaymail.com", "fakeinbox.com", "mintemail.com",
	"mohmal.com", "emailondeck.com", "spamgourmet.com", "temp-mail.org",
	"burnermail.io", "mailnesia.com", "moakt.com", NULL};

const char *const gen_cidr_literals[] = {"203.0.113.0/24", "198.51.100.0/24",
	"192.0.2.0/24", "185.220.100.0/22", "45.155.205.0/24",
	"91.240.118.0/24",
	"5.188.0.0/16", "194.26.192.0/24", "141.98.10.0/24", "80.82.77.0/24",
	"89.248.160.0/21", "2001:db8::/32", NULL};

const char *const gen_bin_prefixes[] = {"4571", "4532", "4147", "5167",
	"5221", "5424", "6011", "3714", "4895", "4041", "5552", "4000", NULL};

/* BINs cards are issued from; the last two are also on the block list. */
static const char *const bins[] = {"457173", "453201", "476173", "492181",
	"414720", "426684", "438857", "400115", "516732", "522182", "535316",
	"542418", "555243", "601100", "371449", "378282", "356600", "622126",
	"510510", "431940", "446542", "489504", "404159"};
static const double bin_w[] = {9, 8, 7, 7, 6, 6, 5, 5, 6, 5, 4, 4, 3, 3, 4,
	3, 2, 2, 2, 2, 2, 0.3, 0.2};

static const char *const card_types[] = {"credit", "debit", "prepaid"};
static const double card_type_w[] = {55, 38, 7};

static const char *const first_names[] = {"james", "mary", "john",
	"patricia", "robert", "jennifer", "michael", "linda", "william",
	"elizabeth", "david", "barbara", "richard", "susan", "joseph",
	"jessica",
	"thomas", "sarah", "charles", "karen", "daniel", "nancy", "matthew",
	"lisa", "anthony", "betty", "mark", "margaret", "paul", "sandra",
	"steven", "ashley", "andrew", "emily", "kenji", "priya", "lucas",
	"sofia", "mohamed", "olga"};
static const char *const last_names[] = {"smith", "johnson", "williams",
	"brown", "jones", "garcia", "miller", "davis", "rodriguez", "martinez",
	"hernandez", "lopez", "gonzalez", "wilson", "anderson", "thomas",
	"taylor", "moore", "jackson", "martin", "lee", "perez", "thompson",
	"white", "harris", "sanchez", "clark", "ramirez", "lewis", "robinson",
	"walker", "young", "allen", "king", "wright", "scott", "muller",
	"rossi", "kowalski", "tanaka"};
static const char *const words[] = {"sunny", "blue", "bear", "wolf", "star",
	"happy", "dark", "tiger", "moon", "river", "pixel", "ninja", "coffee",
	"lucky", "rocket", "shadow"};

static const char *const domains[] = {"gmail.com", "yahoo.com",
	"outlook.com", "hotmail.com", "icloud.com", "aol.com", "proton.me",
	"gmx.de", "web.de", "orange.fr", "mail.ru", "yandex.ru", "qq.com",
	"comcast.net", "live.com", "example.com"};
static const double domain_w[] = {40, 11, 10, 6, 8, 2, 2.5, 2, 1.5, 1.5, 1,
	1, 0.8, 1.2, 1.5, 3};
#define DISPOSABLE_RATE 0.02

static const char *const oses[] = {"android", "ios", "windows", "macos",
	"linux", "unknown"};
static const double os_w[] = {40, 35, 15, 8, 1.5, 0.5};
static const char *const user_agents[] = {
	"Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36",
	"Mozilla/5.0 (iPhone; CPU iPhone OS 17_1_2 like Mac OS X) "
	"AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 "
	"Safari/604.1",
	"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
	"(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
	"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
	"(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
	"Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 "
	"Firefox/121.0",
	"python-requests/2.31.0",
};

static const int mccs[] = {5411, 5812, 5999, 5732, 5691, 5942, 4814, 7011,
	4511, 5967, 7995, 4829, 6051, 5816, 5735};
static const double mcc_w[] = {20, 15, 14, 9, 9, 5, 5, 5, 4, 3, 2, 2, 1.5,
	4, 2.5};

static const char *const channels[] = {"web", "app", "pos", "moto"};
static const double channel_w[] = {36, 52, 7, 5};

/* Salts so each entity kind hashes independently. */
enum { S_CARD = 1, S_USER, S_EMAIL, S_IP, S_DEV, S_MERCH, S_BLOCK_IP,
       S_BLOCK_EMAIL, S_BLOCK_BIN, S_CIDR, S_FEAT };

static uint64_t hash2(uint64_t salt, uint64_t i)
{
	return gen_mix64((salt << 40) ^ gen_mix64(i));
}

/* Weighted choice driven by a hash instead of a generator. */
static int hpick(uint64_t h, const double *w, int n)
{
	gen_rng r;

	gen_rng_seed(&r, h);
	return gen_rng_weighted(&r, w, n);
}

static bool is_high_risk(const char *cc)
{
	for (int i = 0; gen_high_risk_countries[i]; i++)
		if (!strcmp(gen_high_risk_countries[i], cc))
			return true;
	return false;
}

/* Where cards are issued (cw) and where foreign IPs come from (fw):
 * foreign IPs lean to high-risk countries, as fraud does. */
static void country_weights(double *cw, double *fw)
{
	for (int i = 0; i < NCOUNTRIES; i++) {
		cw[i] = countries[i].weight;
		fw[i] = countries[i].weight *
			(is_high_risk(countries[i].code) ? 8.0 : 1.0);
	}
}

/* ---- a bounded writer ---- */

typedef struct wbuf {
	char *b;
	size_t cap, len;
	bool over;
} wbuf;

static void __attribute__((format(printf, 2, 3)))
w_printf(wbuf *w, const char *fmt, ...)
{
	va_list ap;
	size_t room = w->len < w->cap ? w->cap - w->len : 0;

	va_start(ap, fmt);
	int n = vsnprintf(w->b + w->len, room, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= room) {
		w->over = true;
		w->len = w->cap ? w->cap - 1 : 0;
		return;
	}
	w->len += (size_t)n;
}

static int w_done(const wbuf *w)
{
	return w->over ? RK_ELIMIT : (int)w->len;
}

/* ---- params ---- */

void gen_params_default(gen_params *p)
{
	memset(p, 0, sizeof(*p));
	p->ncards = 100000;
	p->nusers = 50000;
	p->nemails = 60000;
	p->nips = 200000;
	p->ndevices = 80000;
	p->nmerchants = 2000;
	p->zipf_s = 1.0;
	p->amount_median = 40.0;
	p->amount_sigma = 0.7;
	p->blocked_ip_rate = 0.005;
	p->risky_net_rate = 0.01;
	p->foreign_ip_rate = 0.05;
	p->ipv6_rate = 0.05;
	p->t0 = 1795000000;   /* 2026-11-18 */
	p->span_s = 86400;
	gen_params_prepare(p);
}

int gen_params_prepare(gen_params *p)
{
	int rc = 0;

	p->prepared = false;
	if (!(p->amount_median > 0) || p->span_s < 0)
		return RK_EINVAL;
	rc |= gen_zipf_init(&p->z_card, p->ncards, p->zipf_s);
	rc |= gen_zipf_init(&p->z_user, p->nusers, p->zipf_s);
	rc |= gen_zipf_init(&p->z_email, p->nemails, p->zipf_s);
	rc |= gen_zipf_init(&p->z_ip, p->nips, p->zipf_s);
	rc |= gen_zipf_init(&p->z_device, p->ndevices, p->zipf_s);
	rc |= gen_zipf_init(&p->z_merchant, p->nmerchants, p->zipf_s);
	rc |= gen_zipf_init(&p->z_sku, 20000, p->zipf_s);
	if (rc)
		return RK_EINVAL;
	p->prepared = true;
	return 0;
}

/* ---- entities: attributes follow from the index ---- */

static uint32_t draw(const gen_zipf *z, gen_rng *r)
{
	return (uint32_t)(gen_zipf_draw(z, r) - 1);
}

int gen_card_id(uint32_t i, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "card_%u", i);

	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

int gen_user_id(uint32_t i, char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "user_%u", i);

	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

static int card_country(uint32_t card, const double *cw)
{
	return hpick(hash2(S_CARD, card), cw, NCOUNTRIES);
}

static int user_age_days(uint32_t user)
{
	uint64_t h = hash2(S_USER, user);
	unsigned b = (unsigned)(h % 1000);

	if (user < 200)   /* the busiest customers are long-standing ones */
		b = 100 + b % 900;
	if (b < 40)                       /* 4 %: brand new */
		return (int)((h >> 10) % 3);
	if (b < 100)                      /* 6 %: under a month */
		return 3 + (int)((h >> 10) % 27);
	/* log-uniform from a month to ten years */
	double u = (double)((h >> 10) % 100000) / 100000.0;
	return (int)(30.0 * exp(u * log(3650.0 / 30.0)));
}

/* The e-mail address of pool entry e. */
static void email_text(uint32_t e, wbuf *w)
{
	uint64_t h = hash2(S_EMAIL, e);
	const char *f = first_names[h % RK_ARRAY_LEN(first_names)];
	const char *l = last_names[(h >> 8) % RK_ARRAY_LEN(last_names)];
	/* Every 12th entry is a random-looking, unique address (the block
	 * list draws from those); the others follow common habits. */
	unsigned shape = e % 12 == 5 ? 100 : (unsigned)((h >> 16) % 92);
	unsigned num = (unsigned)((h >> 24) % 1000000);
	const char *dom;

	if ((double)((h >> 44) % 10000) < DISPOSABLE_RATE * 10000) {
		int nd = 0;

		while (gen_disposable_domains[nd])
			nd++;
		dom = gen_disposable_domains[(h >> 36) % (unsigned)nd];
	} else {
		dom = domains[hpick(h ^ 0xd0, domain_w,
				    (int)RK_ARRAY_LEN(domain_w))];
	}
	if (shape < 35)
		w_printf(w, "%s.%s", f, l);
	else if (shape < 55)
		w_printf(w, "%s%c%02u", f, l[0], num % 100);
	else if (shape < 67)
		w_printf(w, "%s%u", f, 1000 + num % 99000);
	else if (shape < 82)
		w_printf(w, "%c%s", f[0], l);
	else if (shape < 90)
		w_printf(w, "%s_%s%u", words[num % 16], words[(num >> 4) % 16],
			 num % 10);
	else if (shape < 92)
		w_printf(w, "%s.%s+shop", f, l);
	else if (shape < 100)
		w_printf(w, "%s.%s%u", f, l, num % 100);
	else {
		static const char al[] = "abcdefghijklmnopqrstuvwxyz0123456789";
		char s[11];

		for (int i = 0; i < 10; i++)
			s[i] = al[(h >> (i * 5)) % 36];
		s[10] = '\0';
		w_printf(w, "%s", s);
	}
	w_printf(w, "@%s", dom);
}

/* IPv4 blocks per country: first octet 11 + 3c .. 13 + 3c. */
static void ip_text(int c, uint32_t idx, bool v6, wbuf *w)
{
	uint64_t h = hash2(S_IP, ((uint64_t)c << 32) | idx);

	if (v6)
		w_printf(w, "2a%02x:%x:%x:%x::%x", c, (unsigned)(h & 0xffff),
			 (unsigned)((h >> 16) & 0xffff),
			 (unsigned)((h >> 32) & 0xffff),
			 (unsigned)((h >> 48) & 0xffff) | 1);
	else
		w_printf(w, "%u.%u.%u.%u", 11 + 3 * (unsigned)c +
			 (unsigned)(h % 3), (unsigned)((h >> 8) & 255),
			 (unsigned)((h >> 16) & 255),
			 1 + (unsigned)((h >> 24) % 254));
}

int gen_blocked_ip(uint32_t j, char *buf, size_t cap)
{
	/* An odd multiplier permutes 24 bits: distinct, scattered. */
	uint32_t x = (j * 0x9e3779u + 0x5bd1e9u) & 0xffffffu;
	int n = snprintf(buf, cap, "185.%u.%u.%u", x >> 16, (x >> 8) & 255,
			 x & 255);

	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

int gen_blocked_email(uint32_t j, char *buf, size_t cap)
{
	wbuf w = {buf, cap, 0, false};

	email_text(12005 + j * 24, &w);   /* unique, past the head */
	return w_done(&w);
}

int gen_blocked_bin(uint32_t j, char *buf, size_t cap)
{
	int n;

	if (j < 2) {   /* the two rare issuing BINs at the end of bins[] */
		n = snprintf(buf, cap, "%s", bins[RK_ARRAY_LEN(bins) - 2 + j]);
	} else {
		uint64_t h = hash2(S_BLOCK_BIN, j);

		n = snprintf(buf, cap, "%u%05u", 3 + (unsigned)(h % 4),
			     (unsigned)((h >> 8) % 100000));
	}
	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

/* Risky range j: mostly /24, every 10th a /16, every 25th an IPv6 /32.
 * *plen receives the prefix length, the base address goes to w. */
static void risky_net(uint32_t j, wbuf *w, int *plen, uint64_t *h_out)
{
	static const unsigned o1s[] = {176, 178, 179, 181, 188, 193, 194, 195};
	uint64_t h = hash2(S_CIDR, j);

	*h_out = h;
	if (j % 25 == 1) {
		*plen = 32;
		w_printf(w, "2a0c:%x::", (unsigned)(h & 0xffff));
	} else if (j % 10 == 0) {
		*plen = 16;
		w_printf(w, "%u.%u.0.0", o1s[h % 8],
			 (unsigned)((h >> 8) & 255));
	} else {
		*plen = 24;
		w_printf(w, "%u.%u.%u.0", o1s[h % 8],
			 (unsigned)((h >> 8) & 255),
			 (unsigned)((h >> 16) & 255));
	}
}

int gen_risky_cidr(uint32_t j, char *buf, size_t cap)
{
	wbuf w = {buf, cap, 0, false};
	int plen;
	uint64_t h;

	risky_net(j, &w, &plen, &h);
	w_printf(&w, "/%d", plen);
	return w_done(&w);
}

/* An address inside risky range j. */
static void risky_addr(uint32_t j, gen_rng *r, wbuf *w)
{
	static const unsigned o1s[] = {176, 178, 179, 181, 188, 193, 194, 195};
	uint64_t h = hash2(S_CIDR, j), x = gen_rng_next(r);

	if (j % 25 == 1)
		w_printf(w, "2a0c:%x:%x::%x", (unsigned)(h & 0xffff),
			 (unsigned)(x & 0xffff),
			 (unsigned)((x >> 16) & 0xffff) | 1);
	else if (j % 10 == 0)
		w_printf(w, "%u.%u.%u.%u", o1s[h % 8],
			 (unsigned)((h >> 8) & 255), (unsigned)(x & 255),
			 1 + (unsigned)((x >> 8) % 254));
	else
		w_printf(w, "%u.%u.%u.%u", o1s[h % 8],
			 (unsigned)((h >> 8) & 255),
			 (unsigned)((h >> 16) & 255),
			 1 + (unsigned)((x >> 8) % 254));
}

/* An address inside one of the in_cidr("...") literals. */
static void literal_addr(gen_rng *r, wbuf *w)
{
	static const unsigned char nets[][3] = {{203, 0, 113}, {198, 51, 100},
		{192, 0, 2}, {185, 220, 101}, {45, 155, 205}, {91, 240, 118},
		{5, 188, 62}, {194, 26, 192}, {141, 98, 10}, {80, 82, 77},
		{89, 248, 163}};
	unsigned k = (unsigned)gen_rng_below(r, RK_ARRAY_LEN(nets));

	w_printf(w, "%u.%u.%u.%u", nets[k][0], nets[k][1], nets[k][2],
		 1 + (unsigned)gen_rng_below(r, 254));
}

/* The median spend of card i (log-normal over cards, median 40). */
static double card_typical(uint32_t i)
{
	gen_rng r;

	gen_rng_seed(&r, hash2(S_CARD, i) ^ 5);
	return gen_rng_lognormal(&r, log(40.0), 0.8);
}

int gen_card_features_json(uint32_t i, char *buf, size_t cap)
{
	uint64_t h = hash2(S_FEAT, i);
	gen_rng r;
	int cb = 0, dec = 0;

	gen_rng_seed(&r, h);
	static const double dw[] = {60, 25, 10, 5};
	static const int dlo[] = {1, 2, 3, 5}, dn[] = {1, 1, 2, 4};

	if (gen_rng_chance(&r, 0.015))
		cb = 1 + (int)gen_rng_below(&r, 3);
	if (gen_rng_chance(&r, 0.08)) {
		int k = gen_rng_weighted(&r, dw, 4);

		dec = dlo[k] + (int)gen_rng_below(&r, (uint64_t)dn[k]);
	}
	int txn = (int)gen_rng_lognormal(&r, log(8.0), 1.0);
	/* The mean of the card's log-normal spend, measured with noise. */
	double avg = card_typical(i) * exp(0.7 * 0.7 / 2) *
		     gen_rng_lognormal(&r, 0, 0.1);

	avg = round(avg * 100) / 100;
	int n = snprintf(buf, cap, "{\"chargebacks_90d\":%d,\"declines_7d\":%d,"
			 "\"txn_count_30d\":%d,\"avg_amount_30d\":%.2f}",
			 cb, dec, txn, avg);

	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

int gen_user_features_json(uint32_t i, char *buf, size_t cap)
{
	uint64_t h = hash2(S_FEAT, (uint64_t)i | (1ULL << 40));
	gen_rng r;

	gen_rng_seed(&r, h);
	int disputes = gen_rng_chance(&r, 0.03) ? 1 + (int)gen_rng_below(&r, 2)
						 : 0;
	int orders = (int)gen_rng_lognormal(&r, log(6.0), 1.1);
	int n = snprintf(buf, cap, "{\"account_age_days\":%d,"
			 "\"disputes_180d\":%d,\"orders_90d\":%d}",
			 user_age_days(i), disputes, orders);

	return n < 0 || (size_t)n >= cap ? RK_ELIMIT : n;
}

/* ---- one event ---- */

/* What an event drew, for the envelope's features and velocity. */
struct drawn {
	uint32_t card, user;
	double amount;
};

static double jitter(gen_rng *r, double spread)
{
	return spread * gen_rng_normal(r);
}

static double clampd(double x, double lo, double hi)
{
	return x < lo ? lo : x > hi ? hi : x;
}

static void write_items(gen_rng *r, const gen_params *p, double amount,
			wbuf *w)
{
	static const double nw[] = {65, 22, 9, 4};
	static const double qw[] = {80, 13, 5, 2};
	static const int qv[] = {1, 2, 3, 5};
	int n = 1 + gen_rng_weighted(r, nw, 4);
	double share[4], tot = 0;

	for (int i = 0; i < n; i++)
		tot += share[i] = gen_rng_unit(r) + 0.2;
	w_printf(w, "\"items\":[");
	for (int i = 0; i < n; i++) {
		int q = qv[gen_rng_weighted(r, qw, 4)];
		double price = round(amount * share[i] / tot / q * 100) / 100;

		w_printf(w, "%s{\"sku\":\"SKU-%u\",\"qty\":%d,\"price\":%.2f}",
			 i ? "," : "", draw(&p->z_sku, r), q,
			 price < 0.01 ? 0.01 : price);
	}
	w_printf(w, "]");
}

/* Browsers on the web, the shop's own app, terminals; a few scripts. */
static void write_user_agent(gen_rng *r, int channel, int os, wbuf *w)
{
	if (gen_rng_chance(r, 0.01))
		w_printf(w, "%s", user_agents[5]);
	else if (channel == 1)
		w_printf(w, "ShopApp/5.%d.%d (%s)", (int)gen_rng_below(r, 4),
			 (int)gen_rng_below(r, 10),
			 os == 1 ? "iOS 17.1" : "Android 14");
	else if (channel >= 2)
		w_printf(w, "PayGateway/2.3 (%s)",
			 channel == 2 ? "pos" : "moto");
	else
		w_printf(w, "%s", user_agents[os < 5 ? os : 2]);
}

static void write_timestamp(gen_rng *r, const gen_params *p, wbuf *w)
{
	time_t t = (time_t)(p->t0 + (int64_t)gen_rng_below(r,
				(uint64_t)(p->span_s > 0 ? p->span_s : 1)));
	struct tm tm;
	char ts[32];

	gmtime_r(&t, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%SZ", &tm);
	w_printf(w, "\"timestamp\":\"%s\"", ts);
}

static void write_event(gen_rng *r, const gen_params *p, wbuf *w,
			struct drawn *d)
{
	uint32_t card = draw(&p->z_card, r), user = draw(&p->z_user, r);
	uint32_t email = draw(&p->z_email, r), dev = draw(&p->z_device, r);
	uint32_t midx = draw(&p->z_merchant, r), merch;
	uint64_t hc = hash2(S_CARD, card), hd = hash2(S_DEV, dev), hm;
	double country_w[NCOUNTRIES], foreign_w[NCOUNTRIES];

	country_weights(country_w, foreign_w);
	int cc = card_country(card, country_w), bc = cc, ic = cc, mc, ch;
	/* Each card spends around its own typical amount. */
	double amount = p->amount_median / 40.0 * card_typical(card) *
			gen_rng_lognormal(r, 0, p->amount_sigma);

	amount = round(clampd(amount, 0.5, 25000.0) * 100) / 100;
	d->card = card;
	d->user = user;
	d->amount = amount;
	/* Most payments are domestic; merchants are pools per country, the
	 * cross-border ones in the big markets. Risky merchant categories
	 * live in the tail, not among the busiest merchants. */
	mc = gen_rng_chance(r, 0.85) ? cc : gen_rng_weighted(r, country_w, 6);
	merch = (uint32_t)mc * p->nmerchants + midx;
	hm = hash2(S_MERCH, merch);
	if (gen_rng_chance(r, 0.03))
		bc = gen_rng_weighted(r, country_w, NCOUNTRIES);
	if (gen_rng_chance(r, p->foreign_ip_rate))
		ic = gen_rng_weighted(r, foreign_w, NCOUNTRIES);

	ch = gen_rng_weighted(r, channel_w, 4);
	w_printf(w, "{\"amount\":%.2f,\"currency\":\"%s\",\"channel\":\"%s\",",
		 amount, countries[mc].currency, channels[ch]);
	write_timestamp(r, p, w);
	w_printf(w, ",\"merchant\":{\"id\":\"m_%u\",\"mcc\":%d,"
		 "\"country\":\"%s\"},", merch,
		 mccs[hpick(hm ^ 1, mcc_w, midx < 50 ? 10
					 : (int)RK_ARRAY_LEN(mcc_w))],
		 countries[mc].code);
	w_printf(w, "\"card\":{\"id\":\"card_%u\",\"bin\":\"%s\","
		 "\"country\":\"%s\",\"type\":\"%s\"},", card,
		 bins[hpick(hc ^ 2, bin_w, (int)RK_ARRAY_LEN(bin_w))],
		 countries[cc].code,
		 card_types[hpick(hc ^ 3, card_type_w, 3)]);
	w_printf(w, "\"user\":{\"id\":\"user_%u\",\"email\":\"", user);
	email_text(email, w);
	w_printf(w, "\",\"age_days\":%d,\"phone_verified\":%s},",
		 user_age_days(user),
		 hash2(S_USER, user) % 100 < 82 ? "true" : "false");

	/* The client address: block list, risky range, literal, or home. */
	double u = gen_rng_unit(r);

	w_printf(w, "\"ip\":\"");
	if (u < p->blocked_ip_rate) {
		char ip[32];

		gen_blocked_ip((uint32_t)gen_rng_below(r, GEN_NBLOCKED_IPS), ip,
			       sizeof(ip));
		w_printf(w, "%s", ip);
		ic = gen_rng_weighted(r, foreign_w, NCOUNTRIES);
	} else if (u < p->blocked_ip_rate + p->risky_net_rate) {
		risky_addr((uint32_t)gen_rng_below(r, GEN_NRISKY_CIDRS), r, w);
		ic = gen_rng_weighted(r, foreign_w, NCOUNTRIES);
	} else if (u < p->blocked_ip_rate + p->risky_net_rate + 0.003) {
		literal_addr(r, w);
	} else {
		ip_text(ic, draw(&p->z_ip, r), gen_rng_chance(r, p->ipv6_rate),
			w);
	}
	w_printf(w, "\",\"ip_country\":\"%s\",", countries[ic].code);

	int os = hpick(hd, os_w, (int)RK_ARRAY_LEN(os_w));

	w_printf(w, "\"device\":{\"id\":\"d_%u\",\"os\":\"%s\","
		 "\"fingerprint\":\"%012llx\"},", dev, oses[os],
		 (unsigned long long)(gen_mix64(hd) >> 16));
	w_printf(w, "\"billing\":{\"country\":\"%s\",\"postal\":\"%05u\"},",
		 countries[bc].code, (unsigned)((hc >> 20) % 100000));

	/* The cardholder's home, near the billing country's centroid; the
	 * IP's location is near home unless the IP is abroad. */
	gen_rng hr;

	gen_rng_seed(&hr, hc ^ 4);
	double lat = countries[bc].lat + jitter(&hr, countries[bc].spread);
	double lon = countries[bc].lon + jitter(&hr, countries[bc].spread);
	double ilat, ilon;

	if (ic == bc) {
		ilat = lat + jitter(r, 0.2);
		ilon = lon + jitter(r, 0.2);
	} else {
		ilat = countries[ic].lat + jitter(r, countries[ic].spread);
		ilon = countries[ic].lon + jitter(r, countries[ic].spread);
	}
	w_printf(w, "\"geo\":{\"lat\":%.3f,\"lon\":%.3f},"
		 "\"ip_geo\":{\"lat\":%.2f,\"lon\":%.2f},",
		 clampd(lat, -89.9, 89.9), clampd(lon, -179.9, 179.9),
		 clampd(ilat, -89.9, 89.9), clampd(ilon, -179.9, 179.9));
	write_items(r, p, amount, w);
	w_printf(w, ",\"headers\":{\"user-agent\":\"");
	write_user_agent(r, ch, os, w);
	w_printf(w, "\"}}");
}

int gen_event_json(gen_rng *r, const gen_params *p, char *buf, size_t cap)
{
	wbuf w = {buf, cap, 0, false};
	struct drawn d;

	if (!p->prepared || !buf || !cap)
		return RK_EINVAL;
	write_event(r, p, &w, &d);
	return w_done(&w);
}

/* Velocity before this event: mostly quiet, a few bursts. */
static void write_velocity(gen_rng *r, const struct drawn *d, wbuf *w)
{
	static const double tw[] = {70, 15, 8, 4, 3};
	static const int tlo[] = {0, 1, 2, 3, 5}, thi[] = {0, 1, 2, 4, 15};
	int k = gen_rng_weighted(r, tw, 5);
	int txn = tlo[k] +
		  (int)gen_rng_below(r, (uint64_t)(thi[k] - tlo[k] + 1));
	double sum = 0;

	for (int i = 0; i < txn + (int)gen_rng_below(r, 3); i++)
		sum += round(gen_rng_lognormal(r, log(40.0), 1.2) * 100) / 100;
	int ipc = gen_rng_chance(r, 0.85) ? 1 : gen_rng_chance(r, 0.8) ? 2
		  : 3 + (int)gen_rng_below(r, 18);
	int ut = gen_rng_chance(r, 0.85) ? 0 : gen_rng_chance(r, 0.65) ? 1
		 : 2 + (int)gen_rng_below(r, 7);

	w_printf(w, ",\"velocity\":{\"card_txn_1h\":%d,"
		 "\"card_amount_24h\":%.2f,"
		 "\"ip_cards_1d\":%d,\"user_txn_10m\":%d}", txn, sum, ipc, ut);
	RK_UNUSED(d);
}

int gen_envelope_json(gen_rng *r, const gen_params *p, const char *scenario,
		      int flags, char *buf, size_t cap)
{
	wbuf w = {buf, cap, 0, false};
	struct drawn d;
	char f[256];

	if (!p->prepared || !buf || !cap || !scenario ||
	    strpbrk(scenario, "\"\\"))
		return RK_EINVAL;
	w_printf(&w, "{\"scenario\":\"%s\",\"event\":", scenario);
	write_event(r, p, &w, &d);
	if (flags & GEN_ENV_FEATURES) {
		gen_card_features_json(d.card, f, sizeof(f));
		w_printf(&w, ",\"features\":{\"card\":%s", f);
		gen_user_features_json(d.user, f, sizeof(f));
		w_printf(&w, ",\"user\":%s}", f);
	}
	if (flags & GEN_ENV_VELOCITY)
		write_velocity(r, &d, &w);
	w_printf(&w, "}");
	return w_done(&w);
}

char *gen_event_text(gen_rng *r, const gen_params *p)
{
	char buf[1024];
	int n = gen_event_json(r, p, buf, sizeof(buf));

	return n < 0 ? NULL : rk_strndup(buf, (size_t)n);
}

char *gen_envelope_text(gen_rng *r, const gen_params *p,
			const char *scenario, int flags)
{
	char buf[2048];
	int n = gen_envelope_json(r, p, scenario, flags, buf, sizeof(buf));

	return n < 0 ? NULL : rk_strndup(buf, (size_t)n);
}
