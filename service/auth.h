/*
 * auth.h - API keys (SPEC §6 "Auth"): an immutable, reference-counted
 * key table built from the store on each reload (svc_keys), and the
 * per-key token buckets that outlive reloads (svc_auth). Keys are found
 * by the SHA-256 of the presented bearer token and confirmed in constant
 * time. Neighbours: auth.c, engine.c (loads the table; engine_redis.c
 * from Redis), observe.c (svc_req_auth).
 */
#ifndef SVC_AUTH_H
#define SVC_AUTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../store/store.h"

typedef struct svc_key {
	int64_t id;
	char name[64];              /* "" when the key has none */
	bool admin;                 /* role admin */
	bool revoked;
	unsigned char hash[32];     /* SHA-256 of the key */
} svc_key;

typedef struct svc_keys svc_keys;
typedef struct svc_auth svc_auth;

enum svc_auth_status {
	SVC_AUTH_OK,
	SVC_AUTH_MISSING,           /* no Authorization header */
	SVC_AUTH_MALFORMED,         /* not "Bearer <key>" */
	SVC_AUTH_UNKNOWN,           /* no such key */
	SVC_AUTH_REVOKED,           /* the key was revoked */
};

/* A table of n keys (revoked ones kept, to answer "revoked"). NULL with
 * a message in err on a bad hash or out of memory. One reference. */
svc_keys *svc_keys_new(const store_key *keys, int n, char *err,
		       size_t errlen);
/* The table from store_key_list(st). */
svc_keys *svc_keys_load(store *st, char *err, size_t errlen);
svc_keys *svc_keys_ref(svc_keys *k);
/* Drops a reference; frees on the last. NULL is a no-op. */
void svc_keys_release(svc_keys *k);
/* Keys not revoked; 0 for NULL. */
int svc_keys_active(const svc_keys *k);
/* Same keys (ids, names, roles, revocation, hashes). */
bool svc_keys_equal(const svc_keys *a, const svc_keys *b);
/*
 * Checks an Authorization header value (may be NULL); *key gets the
 * matched key (also when revoked), valid while k is held.
 */
enum svc_auth_status svc_keys_check(const svc_keys *k, const char *header,
				    const svc_key **key);
const char *svc_auth_status_msg(enum svc_auth_status st);

/* Token buckets: rate per second per key (0 = unlimited), burst
 * (0 = rate). */
svc_auth *svc_auth_new(int64_t rate, int64_t burst, char *err,
		       size_t errlen);
void svc_auth_free(svc_auth *a);
/*
 * Takes one token from key_id's bucket at now_us (monotonic). 0, or
 * RK_ELIMIT with *retry_after_s (>= 1) when empty, RK_ENOMEM.
 */
int svc_auth_take(svc_auth *a, int64_t key_id, int64_t now_us,
		  int *retry_after_s);

#endif
