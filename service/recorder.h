/*
 * recorder.h - velocity recording off the request path (Redis back end).
 * After a decision the worker hands the event to the recorder and
 * answers; one writer thread sends the recordings of every event queued
 * meanwhile in one pipelined round trip to the active region. A request
 * thus costs one Redis round trip (the reads), and recordings batch
 * under load. Without Redis, velocity is recorded in process instead
 * (data.c). Neighbours: data.c (owner), cache/velocity.h (encoding).
 */
#ifndef SVC_RECORDER_H
#define SVC_RECORDER_H

#include <stddef.h>
#include <stdint.h>

#include "../rules/rules.h"

struct cJSON;
struct rg_t;

typedef struct svc_recorder svc_recorder;

typedef struct svc_recorder_stats {
	uint64_t recorded;   /* events whose recordings Redis took */
	uint64_t failed;     /* events lost to a Redis failure */
	uint64_t dropped;    /* events refused: the queue was full */
	uint64_t batches;    /* round trips */
	uint64_t queued;     /* waiting now */
} svc_recorder_stats;

/* A recorder writing to rg's active region, holding at most cap queued
 * events. NULL on allocation or thread failure. */
svc_recorder *svc_recorder_new(struct rg_t *rg, size_t cap);
/* Sends what is queued (bounded by 1 s), stops the thread, frees.
 * NULL is a no-op. */
void svc_recorder_free(svc_recorder *r);
/*
 * Queues event (copied) for recording in every velocity definition of
 * set (a reference is taken) at now_ms. Never blocks: a full queue
 * drops the event and counts it. 0, RK_ELIMIT (full), RK_ENOMEM.
 */
int svc_recorder_push(svc_recorder *r, rules_set *set,
		      const struct cJSON *event, int64_t now_ms);
/* Waits until everything queued before the call is sent (tests). */
void svc_recorder_flush(svc_recorder *r);
void svc_recorder_get_stats(svc_recorder *r, svc_recorder_stats *st);

#endif
