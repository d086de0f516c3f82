/*
 * server.h - riskd's HTTP front (libmicrohttpd) and the request object
 * the handlers work on. server.c reads the body in chunks under the size
 * limit, routes, authenticates, and either answers at once (GET
 * endpoints, errors, single scores that need no Redis round trip:
 * inline.c) or suspends the connection and queues the request on the
 * worker pool (pool.h); the worker replies and resumes it. listener.c
 * accepts the connections. Exactly one response per accepted request. Handlers: handlers_score.c
 * (score, batch, simulate), handlers_admin.c (scenarios, reload, probes).
 */
#ifndef SVC_SERVER_H
#define SVC_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../common/arena.h"
#include "config.h"
#include "engine.h"
#include "pool.h"

struct cJSON;
struct jw;
struct MHD_Daemon;
struct MHD_Connection;

#define SVC_REQUEST_ID_MAX 128

typedef struct svc_server svc_server;
typedef struct svc_req svc_req;
typedef struct svc_worker svc_worker;

/* Runs on the HTTP thread once the whole body is in. */
typedef void (*svc_handler)(svc_req *r);
/* Runs on a worker (after svc_req_submit), or on the HTTP thread (after
 * svc_req_run, r->on_http_thread set). */
typedef void (*svc_work)(svc_req *r, svc_worker *w, int64_t queued_us);
/* Runs n queued requests at once on a worker (svc_req_run's batch form:
 * pool.h run_many); each must be replied to. */
typedef void (*svc_work_many)(svc_req **rs, int n, svc_worker *w,
			      const int64_t *queued_us);

struct svc_server {
	const svc_config *cfg;
	svc_engine *engine;
	svc_pool *pool;
	struct svc_auth *auth;        /* auth.h; NULL = no checks */
	struct declog *declog;        /* declog.h (disabled when no path) */
	struct metrics_registry *metrics;  /* metrics.h, rendered by /metrics */
	struct svc_obs *obs;          /* observe.c's metric families */
	struct svc_data *data;        /* data.h: L1, Redis, velocity */
	struct svc_loop **loops;      /* loop.h: the HTTP threads */
	int nloops;
	struct svc_listener *listener; /* listener.h: accepts for loops */
	int port;                     /* bound port (for RISKD_LISTEN :0) */
	atomic_bool draining;
	atomic_int inflight;          /* accepted requests not yet finished */
	atomic_ulong conns_started;   /* connections the daemons started */
	atomic_ulong conns_refused;   /* handed to a loop, not taken */
	atomic_long conns_open;       /* started, not yet closed */
	int64_t started_at;           /* unix seconds */
	char id_prefix[17];           /* generated request ids */
	atomic_uint_fast64_t id_seq;
	/* run to completion on HTTP threads (inline.c) */
	bool inline_on;               /* RISKD_INLINE and the key exists */
	pthread_key_t inline_key;     /* the thread's struct svc_inline */
	atomic_uint_fast64_t inline_answered, inline_deferred;
	atomic_uint_fast64_t inline_fetching;  /* went to Redis on the loop */
	atomic_int_fast64_t inline_wait_us;  /* last kernel-wait sample */
};

enum svc_req_state { SVC_REQ_READING, SVC_REQ_QUEUED, SVC_REQ_REPLIED };

struct svc_req {
	svc_job job;                  /* queued on the pool */
	svc_server *srv;
	struct MHD_Connection *conn;
	struct svc_loop *loop;        /* the HTTP thread it arrived on */
	enum svc_req_state state;
	const char *route;            /* metric label, e.g. "/v1/score" */
	svc_handler handler;
	svc_work work;
	svc_work_many work_many;      /* NULL: queued requests run alone */
	char method[8];
	char arg[128];                /* {name} of /v1/scenarios/{name} */
	char request_id[SVC_REQUEST_ID_MAX + 1];
	bool explain;                 /* ?explain=true */
	bool loopback;                /* client on 127.0.0.0/8 or ::1 */
	bool is_admin;                /* authenticated with role admin */
	char key_name[64];            /* API key name (logs), "" if none */
	int64_t start_us;             /* request headers received */
	int64_t header_deadline_ms;   /* X-Deadline-Ms, 0 = none */
	int64_t deadline_us;          /* absolute, set by svc_req_deadline */
	char *body;                   /* request body, NUL-terminated */
	size_t len, cap;
	bool too_large;
	bool oom;                     /* the body could not be stored */
	bool route_body;              /* the route expects a JSON body */
	bool suspended;               /* HTTP thread: handed to another */
	bool on_http_thread;          /* work running inline (inline.c) */
	bool deferred;                /* inline work asked for a worker */
	bool fetching;                /* inline work waits for Redis */
	struct cJSON *json;           /* parsed body (body endpoints), in
				       * mem: read-only, never deleted */
	arena mem;                    /* request-scoped memory, freed once */

	/* the reply */
	int status;
	char *resp;                   /* rk_malloc'd */
	size_t resp_len;
	const char *ctype;
	const char *allow;            /* Allow header of a 405 */
	int retry_after;              /* seconds, 0 = no header */
	const char *err_code;         /* for logs and metrics */
};

/*
 * Builds the daemon on c->listen. Takes no ownership of engine;
 * svc_server_free does not free it. NULL with a message in err.
 */
svc_server *svc_server_new(const svc_config *c, svc_engine *engine,
			   char *err, size_t errlen);
/* Binds and starts serving. RK_EIO with err when the address is busy. */
int svc_server_start(svc_server *s, char *err, size_t errlen);
/*
 * Drain: /readyz turns 503, new requests get 503, then waits (up to
 * c->drain_ms) for accepted requests to finish. Returns the number
 * still in flight when it gave up (0 = clean).
 */
int svc_server_drain(svc_server *s);
/* Stops the daemon and the workers and frees. NULL is a no-op. */
void svc_server_free(svc_server *s);

/* ---- for handlers ---- */

/* Replies with JSON (takes ownership of body). */
void svc_reply_json(svc_req *r, int status, struct cJSON *body);
/* Replies with the JSON written into body (finishes and resets it). */
void svc_reply_jw(svc_req *r, int status, struct jw *body);
/* Replies with text (takes ownership of text, an rk_malloc block). */
void svc_reply_text(svc_req *r, int status, const char *ctype, char *text,
		    size_t len);
/* {"error": {"code", "message"}} with the SPEC §6 status. */
void svc_reply_error(svc_req *r, int status, const char *code,
		     const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/*
 * Queues r for a worker, which calls work. On refusal (queue full, delay
 * over target, draining) answers 503 overloaded with Retry-After itself.
 * Call only from a handler on the HTTP thread.
 */
void svc_req_submit(svc_req *r, svc_work work);
/*
 * Runs work to completion on this HTTP thread when it can (inline.c:
 * RISKD_INLINE on, nothing queued, the thread not overloaded), else as
 * svc_req_submit. Work that finds it would block (waiting for a key
 * another request is fetching) calls svc_req_defer and returns at once; r then goes to the queue,
 * where a worker runs it with many (when not NULL: together with other
 * such requests queued behind it) or work. Handler thread only.
 */
void svc_req_run(svc_req *r, svc_work work, svc_work_many many);
/* In work: true (and r marked for a worker) when r runs on its HTTP
 * thread, where work must not block; return without replying then.
 * False on a worker. */
bool svc_req_defer(svc_req *r);
/*
 * Suspends r until svc_req_resume (for replies produced by other
 * threads, e.g. the reload thread). Handler thread only.
 */
void svc_req_suspend(svc_req *r);
/* Resumes a suspended or queued request after its reply was set. The
 * caller must not touch r afterwards. */
void svc_req_resume(svc_req *r);

/*
 * Sets r->deadline_us from the body's deadline_ms (may be NULL), the
 * X-Deadline-Ms header and the defaults: the smaller wins, capped by
 * RISKD_MAX_DEADLINE_MS. RK_EINVAL (and a 400 reply) if invalid.
 */
int svc_req_deadline(svc_req *r, const struct cJSON *deadline_ms);
bool svc_req_expired(const svc_req *r);

/* Request-id helpers: the body's "request_id" replaces the header's. */
int svc_req_set_id(svc_req *r, const struct cJSON *id);

/* ---- observability and policy for handlers (observe.c) ---- */

/* A request refused to protect latency (reason: "queue_full", ...). */
void svc_note_shed(svc_req *r, const char *reason);
/* A request that ran out of its deadline (where: "while queued", ...). */
void svc_note_deadline(svc_req *r, const char *where);
/* A decision made for scenario sc (metrics). */
void svc_note_decision(svc_scn *sc, const rules_result *res);
/*
 * Appends the decision to the decision log (if configured). 0, or
 * RK_ELIMIT when the log cannot keep up: the caller sheds the request.
 */
int svc_record_decision(svc_server *s, svc_scn *sc, const rules_result *res,
			const char *request_id, const struct cJSON *event,
			bool degraded);
/* Replies 403 forbidden (returns nonzero) unless r may use admin
 * endpoints: role admin, or no keys stored and a loopback client. */
int svc_req_require_admin(svc_req *r);

/* ---- handlers (handlers_score.c, handlers_admin.c, handlers_data.c) ---- */

void svc_h_score(svc_req *r);
void svc_h_batch(svc_req *r);
void svc_h_simulate(svc_req *r);
void svc_h_scenarios(svc_req *r);
void svc_h_scenario(svc_req *r);
void svc_h_reload(svc_req *r);
void svc_h_livez(svc_req *r);
void svc_h_readyz(svc_req *r);
void svc_h_metrics(svc_req *r);
void svc_h_features_get(svc_req *r);
void svc_h_features_put(svc_req *r);
void svc_h_regions(svc_req *r);

/* Per-worker state (handlers_score.c): frames per scenario, a store
 * handle for simulate. */
void *svc_worker_new(void *srv, int index);
void svc_worker_free(void *w);

#endif
