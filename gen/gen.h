/*
 * gen.h - deterministic workload generators: realistic payment events and
 * rule sets of realistic shapes, for benchmarks (bench/), tests and the
 * load tester (`riskload --gen payments`). rng.c holds the seeded PRNG
 * and the Zipf and log-normal samplers; eventgen.c the payment world
 * (cards, users, IPs, devices, the vocabulary the rule sets test);
 * rulegen.c the rule-set files (SPEC §4). Same seed, same bytes.
 */
#ifndef GEN_H
#define GEN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* ---- random numbers (rng.c) ---- */

/* xoshiro256** state, seeded through splitmix64. */
typedef struct gen_rng {
	uint64_t s[4];
} gen_rng;

void gen_rng_seed(gen_rng *r, uint64_t seed);
uint64_t gen_rng_next(gen_rng *r);
/* Uniform in [0, n) without modulo bias; 0 when n is 0. */
uint64_t gen_rng_below(gen_rng *r, uint64_t n);
/* Uniform double in [0, 1). */
double gen_rng_unit(gen_rng *r);
/* True with probability p. */
bool gen_rng_chance(gen_rng *r, double p);
/* Standard normal deviate. */
double gen_rng_normal(gen_rng *r);
/* exp(N(mu, sigma)): median exp(mu). */
double gen_rng_lognormal(gen_rng *r, double mu, double sigma);
/* Index in [0, n) drawn with the given non-negative weights. */
int gen_rng_weighted(gen_rng *r, const double *w, int n);

/* One step of splitmix64: a good 64-bit mix of x (stateless hashing). */
uint64_t gen_mix64(uint64_t x);

/*
 * Zipf over ranks 1..n with exponent s > 0: P(k) ~ 1 / k^s. Rejection-
 * inversion sampling (Hormann and Derflinger): O(1) per draw, no table,
 * so n may be millions. Fill with gen_zipf_init, then draw.
 */
typedef struct gen_zipf {
	uint64_t n;
	double s;
	double h_x1, h_n, sdiv;
} gen_zipf;

/* 0, or RK_EINVAL for n == 0 or s <= 0. */
int gen_zipf_init(gen_zipf *z, uint64_t n, double s);
/* A rank in 1..n (1 the most frequent). */
uint64_t gen_zipf_draw(const gen_zipf *z, gen_rng *r);

/* ---- payment events (eventgen.c) ---- */

/*
 * The payment world. Entities are drawn Zipf-skewed from pools; an
 * entity's attributes (a card's BIN and country, a user's e-mail and
 * age, an IP's country) follow from its index, so they agree across
 * events. gen_params_default fills the defaults and prepares the
 * samplers; after changing a count or an exponent, call
 * gen_params_prepare again.
 */
typedef struct gen_params {
	uint32_t ncards;        /* 100,000 */
	uint32_t nusers;        /* 50,000 */
	uint32_t nemails;       /* 60,000 e-mail addresses */
	uint32_t nips;          /* 200,000 IPv4 addresses per country */
	uint32_t ndevices;      /* 80,000 */
	uint32_t nmerchants;    /* 2,000 */
	double zipf_s;          /* exponent of every entity pool, 1.0 */
	double amount_median;   /* 40.0 (log-normal over all events) */
	double amount_sigma;    /* 0.7: spread around the card's own typical
				 * amount (itself log-normal, sigma 0.8) */
	double blocked_ip_rate; /* events from an IP of the block list, 0.005 */
	double risky_net_rate;  /* events from a risky CIDR range, 0.01 */
	double foreign_ip_rate; /* IP country differs from the card's, 0.05 */
	double ipv6_rate;       /* IPv6 client addresses, 0.05 */
	int64_t t0;             /* epoch seconds of the first timestamp */
	int64_t span_s;         /* timestamps spread over [t0, t0 + span) */
	/* Filled by gen_params_prepare. */
	bool prepared;
	gen_zipf z_card, z_user, z_email, z_ip, z_device, z_merchant, z_sku;
} gen_params;

void gen_params_default(gen_params *p);
/* 0, or RK_EINVAL when a count is 0 or zipf_s <= 0. */
int gen_params_prepare(gen_params *p);

/*
 * Writes one payment event (a JSON object, ~600 bytes) into buf. Returns
 * its length (without the NUL), RK_ELIMIT if cap is too small (buf then
 * holds a truncated, NUL-terminated prefix), RK_EINVAL if p is not
 * prepared. 1,024 bytes always suffice.
 */
int gen_event_json(gen_rng *r, const gen_params *p, char *buf, size_t cap);
/* The same, as rk_malloc'd text (NULL on allocation failure). */
char *gen_event_text(gen_rng *r, const gen_params *p);

/* What gen_envelope_json adds around the event. */
enum {
	GEN_ENV_FEATURES = 1,   /* "features": {"card": {..}, "user": {..}} */
	GEN_ENV_VELOCITY = 2,   /* "velocity": {"card_txn_1h": n, ...} */
};

/*
 * A request envelope {"scenario": S, "event": {...}} (SPEC §6); flags
 * add the "features" and "velocity" objects of `riskctl score` and
 * /v1/simulate, with values consistent with the event's card and user.
 * Same return values as gen_event_json; 2,048 bytes always suffice.
 */
int gen_envelope_json(gen_rng *r, const gen_params *p, const char *scenario,
		      int flags, char *buf, size_t cap);
/* The same, as rk_malloc'd text (NULL on allocation failure). */
char *gen_envelope_text(gen_rng *r, const gen_params *p,
			const char *scenario, int flags);

/*
 * Entity keys and stored features, for seeding a feature store: card i
 * (0-based) has id gen_card_id(i) and features gen_card_features_json(i).
 * Return the length written, or RK_ELIMIT.
 */
int gen_card_id(uint32_t i, char *buf, size_t cap);
int gen_user_id(uint32_t i, char *buf, size_t cap);
int gen_card_features_json(uint32_t i, char *buf, size_t cap);
int gen_user_features_json(uint32_t i, char *buf, size_t cap);

/*
 * The vocabulary shared with rule sets: the j-th entry of the lists that
 * gen_ruleset_json writes. Events draw from the same entries at the rates
 * of gen_params, so list rules do match. Return the length, or RK_ELIMIT.
 */
#define GEN_NBLOCKED_IPS 5000
#define GEN_NBLOCKED_EMAILS 2000
#define GEN_NBLOCKED_BINS 300
#define GEN_NRISKY_CIDRS 200
int gen_blocked_ip(uint32_t j, char *buf, size_t cap);
int gen_blocked_email(uint32_t j, char *buf, size_t cap);
int gen_blocked_bin(uint32_t j, char *buf, size_t cap);
int gen_risky_cidr(uint32_t j, char *buf, size_t cap);

/* Small fixed pools (NULL-terminated arrays). */
extern const char *const gen_high_risk_countries[];
extern const char *const gen_disposable_domains[];
extern const char *const gen_cidr_literals[];   /* in_cidr("...") pool */
extern const char *const gen_bin_prefixes[];    /* starts_with pool */

/* ---- rule sets (rulegen.c) ---- */

/*
 * A complete, valid rule-set file (SPEC §4, scenario "payments") with
 * features card and user, four velocity definitions, the lists above and
 * nrules rules of realistic shapes and frequencies, sharing thresholds
 * and sub-expressions as real rule sets do. Returns rk_malloc'd JSON
 * text, or NULL on allocation failure or nrules < 1 (SPEC: a rule set
 * has rules).
 */
char *gen_ruleset_json(int nrules, uint64_t seed);

#endif
