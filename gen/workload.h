/*
 * workload.h - generated payment events and rule sets for benchmarks and
 * the load tester (gen/workload.c). Deterministic for a seed.
 */
#ifndef GEN_WORKLOAD_H
#define GEN_WORKLOAD_H

#include <stddef.h>
#include <stdint.h>

/* Seeds this thread's generator. */
void gen_seed(uint64_t seed);
/* Writes one ~700-byte payment event (a JSON object) into b; returns b. */
char *gen_event(char *b, size_t n);
/* A complete rule-set file (scenario "payments") of nrules generated
 * rules with its lists, as JSON text; caller frees with rk_free. */
char *gen_ruleset(int nrules, uint64_t seed);

#endif
