/*
 * hist.c - log-linear histogram; see hist.h for the bucket layout and
 * the error bound.
 */
#include "hist.h"

#include <string.h>

void hist_init(hist *h)
{
	memset(h, 0, sizeof(*h));
	h->min = UINT64_MAX;
}

static unsigned bucket_of(uint64_t v)
{
	if (v < HIST_LINEAR)
		return (unsigned)v;
	unsigned e = 63u - (unsigned)__builtin_clzll(v);     /* >= 8 */
	unsigned sub = (unsigned)(v >> (e - 7)) & (HIST_SUB - 1);
	return HIST_LINEAR + (e - 8) * HIST_SUB + sub;
}

/* The largest value that falls in bucket i. */
static uint64_t bucket_top(unsigned i)
{
	if (i < HIST_LINEAR)
		return i;
	unsigned e = (i - HIST_LINEAR) / HIST_SUB + 8;
	uint64_t sub = (i - HIST_LINEAR) % HIST_SUB;
	uint64_t base = (1ULL << e) + (sub << (e - 7));
	return base + (1ULL << (e - 7)) - 1;
}

void hist_record(hist *h, uint64_t v)
{
	h->b[bucket_of(v)]++;
	h->count++;
	h->sum += (double)v;
	if (v > h->max)
		h->max = v;
	if (v < h->min)
		h->min = v;
}

void hist_merge(hist *dst, const hist *src)
{
	for (unsigned i = 0; i < HIST_BUCKETS; i++)
		dst->b[i] += src->b[i];
	dst->count += src->count;
	dst->sum += src->sum;
	if (src->max > dst->max)
		dst->max = src->max;
	if (src->min < dst->min)
		dst->min = src->min;
}

uint64_t hist_quantile(const hist *h, double q)
{
	if (!h->count)
		return 0;
	if (q >= 1)
		return h->max;
	uint64_t rank = (uint64_t)(q * (double)h->count);
	if (rank >= h->count)
		rank = h->count - 1;
	uint64_t seen = 0;
	for (unsigned i = 0; i < HIST_BUCKETS; i++) {
		seen += h->b[i];
		if (seen > rank) {
			uint64_t top = bucket_top(i);
			return top < h->max ? top : h->max;
		}
	}
	return h->max;
}

double hist_mean(const hist *h)
{
	return h->count ? h->sum / (double)h->count : 0;
}
