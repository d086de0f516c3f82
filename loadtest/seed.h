/*
 * seed.h - riskload's --print-* outputs: the data other tools and
 * loadtest/setup.sh take from the generator (gen/gen.h). Each prints to
 * stdout and returns 0, or 1 on failure. Neighbour: riskload.c.
 */
#ifndef RISKLOAD_SEED_H
#define RISKLOAD_SEED_H

/* n generated envelopes, NDJSON: the --gen workload (same seed). */
int seed_print_events(int n);
/* HSETs of the features of the first n cards and n users
 * (riskd:f:{group}:{key}, JSON values), as RESP. */
int seed_print_features(int n);
/* A full window (60 buckets) of history for every count/sum velocity of
 * the generated rule set on card.id or user.id, for the first n cards
 * and users, each key with its expiry, as RESP. */
int seed_print_velocity(int n);

#endif
