/*
 * hist.h - a log-linear latency histogram (HdrHistogram's idea, written
 * small): values below 256 are exact; above, each power of two is split
 * into 128 sub-buckets, so any recorded value is reported within 0.8 %
 * (< 1 %). Fixed size, no allocation after init; merge by adding.
 * Used by riskload; values are plain integers (riskload records µs).
 */
#ifndef RK_HIST_H
#define RK_HIST_H

#include <stdint.h>

#define HIST_SUB 128                        /* sub-buckets per power of 2 */
#define HIST_LINEAR 256                     /* exact values below this */
#define HIST_BUCKETS (HIST_LINEAR + (64 - 8) * HIST_SUB)

typedef struct hist {
	uint64_t count;
	uint64_t max;
	uint64_t min;
	double sum;
	uint64_t b[HIST_BUCKETS];
} hist;

void hist_init(hist *h);
void hist_record(hist *h, uint64_t v);
/* Adds every count of src into dst. */
void hist_merge(hist *dst, const hist *src);
/* The value at quantile q (0..1): the upper edge of its bucket capped at
 * the maximum recorded, so it never understates. 0 when empty. */
uint64_t hist_quantile(const hist *h, double q);
double hist_mean(const hist *h);

#endif
