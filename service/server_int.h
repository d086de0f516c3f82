/*
 * server_int.h - private to the three files of the HTTP front: server.c
 * (libmicrohttpd, the request's life cycle), routes.c (the route table)
 * and observe.c (metrics, request logs, decision log, request ids,
 * deadlines, API-key checks). Handlers use server.h only.
 */
#ifndef SVC_SERVER_INT_H
#define SVC_SERVER_INT_H

#include "server.h"

/* ---- routes.c ---- */

struct svc_route {
	const char *path;     /* exact, or prefix when ending in '/' */
	const char *method;   /* "GET" (HEAD too) or "POST" */
	svc_handler handler;
	bool body;            /* JSON body expected */
	const char *label;    /* metric label of a prefix route */
	int segs;             /* path segments after a prefix (1 or 2) */
};

/*
 * The route of method on url; sets r->route (metric label) and r->arg
 * (the {name} of a prefix route). NULL after replying 404 not_found or
 * 405 method_not_allowed (with r->allow).
 */
const struct svc_route *svc_route_find(const char *url, const char *method,
				       svc_req *r);

/* ---- observe.c ---- */

/*
 * Makes s->metrics and s->obs (the server's metric families) and the
 * prefix of generated request ids. RK_ENOMEM with err.
 */
int svc_obs_init(svc_server *s, char *err, size_t errlen);
/* Adds the decision log's gauges; call once s->declog exists. */
void svc_obs_gauges(svc_server *s);
/* Frees what svc_obs_init made (also after it failed). */
void svc_obs_free(svc_server *s);
/* Completion of r: request and latency metrics, the request log line.
 * ok is false when the connection ended before the reply was sent. */
void svc_req_done(svc_req *r, bool ok);
/*
 * The API-key check of a /v1/ call given its Authorization header (may
 * be NULL): 0, or nonzero after replying 401 or 429. Sets r->is_admin
 * and r->key_name.
 */
int svc_req_auth(svc_req *r, const char *authorization);
/* r->request_id: the X-Request-Id header (may be NULL) when valid, else
 * a generated one. */
void svc_req_init_id(svc_req *r, const char *header_id);

/* ---- inline.c ---- */

/* The per-thread key when RISKD_INLINE is on. RK_ENOMEM. */
int svc_inline_init(svc_server *s);
/* After the daemon stopped (its threads freed their state). */
void svc_inline_fini(svc_server *s);
/* true when r was answered on this thread (served or shed); false when
 * it should be queued (r->deferred set if work asked for a worker). */
bool svc_inline_run(svc_req *r, svc_work work);

#endif
