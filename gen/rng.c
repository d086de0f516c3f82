/*
 * rng.c - the generators' seeded random numbers: xoshiro256** seeded by
 * splitmix64, unbiased bounded integers, normal and log-normal deviates,
 * weighted choice and a table-free Zipf sampler (rejection-inversion).
 * Used by eventgen.c and rulegen.c; see gen.h for the contracts.
 */
#include "gen.h"

#include <math.h>

#include "common/rk.h"

uint64_t gen_mix64(uint64_t x)
{
	uint64_t z = x + 0x9e3779b97f4a7c15ULL;

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

void gen_rng_seed(gen_rng *r, uint64_t seed)
{
	/* splitmix64 stream from seed, as the xoshiro authors recommend. */
	for (int i = 0; i < 4; i++) {
		r->s[i] = gen_mix64(seed);
		seed += 0x9e3779b97f4a7c15ULL;
	}
}

static inline uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t gen_rng_next(gen_rng *r)
{
	uint64_t *s = r->s;
	uint64_t out = rotl(s[1] * 5, 7) * 9;
	uint64_t t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return out;
}

uint64_t gen_rng_below(gen_rng *r, uint64_t n)
{
	if (n == 0)
		return 0;
	/* Rejection of the partial top interval: exact uniformity. */
	uint64_t lim = UINT64_MAX - UINT64_MAX % n;
	uint64_t x;

	do
		x = gen_rng_next(r);
	while (x >= lim);
	return x % n;
}

double gen_rng_unit(gen_rng *r)
{
	return (double)(gen_rng_next(r) >> 11) * 0x1.0p-53;
}

bool gen_rng_chance(gen_rng *r, double p)
{
	return gen_rng_unit(r) < p;
}

double gen_rng_normal(gen_rng *r)
{
	/* Box-Muller; u in (0, 1] so the log is finite. */
	double u = 1.0 - gen_rng_unit(r);
	double v = gen_rng_unit(r);

	return sqrt(-2.0 * log(u)) * cos(2.0 * M_PI * v);
}

double gen_rng_lognormal(gen_rng *r, double mu, double sigma)
{
	return exp(mu + sigma * gen_rng_normal(r));
}

int gen_rng_weighted(gen_rng *r, const double *w, int n)
{
	double total = 0;

	for (int i = 0; i < n; i++)
		total += w[i];
	double x = gen_rng_unit(r) * total;

	for (int i = 0; i < n; i++) {
		if (x < w[i])
			return i;
		x -= w[i];
	}
	return n - 1;
}

/* ---- Zipf by rejection-inversion ----
 * W. Hormann, G. Derflinger, "Rejection-inversion to generate variates
 * from monotone discrete distributions" (1996). H is an integral of the
 * hat function h(x) = x^-s; helper1/helper2 keep it accurate near s = 1.
 */

static double helper1(double x)  /* log1p(x) / x */
{
	return fabs(x) > 1e-8 ? log1p(x) / x : 1.0 - x * (0.5 - x / 3.0);
}

static double helper2(double x)  /* expm1(x) / x */
{
	return fabs(x) > 1e-8 ? expm1(x) / x : 1.0 + x * 0.5 * (1.0 + x / 3.0);
}

static double zh(const gen_zipf *z, double x)
{
	return exp(-z->s * log(x));
}

static double zH(const gen_zipf *z, double x)
{
	double lx = log(x);

	return helper2((1.0 - z->s) * lx) * lx;
}

static double zHinv(const gen_zipf *z, double x)
{
	double t = x * (1.0 - z->s);

	if (t < -1.0)
		t = -1.0;
	return exp(helper1(t) * x);
}

int gen_zipf_init(gen_zipf *z, uint64_t n, double s)
{
	if (n == 0 || !(s > 0))
		return RK_EINVAL;
	z->n = n;
	z->s = s;
	z->h_x1 = zH(z, 1.5) - 1.0;
	z->h_n = zH(z, (double)n + 0.5);
	z->sdiv = 2.0 - zHinv(z, zH(z, 2.5) - zh(z, 2.0));
	return 0;
}

uint64_t gen_zipf_draw(const gen_zipf *z, gen_rng *r)
{
	for (;;) {
		double u = z->h_n + gen_rng_unit(r) * (z->h_x1 - z->h_n);
		double x = zHinv(z, u);
		double kf = floor(x + 0.5);
		uint64_t k;

		if (kf < 1)
			k = 1;
		else if (kf > (double)z->n)
			k = z->n;
		else
			k = (uint64_t)kf;
		if ((double)k - x <= z->sdiv ||
		    u >= zH(z, (double)k + 0.5) - zh(z, (double)k))
			return k;
	}
}
